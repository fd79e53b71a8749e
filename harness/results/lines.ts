// Console bytes -> clean lines: streaming UTF-8 decode, \r handling, ANSI and printk-prefix stripping.

/** Longest line kept; the rest of an over-long line is dropped so one runaway line cannot exhaust memory. */
export const MAX_LINE_CHARS = 64 * 1024;

/** Receives each complete line (`complete` false only for the unterminated last line at end()). */
export type LineSink = (line: string, complete: boolean) => void;

/** A streaming splitter: chunks may split lines, `\r\n` pairs and multibyte characters. */
export interface LineSplitter {
  push(chunk: string | Uint8Array): void;
  /** Flushes the decoder and delivers the unterminated last line, if any, with complete=false. */
  end(): void;
}

/** A streaming UTF-8 decoder: a multibyte character split across chunks is held back until it is whole. */
interface Utf8Decoder {
  write(chunk: Uint8Array): string;
  end(): string;
}

// Buffer#toString is the fastest decoder Node has (TextDecoder and StringDecoder are several times slower on
// console-sized input); invalid bytes become U+FFFD. Only an incomplete trailing sequence needs carrying.
function createUtf8Decoder(): Utf8Decoder {
  let held: Buffer | undefined;
  return {
    write(chunk) {
      let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      if (held) {
        buf = Buffer.concat([held, buf]);
        held = undefined;
      }
      let end = buf.length;
      let i = end - 1;
      while (i >= 0 && end - i <= 3 && (buf[i]! & 0xc0) === 0x80) i--;
      if (i >= 0) {
        const lead = buf[i]!;
        const need = lead >= 0xf0 && lead < 0xf8 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
        if (need > 1 && end - i < need) {
          held = Buffer.from(buf.subarray(i));
          end = i;
        }
      }
      return buf.toString("utf8", 0, end);
    },
    end() {
      const rest = held ? held.toString("utf8") : "";
      held = undefined;
      return rest;
    },
  };
}

/**
 * Creates a splitter that breaks on `\n`, `\r\n`, `\r\r\n` and a lone `\r`, decodes bytes as UTF-8
 * (invalid bytes become U+FFFD) and removes NUL characters.
 */
export function createLineSplitter(sink: LineSink): LineSplitter {
  const decoder = createUtf8Decoder();
  let carry = "";
  // True while the rest of an over-long line is being discarded.
  let dropping = false;

  function feed(text: string, final: boolean): void {
    // The line carried from the last chunk is finished here on its own: `carry + text` would be flattened into a
    // copy of the whole chunk by the first search below (the decoded input copied twice). Only when the chunk needs
    // no rewriting (no \r, no NUL) and the carry is not a held \r; otherwise the joined string below does it all.
    if (carry.length > 0 && carry.charCodeAt(carry.length - 1) !== 13 && text.indexOf("\r") === -1 && text.indexOf("\0") === -1) {
      const nl = text.indexOf("\n");
      if (nl !== -1) {
        const line = carry + text.slice(0, nl);
        carry = "";
        // A carry is never kept while dropping (the dropped rest leaves it empty), so this line is delivered.
        sink(line.length > MAX_LINE_CHARS ? line.slice(0, MAX_LINE_CHARS) : line, true);
        text = text.slice(nl + 1);
      }
    }
    let s = carry + text;
    carry = "";
    // A trailing \r may be the first half of \r\n: wait for the next chunk before deciding.
    if (!final) {
      let cut = s.length;
      while (cut > 0 && s.charCodeAt(cut - 1) === 13) cut--;
      if (cut < s.length) {
        carry = s.slice(cut);
        s = s.slice(0, cut);
      }
    }
    if (s.indexOf("\0") !== -1) s = s.replace(/\0/g, "");
    if (s.indexOf("\r") !== -1) s = s.replace(/\r*\n|\r+/g, "\n");
    let start = 0;
    for (;;) {
      const nl = s.indexOf("\n", start);
      if (nl === -1) break;
      const line = s.slice(start, nl);
      start = nl + 1;
      if (dropping) {
        dropping = false;
        continue;
      }
      sink(line.length > MAX_LINE_CHARS ? line.slice(0, MAX_LINE_CHARS) : line, true);
    }
    let rest = s.slice(start);
    if (dropping) rest = "";
    else if (rest.length > MAX_LINE_CHARS) {
      // Deliver the head as a line now and ignore the remainder up to the next newline.
      sink(rest.slice(0, MAX_LINE_CHARS), true);
      rest = "";
      dropping = true;
    }
    carry = rest + carry;
  }

  return {
    push(chunk) {
      feed(typeof chunk === "string" ? chunk : decoder.write(chunk), false);
    },
    end() {
      feed(decoder.end(), true);
      if (carry.length > 0 && !dropping) sink(carry, false);
      carry = "";
      dropping = false;
    },
  };
}

/**
 * The string as one of its own. A piece cut from a decoded chunk is, in V8, a view that keeps the whole chunk
 * (64 KiB) alive: what the parser keeps (log lines, names, reasons) must not hold its chunk, or a long run's memory
 * grows with its input. Concatenation then slicing makes V8 flatten into a fresh string of the piece's size; strings
 * under 13 characters are always copies.
 */
export function ownCopy(piece: string): string {
  return piece.length < 13 ? piece : ` ${piece}`.slice(1);
}

const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;
/** Removes ANSI escape sequences (colours, cursor moves, OSC titles). */
export function stripAnsi(line: string): string {
  return line.indexOf("\x1b") === -1 ? line : line.replace(ANSI, "");
}

/** Length of a bracketed printk field at `at`: `[ 12.345678]` (time) or `[  T1]` / `[C0]` (caller), else 0. */
function bracketLength(line: string, at: number, caller: boolean): number {
  if (line.charCodeAt(at) !== 91 /* [ */) return 0;
  let i = at + 1;
  while (line.charCodeAt(i) === 32) i++;
  if (caller) {
    const c = line.charCodeAt(i);
    if (c !== 67 /* C */ && c !== 84 /* T */) return 0;
    i++;
  }
  const digitsAt = i;
  while (isDigit(line.charCodeAt(i))) i++;
  if (i === digitsAt) return 0;
  if (!caller) {
    if (line.charCodeAt(i) !== 46 /* . */) return 0;
    i++;
    const fracAt = i;
    while (isDigit(line.charCodeAt(i))) i++;
    if (i === fracAt) return 0;
  }
  return line.charCodeAt(i) === 93 /* ] */ ? i + 1 - at : 0;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Length of the printk prefix at the start of a line (0 if none): timestamp, optional caller id, one space. */
export function printkPrefixLength(line: string): number {
  const time = bracketLength(line, 0, false);
  if (time === 0) return 0;
  // The timestamp's width grows with uptime, and a caller id ([T1] / [C0]) may follow it.
  let end = time + bracketLength(line, time, true);
  if (line.charCodeAt(end) === 32) end++;
  return end;
}

/**
 * The kernel clock of a line's printk prefix `[  12.345678]`, in whole microseconds since the kernel started;
 * undefined when the line has no prefix. Integer microseconds keep differences exact.
 */
export function printkMicros(line: string): number | undefined {
  if (line.charCodeAt(0) !== 91 /* [ */ || bracketLength(line, 0, false) === 0) return undefined;
  const m = /^\[\s*(\d+)\.(\d+)\]/.exec(line);
  if (!m) return undefined;
  const frac = (m[2]! + "000000").slice(0, 6);
  return Number(m[1]) * 1_000_000 + Number(frac);
}

/** Removes a leading printk prefix `[    1.234567]` (optionally `[    T1]`) and one following space. */
export function stripPrintk(line: string): string {
  const n = line.charCodeAt(0) === 91 /* [ */ ? printkPrefixLength(line) : 0;
  return n === 0 ? line : line.slice(n);
}

// A printk prefix in the middle of a line: a kernel message spliced into user-space output.
const SPLICE = /\[\s*\d+\.\d{6}\](?:\[\s*[CT]\d+\])?/;

/** One console line after cleaning. */
export interface CleanLine {
  /** The text with ANSI sequences and the printk prefix removed. */
  text: string;
  /** True when the line carried a printk prefix (it came from the kernel log). */
  kernel: boolean;
  /** When a kernel message was spliced into this line: the text before it and the kernel line itself. */
  splice?: { head: string; kernelLine: string; kernelRaw: string };
}

/** Cleans one raw console line: ANSI, printk prefix, and detection of a spliced kernel message. */
export function cleanLine(raw: string): CleanLine {
  const noAnsi = stripAnsi(raw);
  const text = stripPrintk(noAnsi);
  const kernel = text.length !== noAnsi.length;
  const splice = findSplice(text);
  return splice ? { text, kernel, splice } : { text, kernel };
}

/**
 * A kernel message spliced into the middle of a (prefix-stripped) line: the text before it, the kernel line, and
 * the kernel line with its printk prefix (which carries its time).
 */
export function findSplice(text: string): { head: string; kernelLine: string; kernelRaw: string } | undefined {
  if (text.indexOf("[") === -1) return undefined;
  const m = SPLICE.exec(text);
  if (!m || m.index === 0) return undefined;
  const kernelRaw = text.slice(m.index);
  return { head: text.slice(0, m.index), kernelLine: stripPrintk(kernelRaw), kernelRaw };
}
