// Pure cpio "newc" writer: the initramfs format the kernel unpacks (no compression needed).

/** One archive member. Directories must come before what they contain. */
export type CpioEntry =
  | { type: "dir"; path: string; mode?: number }
  | { type: "file"; path: string; mode?: number; data: Buffer }
  | { type: "symlink"; path: string; target: string }
  | { type: "chardev"; path: string; mode?: number; major: number; minor: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio field out of range: ${n}`);
  return n.toString(16).padStart(8, "0");
}

function pad4(len: number): Buffer {
  return Buffer.alloc((4 - (len % 4)) % 4);
}

function header(f: { ino: number; mode: number; nlink: number; size: number; nameSize: number; rmajor?: number; rminor?: number }): string {
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
  const mtime = 0; // fixed so that equal inputs give byte-identical archives
  return [
    "070701",
    hex8(f.ino),
    hex8(f.mode),
    hex8(0),
    hex8(0),
    hex8(f.nlink),
    hex8(mtime),
    hex8(f.size),
    hex8(0),
    hex8(0),
    hex8(f.rmajor ?? 0),
    hex8(f.rminor ?? 0),
    hex8(f.nameSize),
    hex8(0),
  ].join("");
}

function normalise(p: string): string {
  const parts = p.split("/").filter((x) => x !== "" && x !== ".");
  if (parts.some((x) => x === "..")) throw new Error(`cpio path must not contain '..': ${p}`);
  if (parts.length === 0) throw new Error(`cpio path is empty: ${JSON.stringify(p)}`);
  return parts.join("/");
}

function member(ino: number, name: string, mode: number, data: Buffer, rdev?: { major: number; minor: number }, nlink = 1): Buffer[] {
  const nameBuf = Buffer.from(`${name}\0`, "utf8");
  const head = Buffer.from(header({ ino, mode, nlink, size: data.length, nameSize: nameBuf.length, rmajor: rdev?.major, rminor: rdev?.minor }), "ascii");
  const out = [head, nameBuf, pad4(head.length + nameBuf.length)];
  if (data.length) out.push(data, pad4(data.length));
  return out;
}

/** Serialises entries as a newc archive ending with the TRAILER!!! member. Returns the chunks. */
export function writeCpio(entries: readonly CpioEntry[]): Buffer[] {
  const out: Buffer[] = [];
  const seen = new Set<string>();
  let ino = 1;
  for (const e of entries) {
    const name = normalise(e.path);
    if (seen.has(name)) throw new Error(`duplicate cpio path: ${name}`);
    seen.add(name);
    switch (e.type) {
      case "dir":
        out.push(...member(ino++, name, S_IFDIR | (e.mode ?? 0o755), Buffer.alloc(0), undefined, 2));
        break;
      case "file":
        out.push(...member(ino++, name, S_IFREG | (e.mode ?? 0o644), e.data));
        break;
      case "symlink":
        out.push(...member(ino++, name, S_IFLNK | 0o777, Buffer.from(e.target, "utf8")));
        break;
      case "chardev":
        out.push(...member(ino++, name, S_IFCHR | (e.mode ?? 0o600), Buffer.alloc(0), { major: e.major, minor: e.minor }));
        break;
    }
  }
  out.push(...member(0, "TRAILER!!!", 0, Buffer.alloc(0), undefined, 1));
  return out;
}

/** Adds the parent directories an entry list needs, in order, without duplicates. */
export function withParentDirs(entries: readonly CpioEntry[]): CpioEntry[] {
  const dirs = new Set<string>();
  const out: CpioEntry[] = [];
  for (const e of entries) {
    const parts = normalise(e.path).split("/");
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join("/");
      if (!dirs.has(d)) {
        dirs.add(d);
        out.push({ type: "dir", path: d });
      }
    }
    if (e.type === "dir") {
      const d = normalise(e.path);
      if (dirs.has(d)) continue;
      dirs.add(d);
    }
    out.push(e);
  }
  return out;
}
