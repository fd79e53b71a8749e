// Pure: is a file a static x86-64 ELF executable the guest can run without a dynamic loader?

/** What an ELF file is, read from its headers: scripts and dynamic binaries cannot run in our shell-less, libc-less guest. */
export function elfKind(head: Buffer): "static" | "dynamic" | "not-elf" {
  if (head.length < 64 || head.toString("latin1", 0, 4) !== "\x7fELF" || head[4] !== 2) return "not-elf";
  const phoff = Number(head.readBigUInt64LE(32));
  const phentsize = head.readUInt16LE(54);
  const phnum = head.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const off = phoff + i * phentsize;
    if (off + 4 > head.length) break;
    if (head.readUInt32LE(off) === 3 /* PT_INTERP */) return "dynamic";
  }
  return "static";
}

export type ElfVerdict = { ok: true } | { ok: false; problem: string; fix: string };

/** Checks an ELF header and program headers (pass at least the first 64 KiB of the file). */
export function checkStaticX86Elf(head: Buffer): ElfVerdict {
  if (head.length < 64 || head.toString("latin1", 0, 4) !== "\x7fELF") {
    if (head.toString("latin1", 0, 2) === "#!") return { ok: false, problem: "a script, not a compiled program (the guest has no shell or interpreter)", fix: "compile a static binary (gcc -static ...)" };
    return { ok: false, problem: "not an ELF executable", fix: "compile a static x86-64 binary (gcc -static ...)" };
  }
  if (head[4] !== 2 || head[5] !== 1) return { ok: false, problem: "not a 64-bit little-endian ELF", fix: "compile for x86-64 (gcc -static, no -m32)" };
  const machine = head.readUInt16LE(18);
  if (machine !== 0x3e) return { ok: false, problem: `built for ELF machine ${machine}, not x86-64`, fix: "compile for x86-64" };
  const type = head.readUInt16LE(16);
  if (type !== 2 && type !== 3) return { ok: false, problem: "not an executable (ELF type is not EXEC or DYN)", fix: "link an executable, not an object file" };
  if (elfKind(head) === "dynamic") {
    return { ok: false, problem: "dynamically linked (it needs a loader and shared libraries the guest does not have)", fix: "link it statically: gcc -static ..." };
  }
  return { ok: true };
}
