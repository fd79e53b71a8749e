// Pure: after olddefconfig, find every requested option that did not survive and say why it likely did not.

import type { KconfigSymbol } from "./kconfig-deps.js";
import { expressionSymbols } from "./kconfig-deps.js";
import type { MergedConfig, RequestedOption } from "./merge.js";

/** A requested option whose final value differs from the request. */
export interface LostOption {
  name: string;
  requested: string;
  /** Final value in .config; undefined when the symbol is absent (not visible or unknown). */
  actual: string | undefined;
  origin: string;
  line: number;
  /** The likely reason, as specific as the Kconfig files allow. */
  hint: string;
}

/** Whether a final value honours a request: "n" is met by absence, "m" by "y" (a kernel without modules). */
export function satisfies(requested: string, actual: string | undefined): boolean {
  if (requested === "n") return actual === undefined || actual === "n";
  if (requested === "m") return actual === "m" || actual === "y";
  return actual === requested;
}

const GENERIC_HINT = "check its dependencies with `make O=<build dir> menuconfig` (press / and search for the symbol) or scripts/config";

function isOn(v: string | undefined): boolean {
  return v !== undefined && v !== "n";
}

/** Says why one option was likely lost, from its Kconfig definition and the final config. */
export function explainLost(
  req: RequestedOption,
  actual: string | undefined,
  def: KconfigSymbol | undefined,
  finalValues: ReadonlyMap<string, string>,
  kconfigRead: boolean,
): string {
  if (!kconfigRead) return GENERIC_HINT;
  if (!def) return `no \`config ${req.name}\` in this tree's Kconfig files: misspelled, renamed or not in this kernel version`;
  const where = def.definedAt.join(", ");
  if (req.value === "n" && isOn(actual))
    return `another enabled option selects it, or it has no prompt and defaults on (defined at ${where}); grep the Kconfig files for \`select ${req.name}\``;
  const missing: string[] = [];
  const conflicting: string[] = [];
  for (const expr of def.dependsOn) {
    for (const s of expressionSymbols(expr)) {
      const v = finalValues.get(s.name);
      if (s.negated ? isOn(v) : !isOn(v)) (s.negated ? conflicting : missing).push(`CONFIG_${s.name}`);
    }
  }
  const uniq = (xs: string[]) => [...new Set(xs)];
  const parts: string[] = [];
  if (missing.length) parts.push(`missing dependency: ${uniq(missing).join(", ")} not enabled`);
  if (conflicting.length) parts.push(`conflicts with enabled ${uniq(conflicting).join(", ")}`);
  if (parts.length) return `${parts.join("; ")} (depends on ${def.dependsOn.map((d) => `\`${d}\``).join(" && ")}; defined at ${where})`;
  if (!def.hasPrompt) return `it has no prompt, so only a \`select\` from another option can turn it on (defined at ${where})`;
  if (actual !== undefined && req.value !== "n")
    return `set to ${actual} instead: an out-of-range value, a choice where another member won, or a dependency limits it to m (defined at ${where}); ${GENERIC_HINT}`;
  return `its dependencies look met (defined at ${where}); an enclosing \`if\`/menu in a parent Kconfig may exclude it: ${GENERIC_HINT}`;
}

/**
 * Compares the request with the final .config values. Returns every lost option, in request order,
 * each with a hint; `kconfig` is the Kconfig reader's view of the lost symbols (undefined when the
 * tree's Kconfig files could not be read, which gives a generic hint).
 */
export function findLostOptions(merged: MergedConfig, finalValues: ReadonlyMap<string, string>, kconfig?: ReadonlyMap<string, KconfigSymbol>): LostOption[] {
  const lost: LostOption[] = [];
  for (const req of merged.options.values()) {
    const actual = finalValues.get(req.name);
    if (satisfies(req.value, actual)) continue;
    lost.push({
      name: req.name,
      requested: req.value,
      actual,
      origin: req.origin,
      line: req.line,
      hint: explainLost(req, actual, kconfig?.get(req.name), finalValues, kconfig !== undefined),
    });
  }
  return lost;
}

/** One line per lost option, for an error message. */
export function formatLostOptions(lost: LostOption[]): string[] {
  return lost.map((l) => `CONFIG_${l.name}=${l.requested} (asked by ${l.origin}:${l.line}) ended up ${l.actual === undefined ? "unset" : l.actual}: ${l.hint}`);
}
