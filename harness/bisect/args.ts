// Pure: `kharness bisect` arguments -> the bisect command. Its own options (--good, --bad, --test, --resume) are
// taken out; every other word goes through the run option parser, so the run options mean what they mean for run.

import type { RunRequest } from "../types.js";
import type { BisectRequest } from "./run-bisect.js";

export type BisectCommand =
  | { cmd: "bisect"; req: BisectRequest; outDir?: string; quiet: boolean; color: boolean | undefined }
  | { cmd: "bisect"; resume: string; quiet: boolean; color: boolean | undefined };

/** What the run option parser gives back (cli-args.ts `run`), or its problems. */
export type RunParse = { ok: true; req: RunRequest; quiet: boolean; color: boolean | undefined; repeat: number } | { ok: false; problems: string[] };

const OWN: Record<string, "one" | "many" | "flag"> = { good: "one", bad: "one", test: "many", resume: "one", "retry-untestable": "flag" };

/** Run options that mean nothing for a bisection (each step's reports, sharding, history comparisons). */
const NOT_FOR_BISECT = ["kernel", "bisect", "shard", "durations", "baseline", "json", "junit", "tap", "kcidb", "expect", "fail-on-skip"];

/**
 * Splits and checks `kharness bisect` arguments. `parseRun` is the run option parser (argv after `run`).
 * Returns the command, or every problem at once.
 */
export function parseBisectArgs(args: string[], parseRun: (argv: string[]) => RunParse): BisectCommand | { problems: string[] } {
  const own = new Map<string, string[]>();
  const rest: string[] = [];
  const problems: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    const name = m?.[1];
    const arity = name ? OWN[name] : undefined;
    if (!m || !name || !arity) {
      rest.push(a);
      continue;
    }
    const values = own.get(name) ?? [];
    own.set(name, values);
    if (arity === "flag") {
      if (m[2] !== undefined) problems.push(`--${name} takes no value`);
      values.push("yes");
      continue;
    }
    if (m[2] !== undefined) values.push(m[2]);
    else if (arity === "one") {
      const v = args[i + 1];
      if (v === undefined || v.startsWith("--")) problems.push(`--${name} needs a value`);
      else {
        values.push(v);
        i++;
      }
    } else {
      while (i + 1 < args.length && !(args[i + 1] as string).startsWith("--")) values.push(args[++i] as string);
    }
    if (!values.length || values.some((v) => v === "")) problems.push(`--${name} needs a non-empty value (see \`kharness bisect --help\`)`);
  }
  for (const name of NOT_FOR_BISECT)
    if (rest.some((a) => a === `--${name}` || a.startsWith(`--${name}=`)))
      problems.push(
        name === "kernel"
          ? "--kernel: bisect builds each revision from --tree; a built image cannot be bisected"
          : `--${name} is a \`kharness run\` option that bisect does not take (each step's run directory is under the bisection's)`,
      );
  const resume = own.get("resume")?.at(-1);
  const quiet = rest.includes("--quiet");
  const color = rest.includes("--no-color") ? false : rest.includes("--color") ? true : undefined;
  if (resume !== undefined) {
    const extra = [
      ...rest.filter((a) => !["--quiet", "--color", "--no-color"].includes(a)),
      ...[...own.keys()].filter((k) => k !== "resume").map((k) => `--${k}`),
    ];
    if (extra.length) problems.push(`--resume DIR takes the bisection's options from DIR/bisect.json; drop ${extra.join(" ")}`);
    return problems.length ? { problems } : { cmd: "bisect", resume, quiet, color };
  }
  const parsed = parseRun(rest.filter((a) => !NOT_FOR_BISECT.some((n) => a === `--${n}` || a.startsWith(`--${n}=`))));
  if (!parsed.ok) return { problems: [...problems, ...parsed.problems] };
  const req = parsed.req;
  const good = own.get("good")?.at(-1);
  const bad = own.get("bad")?.at(-1);
  const patches = req.kernel.kind === "tree" ? req.kernel.patches : [];
  if (req.kernel.kind !== "tree") problems.push("bisect needs --tree DIR (the kernel tree to build each revision from)");
  if (patches.length && (good !== undefined || bad !== undefined))
    problems.push("--patches and --good/--bad both given: bisect the patches of a series, or the commits between two revisions, not both");
  if (!patches.length && (good === undefined) !== (bad === undefined))
    problems.push(`${good === undefined ? "--good" : "--bad"} is missing: commit bisection needs both ends`);
  if (req.kernel.kind === "tree" && !patches.length && good === undefined && bad === undefined)
    problems.push("bisect needs --patches SERIES (which patch broke it) or --good REV --bad REV (which commit broke it)");
  if (req.kernel.kind === "tree" && req.kernel.base !== undefined && !patches.length)
    problems.push("--base is the base of a --patches series; with --good/--bad the good commit is the base");
  if (problems.length) return { problems };
  return {
    cmd: "bisect",
    quiet: parsed.quiet,
    color: parsed.color,
    outDir: req.outDir,
    req: {
      mode: patches.length ? "patches" : "commits",
      run: { ...req, outDir: undefined },
      ...(good !== undefined ? { good } : {}),
      ...(bad !== undefined ? { bad } : {}),
      pinned: own.get("test") ?? [],
      repeat: parsed.repeat,
      ...(own.has("retry-untestable") ? { retryUntestable: true } : {}),
    },
  };
}
