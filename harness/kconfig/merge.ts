// Pure: merge config fragments in order (later wins), remembering which fragment asked for each option.

import { parseConfig, renderConfigLine, type ConfigParseProblem } from "./config-file.js";

/** A fragment to merge: `name` says where it came from (a path, or `--config CONFIG_X=y`). */
export interface Fragment {
  name: string;
  text: string;
}

/** The value one fragment asked for. */
export interface RequestedOption {
  name: string;
  value: string;
  /** The fragment that asked last (and so won). */
  origin: string;
  line: number;
}

export interface MergedConfig {
  /** Requested options in first-mention order. */
  options: Map<string, RequestedOption>;
  /** A later fragment changed an earlier fragment's value (merge_config.sh warns about these too). */
  redefinitions: { name: string; from: RequestedOption; to: RequestedOption }[];
  /** Lines that are not options, per fragment: the caller reports them all as one usage error. */
  problems: (ConfigParseProblem & { fragment: string })[];
}

/** Merges fragments in order; a later fragment's value wins. */
export function mergeFragments(fragments: Fragment[]): MergedConfig {
  const options = new Map<string, RequestedOption>();
  const redefinitions: MergedConfig["redefinitions"] = [];
  const problems: MergedConfig["problems"] = [];
  for (const f of fragments) {
    const parsed = parseConfig(f.text);
    for (const p of parsed.problems) problems.push({ ...p, fragment: f.name });
    for (const e of parsed.entries) {
      const next: RequestedOption = { name: e.name, value: e.value, origin: f.name, line: e.line };
      const prev = options.get(e.name);
      if (prev && prev.value !== e.value) redefinitions.push({ name: e.name, from: prev, to: next });
      options.set(e.name, next);
    }
  }
  return { options, redefinitions, problems };
}

/** The merged request as a fragment text (part of the build cache key, and kept for the record). */
export function renderMerged(merged: MergedConfig): string {
  return [...merged.options.values()].map((o) => `${renderConfigLine(o.name, o.value)}\n`).join("");
}

/**
 * Overlays the requested options on a base .config (tinyconfig's or defconfig's output): each
 * requested symbol's line is replaced in place, the rest are appended. olddefconfig then resolves
 * dependencies and fills in defaults for newly visible symbols.
 */
export function overlayConfig(baseText: string, merged: MergedConfig): string {
  const pending = new Map(merged.options);
  const out: string[] = [];
  for (const raw of baseText.split(/\r?\n/)) {
    const m = /^(?:# )?CONFIG_([A-Za-z0-9_]+)[= ]/.exec(raw);
    const req = m?.[1] ? pending.get(m[1]) : undefined;
    if (req) {
      out.push(renderConfigLine(req.name, req.value));
      pending.delete(req.name);
    } else if (m?.[1] && !pending.has(m[1]) && merged.options.has(m[1])) {
      // A second base line for a symbol already replaced: drop it so the request is the only value.
    } else {
      out.push(raw);
    }
  }
  while (out.length && out[out.length - 1] === "") out.pop();
  for (const req of pending.values()) out.push(renderConfigLine(req.name, req.value));
  return out.join("\n") + "\n";
}
