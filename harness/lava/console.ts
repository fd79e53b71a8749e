// Pure: is an input a LAVA dispatcher's log, and if so its console stream. Small and free of the YAML parser, so
// `kharness parse` of a plain console pays nothing for LAVA; the decoder (log.ts) is loaded only for a real log.

import type { LavaLogStats } from "./log.js";

/** Whether a line is one of the dispatcher's records (`{"dt": ..., "lvl": ...}` or the YAML list form `- {dt: ...}`). */
export function isLavaRecordLine(line: string): boolean {
  return /^(?:- )?\{\s*"?(?:dt|lvl)"?\s*:/.test(line);
}

/** How many bytes of the input decide whether it is a dispatcher log. */
const SNIFF_BYTES = 64 * 1024;

/**
 * The console stream of an input that may be a dispatcher's log: when its first line is a dispatcher record the
 * log is decoded (stats, when given, are filled in as it goes), otherwise the bytes pass through unchanged (a
 * plain console log or TAP file).
 */
export async function* consoleOfLavaLog(
  chunks: AsyncIterable<string | Uint8Array>,
  onStats?: (stats: LavaLogStats) => void,
): AsyncIterable<string | Uint8Array> {
  const head: (string | Uint8Array)[] = [];
  let headText = "";
  const it = chunks[Symbol.asyncIterator]();
  let done = false;
  while (!headText.includes("\n") && headText.length < SNIFF_BYTES) {
    const n = await it.next();
    if (n.done) {
      done = true;
      break;
    }
    head.push(n.value);
    headText += typeof n.value === "string" ? n.value : Buffer.from(n.value).toString("latin1");
  }
  const first = headText.split("\n").find((l) => l.trim() !== "") ?? "";
  if (!isLavaRecordLine(first)) {
    yield* head;
    if (!done) for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
    return;
  }
  // Only now the decoder (and the YAML parser it needs): a plain console never loads them.
  const { createLavaLogDecoder } = await import("./log.js");
  const d = createLavaLogDecoder();
  for (const c of head) yield d.push(c);
  if (!done) for (let n = await it.next(); !n.done; n = await it.next()) yield d.push(n.value);
  yield d.finish();
  onStats?.(d.stats);
}
