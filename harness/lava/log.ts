// Pure: a LAVA dispatcher's log (lava-run's stderr, one YAML record per line) back into the guest's console
// byte stream, which the results stage parses as it parses a local run's console.log.

import { StringDecoder } from "node:string_decoder";
import { parse as parseYaml } from "yaml";

/** One record of the dispatcher's log: `{dt, lvl, msg, ns?}`. */
interface LavaRecord {
  lvl?: unknown;
  msg?: unknown;
}

/** A result the dispatcher's monitor reported (informational: the verdicts come from parsing the console). */
export interface LavaMonitorResult {
  definition: string;
  case: string;
  result: string;
  testCaseId?: string;
}

export interface LavaLogStats {
  records: number;
  consoleLines: number;
  /** Lines that were neither JSON nor YAML (a record cut by a crash, stray output). */
  badLines: number;
  /** The monitor's results (definition other than the dispatcher's own `lava`). */
  monitorResults: LavaMonitorResult[];
}

/** Whether a line is one of the dispatcher's records (`{"dt": ..., "lvl": ...}` or the YAML list form `- {dt: ...}`). */
export function isLavaRecordLine(line: string): boolean {
  return /^(?:- )?\{\s*"?(?:dt|lvl)"?\s*:/.test(line);
}

function parseRecord(line: string): LavaRecord | undefined {
  const text = line.startsWith("- ") ? line.slice(2) : line;
  try {
    return JSON.parse(text) as LavaRecord;
  } catch {
    // Some records carry YAML tags (`"size": ! "1234"`): not JSON, but YAML.
    try {
      const v = parseYaml(text) as unknown;
      return v && typeof v === "object" ? (v as LavaRecord) : undefined;
    } catch {
      return undefined;
    }
  }
}

/**
 * A streaming decoder: push the log's bytes, get the console text they hold. Console lines are the records of
 * level `target` (and `feedback`, what the connection still said after the test action), one line each; the
 * dispatcher's own input echoed back by the serial line (`poweroff` after it stopped the job) is dropped.
 */
export function createLavaLogDecoder(): { push(chunk: string | Uint8Array): string; finish(): string; stats: LavaLogStats } {
  const decoder = new StringDecoder("utf8");
  const stats: LavaLogStats = { records: 0, consoleLines: 0, badLines: 0, monitorResults: [] };
  let carry = "";
  let echo: string | undefined;
  const line = (l: string): string => {
    const t = l.endsWith("\r") ? l.slice(0, -1) : l;
    if (t.trim() === "") return "";
    const r = isLavaRecordLine(t) ? parseRecord(t) : undefined;
    if (!r) {
      stats.badLines++;
      return "";
    }
    stats.records++;
    if (r.lvl === "input" && typeof r.msg === "string") {
      echo = r.msg.replace(/\r?\n$/, "");
      return "";
    }
    if ((r.lvl === "target" || r.lvl === "feedback") && typeof r.msg === "string") {
      if (echo !== undefined && r.msg === echo) return "";
      stats.consoleLines++;
      return `${r.msg}\n`;
    }
    if (r.lvl === "results" && r.msg && typeof r.msg === "object") {
      const m = r.msg as Record<string, unknown>;
      if (typeof m.definition === "string" && m.definition !== "lava") {
        const extra = m.extra as Record<string, unknown> | undefined;
        stats.monitorResults.push({
          definition: m.definition,
          case: String(m.case),
          result: String(m.result),
          ...(typeof extra?.test_case_id === "string" ? { testCaseId: extra.test_case_id } : {}),
        });
      }
    }
    return "";
  };
  const feed = (text: string, final: boolean): string => {
    const parts = (carry + text).split("\n");
    carry = final ? "" : (parts.pop() ?? "");
    return parts.map(line).join("");
  };
  return {
    push: (chunk) => feed(typeof chunk === "string" ? chunk : decoder.write(Buffer.from(chunk)), false),
    finish: () => feed(decoder.end(), true),
    stats,
  };
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
  const d = createLavaLogDecoder();
  for (const c of head) yield d.push(c);
  if (!done) for (let n = await it.next(); !n.done; n = await it.next()) yield d.push(n.value);
  yield d.finish();
  onStats?.(d.stats);
}
