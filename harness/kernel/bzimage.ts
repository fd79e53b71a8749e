// Pure: tell what a kernel image file is (x86 bzImage, another architecture, not a kernel) and read its release.

export type ImageKind =
  | { kind: "bzImage"; release?: string; is64: boolean }
  | { kind: "other-arch"; arch: string }
  | { kind: "elf-vmlinux"; machine: string }
  | { kind: "not-a-kernel" };

const ELF_MACHINES: Record<number, string> = { 0x3e: "x86_64", 0x03: "i386", 0xb7: "arm64", 0x28: "arm", 0xf3: "riscv", 0x15: "ppc64", 0x16: "s390x" };

/** Classifies a kernel image from its first bytes (at least 1 KiB; 64 KiB to read the release string). */
export function inspectKernelImage(head: Buffer): ImageKind {
  if (head.length >= 0x240 && head.toString("latin1", 0x202, 0x206) === "HdrS") {
    const xloadflags = head.readUInt16LE(0x236);
    const verOff = head.readUInt16LE(0x20e);
    let release: string | undefined;
    if (verOff !== 0 && 0x200 + verOff < head.length) {
      const start = 0x200 + verOff;
      const end = head.indexOf(0, start);
      const text = head.toString("latin1", start, end > start ? end : Math.min(start + 256, head.length));
      release = text.split(" ")[0] || undefined;
    }
    return { kind: "bzImage", release, is64: (xloadflags & 1) === 1 };
  }
  // arm64 Image: magic "ARM\x64" at 0x38; riscv Image: "RSC\x05" at 0x38.
  if (head.length >= 0x40) {
    const magic = head.toString("latin1", 0x38, 0x3c);
    if (magic === "ARM\x64") return { kind: "other-arch", arch: "arm64" };
    if (magic === "RSC\x05") return { kind: "other-arch", arch: "riscv64" };
  }
  if (head.length >= 0x30 && head.readUInt32LE(0x24) === 0x016f2818) return { kind: "other-arch", arch: "arm (zImage)" };
  if (head.length >= 20 && head.toString("latin1", 0, 4) === "\x7fELF") {
    const little = head[5] === 1;
    const machine = little ? head.readUInt16LE(18) : head.readUInt16BE(18);
    return { kind: "elf-vmlinux", machine: ELF_MACHINES[machine] ?? `ELF machine ${machine}` };
  }
  return { kind: "not-a-kernel" };
}
