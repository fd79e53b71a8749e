// Pure: turn the patch inputs (an mbox as `b4 am` writes it, a *.patch directory's files, a quilt
// series) into an ordered list of patches, and pick the subject and the failing hunk out of them.

/** One patch to apply, in series order. */
export interface Patch {
  /** The file it came from (with `#N` for the Nth message of an mbox). */
  source: string;
  /** The subject without the `[PATCH v2 1/3]` prefix; the file name when the patch has no mail headers. */
  subject: string;
  /** The text fed to `git am`: always a mail (a bare diff gets minimal headers). */
  text: string;
}

/** The `From <sha> <date>` line that starts each message of an mbox (git format-patch, b4 am). */
const MBOX_FROM = /^From \S+ +(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} +\d+ [\d:]+ \d{4}\s*$/;

/** Splits an mbox into its messages; a file without `From ` separators is one message. */
export function splitMbox(text: string): string[] {
  const lines = text.split("\n");
  const starts: number[] = [];
  lines.forEach((l, i) => {
    if (MBOX_FROM.test(l)) starts.push(i);
  });
  if (starts.length <= 1) return [text];
  const out: string[] = [];
  starts.forEach((s, k) => {
    const end = starts[k + 1] ?? lines.length;
    out.push(lines.slice(s, end).join("\n").replace(/\n*$/, "\n"));
  });
  // Text before the first separator (a cover note pasted above) is not a patch.
  return out;
}

/** The mail subject (folded header lines joined), without [PATCH ...] tags. */
export function patchSubject(text: string): string | undefined {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] ?? "";
    if (l === "") break; // end of headers
    const m = /^Subject:\s*(.*)$/i.exec(l);
    if (!m) continue;
    let s = m[1] ?? "";
    for (let j = i + 1; j < lines.length && /^[ \t]/.test(lines[j] ?? ""); j++) s += " " + (lines[j] ?? "").trim();
    return s.replace(/^(\s*\[[^\]]*\]\s*)+/, "").trim();
  }
  return undefined;
}

/** True when the text has mail headers `git am` can use (From: and Subject:). */
export function hasMailHeaders(text: string): boolean {
  const head = text.split("\n\n", 1)[0] ?? "";
  return /^From: /m.test(head) && /^Subject: /m.test(head);
}

/** A bare diff (quilt patches often are) becomes a mail so `git am` accepts it; the file name is the subject. */
export function asMail(text: string, name: string): string {
  if (hasMailHeaders(text)) return text;
  return `From: kharness <kharness@localhost>\nSubject: ${name}\n\n${text}`;
}

/** Patch file names listed by a quilt `series` file, in order (comments, blank lines and -pN options dropped). */
export function parseQuiltSeries(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/(^|\s)#.*$/, "").trim();
    if (!line) continue;
    const name = line.split(/\s+/)[0];
    if (name) out.push(name);
  }
  return out;
}

/** Makes the Patch records for one file's messages. */
export function patchesFromFile(source: string, text: string): Patch[] {
  const messages = splitMbox(text);
  const baseName = source.split("/").pop() ?? source;
  return messages.map((m, i) => {
    const src = messages.length > 1 ? `${source}#${i + 1}` : source;
    return { source: src, subject: patchSubject(m) ?? baseName, text: asMail(m, baseName) };
  });
}

/** What `git apply --check -v` says about the first hunk that does not apply. */
export interface FailedHunk {
  file: string;
  line: number;
  /** The hunk header and its first lines as they appear in the patch. */
  hunk: string[];
}

/** Reads `error: patch failed: FILE:LINE` from git apply/am output and finds that hunk in the patch text. */
export function findFailedHunk(gitOutput: string[], patchText: string): FailedHunk | undefined {
  let file: string | undefined;
  let line = 0;
  for (const l of gitOutput) {
    const m = /error: patch failed: (.+):(\d+)\s*$/.exec(l);
    if (m?.[1]) {
      file = m[1];
      line = Number(m[2]);
      break;
    }
  }
  if (!file) {
    // New file that already exists, or a file the patch modifies that is missing.
    for (const l of gitOutput) {
      const m = /error: (.+?): (already exists in working directory|No such file or directory|does not exist in index)/.exec(l);
      if (m?.[1]) return { file: m[1], line: 0, hunk: [l.replace(/^error: /, "")] };
    }
    return undefined;
  }
  const lines = patchText.split("\n");
  let inFile = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] ?? "";
    if (l.startsWith("diff --git ")) inFile = l.endsWith(` b/${file}`) || l.includes(` a/${file} `);
    const h = /^@@ -(\d+)(?:,\d+)? /.exec(l);
    if (inFile && h && Number(h[1]) === line) {
      const hunk = [l];
      for (let j = i + 1; j < lines.length && hunk.length < 12; j++) {
        const k = lines[j] ?? "";
        // The next hunk, the next file, or the mail signature (`-- ` then the git version) ends it.
        if (k.startsWith("@@") || k.startsWith("diff --git ") || k === "-- " || k === "--") break;
        hunk.push(k);
      }
      while (hunk.length > 1 && hunk[hunk.length - 1] === "") hunk.pop();
      return { file, line, hunk };
    }
  }
  return { file, line, hunk: [] };
}
