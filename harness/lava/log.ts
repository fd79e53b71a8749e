// Pure: a LAVA dispatcher's log (lava-run's stderr, one YAML record per line) back into the guest's console
// byte stream, which the results stage parses as it parses a local run's console.log.

import { StringDecoder } from "node:string_decoder";
import { parse as parseYaml } from "yaml";
import { isLavaRecordLine } from "./console.js";

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
