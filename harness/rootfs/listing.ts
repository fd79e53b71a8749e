// Pure: the base image's file listing (files.txt, written at build time by `find -printf '%y\t%P\t%l\n'`), and
// whether a path exists in it with symbolic links followed the way the guest's kernel follows them (usrmerge's
// /lib64 -> usr/lib64, the loader's own link), so a --program's interpreter is checked before anything boots.

export type Listing = Map<string, { type: string; target: string }>;

/** "f\tusr/bin/bash\t" lines -> path (no leading slash) -> type and link target. */
export function parseListing(text: string): Listing {
  const out: Listing = new Map();
  for (const line of text.split("\n")) {
    const [type, p, target] = line.split("\t");
    if (!type || !p) continue;
    out.set(p, { type, target: target ?? "" });
  }
  return out;
}

/** What an absolute path is in the listing after following links: "file", "dir", "missing" (or "loop"). */
export function lookupInListing(listing: Listing, absPath: string): "file" | "dir" | "missing" | "loop" {
  let parts = absPath.split("/").filter((s) => s && s !== ".");
  let done: string[] = [];
  for (let hops = 0; hops < 40 && parts.length; ) {
    const [head, ...rest] = parts as [string, ...string[]];
    if (head === "..") {
      done.pop();
      parts = rest;
      continue;
    }
    const cur = [...done, head].join("/");
    const e = listing.get(cur);
    if (!e) return "missing";
    if (e.type === "l") {
      hops++;
      const t = e.target;
      parts = [...t.split("/").filter((s) => s && s !== "."), ...rest];
      if (t.startsWith("/")) done = [];
      continue;
    }
    if (rest.length && e.type !== "d") return "missing";
    done = [...done, head];
    parts = rest;
    if (!rest.length) return e.type === "d" ? "dir" : "file";
  }
  return parts.length ? "loop" : "dir";
}
