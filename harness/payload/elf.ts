// Pure: is a file a static ELF executable, for the profile's machine, that the guest can run without a dynamic loader?

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

/** Checks an ELF header and program headers (pass at least the first 64 KiB of the file) against the guest's ELF machine. */
export function checkStaticElf(head: Buffer, machine: { value: number; name: string }): ElfVerdict {
  if (head.length < 64 || head.toString("latin1", 0, 4) !== "\x7fELF") {
    if (head.toString("latin1", 0, 2) === "#!")
      return {
        ok: false,
        problem: "a script, not a compiled program (the guest has no shell or interpreter)",
        fix: "compile a static binary (gcc -static ...)",
      };
    return { ok: false, problem: "not an ELF executable", fix: `compile a static ${machine.name} binary (gcc -static ...)` };
  }
  if (head[4] !== 2 || head[5] !== 1)
    return { ok: false, problem: "not a 64-bit little-endian ELF", fix: `compile for ${machine.name} (gcc -static, no -m32)` };
  const found = head.readUInt16LE(18);
  if (found !== machine.value) return { ok: false, problem: `built for ELF machine ${found}, not ${machine.name}`, fix: `compile for ${machine.name}` };
  const type = head.readUInt16LE(16);
  if (type !== 2 && type !== 3) return { ok: false, problem: "not an executable (ELF type is not EXEC or DYN)", fix: "link an executable, not an object file" };
  if (elfKind(head) === "dynamic") {
    return {
      ok: false,
      problem: "dynamically linked (it needs a loader and shared libraries the guest does not have)",
      fix: "link it statically: gcc -static ...",
    };
  }
  return { ok: true };
}

/**
 * The program interpreter a file needs (--program with --rootfs): a dynamic ELF's PT_INTERP path, a script's `#!`
 * path; undefined for a static ELF or anything else. Reads only the head (the first 64 KiB).
 */
export function programInterpreter(head: Buffer): string | undefined {
  if (head.toString("latin1", 0, 2) === "#!") {
    const line = head.toString("latin1", 2, Math.min(head.length, 258)).split("\n")[0] ?? "";
    return line.trim().split(/\s+/)[0] || undefined;
  }
  if (elfKind(head) !== "dynamic") return undefined;
  const phoff = Number(head.readBigUInt64LE(32));
  const phentsize = head.readUInt16LE(54);
  const phnum = head.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const off = phoff + i * phentsize;
    if (off + 40 > head.length || head.readUInt32LE(off) !== 3) continue;
    const at = Number(head.readBigUInt64LE(off + 8));
    const size = Number(head.readBigUInt64LE(off + 32));
    if (at + size > head.length) return undefined;
    return head.toString("latin1", at, at + size).replace(/\0.*$/s, "") || undefined;
  }
  return undefined;
}
