// Pure: argv -> typed command request. Every problem is reported at once, each naming the argument and the fix.

import type { Accel, RunRequest } from "./types.js";
import { parseShardSpec } from "./scale/split.js";
import { parseBisectArgs, type BisectCommand } from "./bisect/args.js";

export type Command =
  | { cmd: "run"; req: RunRequest; quiet: boolean; color: boolean | undefined; failOnSkip: boolean; history: HistoryOpt; repeat: number }
  | {
      cmd: "parse";
      file: string;
      json: boolean;
      reports: RunRequest["reports"];
      expect?: string;
      failOnWarn: boolean;
      failOnSkip: boolean;
      color: boolean | undefined;
    }
  | { cmd: "list"; json: boolean }
  | { cmd: "kcidb"; runDir: string; origin: string; output?: string }
  | { cmd: "report"; runDir: string }
  | { cmd: "lava-job"; req: RunRequest; deviceDict: boolean; artifactUrl?: string; quiet: boolean; color: boolean | undefined }
  | { cmd: "doctor" }
  | { cmd: "compare"; base: string; next: string; format: "terminal" | "json" | "markdown"; expect?: string; history: HistoryOpt; color: boolean | undefined }
  | { cmd: "history"; testId: string; json: boolean; limit: number; history: HistoryOpt }
  | { cmd: "flakes"; json: boolean; history: HistoryOpt }
  | { cmd: "cache"; action: "list" | "prune"; json: boolean; maxSize?: string; olderThan?: string; all: boolean }
  | { cmd: "merge"; dirs: string[]; outDir?: string; json: boolean; reports: RunRequest["reports"]; failOnSkip: boolean; color: boolean | undefined }
  | { cmd: "rootfs"; action: "build" | "list" | "prune"; suite?: string; packages?: string; mirror?: string; json: boolean; all: boolean }
  | BisectCommand
  | { cmd: "help"; topic?: string }
  | { cmd: "version" };

/** --history DB / --no-history: the history database to use (path undefined = $KHARNESS_CACHE/history.db), or none. */
export type HistoryOpt = { off: true } | { off: false; path?: string };

export class ArgsError extends Error {
  /** The command line asked for --bisect: its exit code must stop `git bisect run` (exit-codes.ts). */
  readonly bisect: boolean;
  constructor(
    readonly problems: string[],
    opts: { bisect?: boolean } = {},
  ) {
    super(problems.join("\n"));
    this.name = "ArgsError";
    this.bisect = opts.bisect ?? false;
  }
}

interface OptSpec {
  /** How many values: 0 = flag, 1 = one value, "many" = every following word that does not start with "--". */
  arity: 0 | 1 | "many";
  /** An empty value means "nothing" rather than a mistake (`--append "$EXTRA"` with EXTRA unset). */
  emptyOk?: boolean;
}

const RUN_OPTS: Record<string, OptSpec> = {
  kernel: { arity: 1 },
  tree: { arity: 1 },
  base: { arity: 1 },
  patches: { arity: "many" },
  config: { arity: "many" },
  defconfig: { arity: 0 },
  debug: { arity: 0 },
  tests: { arity: "many" },
  program: { arity: "many" },
  append: { arity: 1, emptyOk: true },
  kselftest: { arity: "many" },
  timeout: { arity: 1 },
  "boot-timeout": { arity: 1 },
  accel: { arity: 1 },
  out: { arity: 1 },
  json: { arity: 1 },
  junit: { arity: 1 },
  tap: { arity: 1 },
  kcidb: { arity: 1 },
  bisect: { arity: 0 },
  "fail-on-warn": { arity: 0 },
  "fail-on-skip": { arity: 0 },
  "selftest-define": { arity: "many" },
  expect: { arity: 1 },
  baseline: { arity: 1 },
  history: { arity: 1 },
  "no-history": { arity: 0 },
  repeat: { arity: 1 },
  jobs: { arity: 1 },
  shard: { arity: 1 },
  durations: { arity: 1 },
  rootfs: { arity: 1 },
  "keep-rootfs": { arity: 0 },
  quiet: { arity: 0 },
  color: { arity: 0 },
  "no-color": { arity: 0 },
  help: { arity: 0 },
};
const PARSE_OPTS: Record<string, OptSpec> = {
  json: { arity: 0 },
  expect: { arity: 1 },
  junit: { arity: 1 },
  tap: { arity: 1 },
  kcidb: { arity: 1 },
  "json-out": { arity: 1 },
  "fail-on-warn": { arity: 0 },
  "fail-on-skip": { arity: 0 },
  color: { arity: 0 },
  "no-color": { arity: 0 },
  help: { arity: 0 },
};
const LIST_OPTS: Record<string, OptSpec> = { json: { arity: 0 }, help: { arity: 0 } };
const ROOTFS_OPTS: Record<string, OptSpec> = {
  suite: { arity: 1 },
  packages: { arity: 1 },
  mirror: { arity: 1 },
  json: { arity: 0 },
  all: { arity: 0 },
  help: { arity: 0 },
};
const CACHE_OPTS: Record<string, OptSpec> = {
  json: { arity: 0 },
  help: { arity: 0 },
  "max-size": { arity: 1 },
  "older-than": { arity: 1 },
  all: { arity: 0 },
};
const MERGE_OPTS: Record<string, OptSpec> = {
  out: { arity: 1 },
  json: { arity: 0 },
  "json-out": { arity: 1 },
  junit: { arity: 1 },
  tap: { arity: 1 },
  kcidb: { arity: 1 },
  "fail-on-skip": { arity: 0 },
  color: { arity: 0 },
  "no-color": { arity: 0 },
  help: { arity: 0 },
};
/** `lava-job`: the run options that shape the kernel and payload, and its own two. */
const LAVA_ONLY_OPTS: Record<string, OptSpec> = { "device-dict": { arity: 0 }, "artifact-url": { arity: 1 } };
const LAVA_OPTS: Record<string, OptSpec> = {
  ...Object.fromEntries(
    Object.entries(RUN_OPTS).filter(
      ([k]) =>
        !["accel", "json", "junit", "tap", "kcidb", "bisect", "fail-on-warn", "fail-on-skip", "jobs", "shard", "durations", "rootfs", "keep-rootfs"].includes(
          k,
        ),
    ),
  ),
  ...LAVA_ONLY_OPTS,
};

const COMPARE_OPTS: Record<string, OptSpec> = {
  json: { arity: 0 },
  markdown: { arity: 0 },
  expect: { arity: 1 },
  history: { arity: 1 },
  "no-history": { arity: 0 },
  color: { arity: 0 },
  "no-color": { arity: 0 },
  help: { arity: 0 },
};
const HISTORY_OPTS: Record<string, OptSpec> = {
  json: { arity: 0 },
  limit: { arity: 1 },
  history: { arity: 1 },
  "no-history": { arity: 0 },
  help: { arity: 0 },
};
const FLAKES_OPTS: Record<string, OptSpec> = { json: { arity: 0 }, history: { arity: 1 }, "no-history": { arity: 0 }, help: { arity: 0 } };

type Parsed = { opts: Map<string, string[]>; positional: string[] };

/** --history DB and --no-history (not both). */
function historyOpt(p: Parsed, problems: string[]): HistoryOpt {
  const given = p.opts.get("history")?.at(-1);
  if (given !== undefined && p.opts.has("no-history")) problems.push("--history and --no-history both given: choose one");
  return p.opts.has("no-history") ? { off: true } : { off: false, ...(given !== undefined ? { path: given } : {}) };
}

function parseOpts(args: string[], spec: Record<string, OptSpec>, command: string, problems: string[]): Parsed {
  const opts = new Map<string, string[]>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--") {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (!a.startsWith("--") || a === "-") {
      positional.push(a);
      continue;
    }
    let name = a.slice(2);
    let inline: string | undefined;
    const eq = name.indexOf("=");
    if (eq >= 0) {
      inline = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const s = spec[name];
    if (!s) {
      problems.push(`unknown option --${name} for \`kharness ${command}\` (see \`kharness ${command} --help\`)`);
      continue;
    }
    const values = opts.get(name) ?? [];
    opts.set(name, values);
    // An empty value (`--kernel=`, `--tree ""`) would silently mean "the default": say so instead.
    const take = (v: string) => {
      if (v === "" && !s.emptyOk) problems.push(`--${name} has an empty value: give it one (see \`kharness ${command} --help\`)`);
      else values.push(v);
    };
    if (s.arity === 0) {
      if (inline !== undefined) problems.push(`--${name} takes no value`);
      values.push("true");
    } else if (inline !== undefined) {
      take(inline);
    } else if (s.arity === 1) {
      const v = args[i + 1];
      if (v === undefined || (v.startsWith("--") && v !== "--")) problems.push(`--${name} needs a value`);
      else {
        take(v);
        i++;
      }
    } else {
      let n = 0;
      while (i + 1 < args.length && !(args[i + 1] as string).startsWith("--")) {
        take(args[++i] as string);
        n++;
      }
      if (n === 0) problems.push(`--${name} needs at least one value`);
    }
  }
  return { opts, positional };
}

function one(p: Parsed, name: string): string | undefined {
  const v = p.opts.get(name);
  return v?.[v.length - 1];
}
const many = (p: Parsed, name: string): string[] => p.opts.get(name) ?? [];
const flag = (p: Parsed, name: string): boolean => p.opts.has(name);

/**
 * A whole number of seconds, written in decimal. The guest reads per-program timeouts with atoi(3), which
 * would take 1.5 as 1, 0.5 as 0 (then its default, 45) and 0x10 as 0: only what it honours is accepted.
 */
function seconds(p: Parsed, name: string, dflt: number, problems: string[]): number {
  const v = one(p, name);
  if (v === undefined) return dflt;
  const n = /^[0-9]+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > 86400) {
    problems.push(`--${name} ${v}: expected a whole number of seconds from 1 to 86400, in decimal (e.g. --${name} 60)`);
    return dflt;
  }
  return n;
}

function colorOpt(p: Parsed): boolean | undefined {
  if (flag(p, "no-color")) return false;
  if (flag(p, "color")) return true;
  return undefined;
}

function reportsOpt(p: Parsed, jsonName: string): RunRequest["reports"] {
  return { json: one(p, jsonName), junit: one(p, "junit"), tap: one(p, "tap"), kcidb: one(p, "kcidb") };
}

/** Parses `kharness ...` arguments (without node and the script path). Throws ArgsError listing every problem. */
export function parseCommandLine(argv: string[]): Command {
  const [cmd, ...rest] = argv;
  const problems: string[] = [];
  if (cmd === undefined || cmd === "help" || cmd === "--help" || cmd === "-h") return { cmd: "help", topic: rest[0] };
  if (cmd === "--version" || cmd === "version") return { cmd: "version" };
  switch (cmd) {
    case "run": {
      const p = parseOpts(rest, RUN_OPTS, "run", problems);
      if (flag(p, "help")) return { cmd: "help", topic: "run" };
      if (p.positional.length)
        problems.push(
          `unexpected argument ${p.positional.map((x) => JSON.stringify(x)).join(" ")}: options take the form --name value (see \`kharness run --help\`)`,
        );
      const accel = one(p, "accel") ?? "auto";
      if (!["auto", "kvm", "tcg"].includes(accel)) problems.push(`--accel ${accel}: expected auto, kvm or tcg`);
      const kernelPath = one(p, "kernel");
      const tree = one(p, "tree");
      if (kernelPath && tree) problems.push("--kernel and --tree both given: choose a built image (--kernel) or a tree to build (--tree)");
      for (const treeOnly of ["base", "patches", "config", "defconfig", "debug", "kselftest"]) {
        if (!tree && p.opts.has(treeOnly)) problems.push(`--${treeOnly} needs --tree DIR (it applies to a kernel built from source)`);
      }
      const timeoutSec = seconds(p, "timeout", 45, problems);
      const bootTimeoutSec = seconds(p, "boot-timeout", 120, problems);
      const append = many(p, "append").flatMap((a) => a.split(/\s+/).filter(Boolean));
      const history = historyOpt(p, problems);
      const repeatText = one(p, "repeat");
      const repeat = repeatText === undefined ? 1 : /^[0-9]+$/.test(repeatText) ? Number(repeatText) : NaN;
      if (!(Number.isSafeInteger(repeat) && repeat >= 1 && repeat <= 1000))
        problems.push(`--repeat ${repeatText}: expected a number of boots from 1 to 1000 (e.g. --repeat 10)`);
      if (one(p, "baseline") === "last-green" && history.off)
        problems.push("--baseline last-green needs the history: drop --no-history, or name a run directory");
      const jobsText = one(p, "jobs");
      const jobs = jobsText === undefined || jobsText === "auto" ? jobsText : /^[0-9]+$/.test(jobsText) ? Number(jobsText) : NaN;
      if (typeof jobs === "number" && !(Number.isSafeInteger(jobs) && jobs >= 1 && jobs <= 64))
        problems.push(`--jobs ${jobsText}: expected a number of guests from 1 to 64, or auto (the CPU count)`);
      const shardText = one(p, "shard");
      const shard = shardText === undefined ? undefined : parseShardSpec(shardText);
      if (shard && "problem" in shard) problems.push(shard.problem);
      if (flag(p, "keep-rootfs") && one(p, "rootfs") === undefined) problems.push("--keep-rootfs needs --rootfs debian|IMAGE (it keeps that run's overlay)");
      if (one(p, "durations") !== undefined && !shard)
        problems.push("--durations needs --shard I/N (it balances the shards; --jobs uses the last run's durations)");
      if (problems.length) throw new ArgsError(problems, { bisect: flag(p, "bisect") });
      const kernel: RunRequest["kernel"] = tree
        ? {
            kind: "tree",
            dir: tree,
            base: one(p, "base"),
            patches: many(p, "patches"),
            configs: many(p, "config"),
            baseConfig: flag(p, "defconfig") ? "defconfig" : "tiny",
            debug: flag(p, "debug"),
            ...(one(p, "rootfs") !== undefined ? { rootfs: true } : {}),
          }
        : kernelPath
          ? { kind: "image", path: kernelPath }
          : { kind: "default" };
      return {
        cmd: "run",
        quiet: flag(p, "quiet"),
        color: colorOpt(p),
        failOnSkip: flag(p, "fail-on-skip"),
        history,
        repeat,
        req: {
          kernel,
          tests: many(p, "tests"),
          programs: many(p, "program"),
          kselftests: many(p, "kselftest"),
          append,
          timeoutSec,
          bootTimeoutSec,
          accel: accel as Accel,
          outDir: one(p, "out"),
          reports: reportsOpt(p, "json"),
          bisect: flag(p, "bisect"),
          failOnWarn: flag(p, "fail-on-warn"),
          selftestDefines: many(p, "selftest-define"),
          ...(one(p, "expect") !== undefined ? { expect: one(p, "expect") } : {}),
          ...(one(p, "baseline") !== undefined ? { baseline: one(p, "baseline") } : {}),
          ...(jobs !== undefined ? { jobs: jobs as number | "auto" } : {}),
          ...(shard && !("problem" in shard) ? { shard } : {}),
          ...(one(p, "rootfs") !== undefined ? { rootfs: one(p, "rootfs") } : {}),
          ...(flag(p, "keep-rootfs") ? { keepRootfs: true } : {}),
          ...(one(p, "durations") !== undefined ? { durationsFile: one(p, "durations") } : {}),
        },
      };
    }
    case "merge": {
      const p = parseOpts(rest, MERGE_OPTS, "merge", problems);
      if (flag(p, "help")) return { cmd: "help", topic: "merge" };
      if (p.positional.length === 0) problems.push("merge needs the shard run directories (DIR...), one per `kharness run --shard I/N`");
      if (p.positional.some((d) => d === "")) problems.push("merge: an empty directory name: name each shard's run directory");
      if (problems.length) throw new ArgsError(problems);
      return {
        cmd: "merge",
        dirs: p.positional,
        outDir: one(p, "out"),
        json: flag(p, "json"),
        reports: reportsOpt(p, "json-out"),
        failOnSkip: flag(p, "fail-on-skip"),
        color: colorOpt(p),
      };
    }
    case "parse": {
      const p = parseOpts(rest, PARSE_OPTS, "parse", problems);
      if (flag(p, "help")) return { cmd: "help", topic: "parse" };
      if (p.positional.length !== 1)
        problems.push(
          p.positional.length === 0
            ? "parse needs a FILE (a run directory, a console log or TAP file; - reads stdin)"
            : `parse takes one FILE, got ${p.positional.length}`,
        );
      else if (p.positional[0] === "") problems.push("parse FILE is empty: name a run directory, a console log or TAP file, or - for stdin");
      if (problems.length) throw new ArgsError(problems);
      return {
        cmd: "parse",
        file: p.positional[0] as string,
        json: flag(p, "json"),
        reports: reportsOpt(p, "json-out"),
        ...(one(p, "expect") !== undefined ? { expect: one(p, "expect") } : {}),
        failOnWarn: flag(p, "fail-on-warn"),
        failOnSkip: flag(p, "fail-on-skip"),
        color: colorOpt(p),
      };
    }
    case "kcidb": {
      // -o FILE is the short form of --output FILE.
      const args = rest.map((a) => (a === "-o" ? "--output" : a));
      const p = parseOpts(args, { origin: { arity: 1 }, output: { arity: 1 }, help: { arity: 0 } }, "kcidb", problems);
      if (flag(p, "help")) return { cmd: "help", topic: "kcidb" };
      if (p.positional.length !== 1) problems.push(`kcidb takes one RUN_DIR (a run directory with results.json), got ${p.positional.length}`);
      const origin = one(p, "origin") ?? "kharness";
      if (!/^[a-z0-9_]+$/.test(origin)) problems.push(`--origin ${origin}: KCIDB origins are lowercase letters, digits and _ (e.g. --origin my_lab)`);
      if (problems.length) throw new ArgsError(problems);
      return { cmd: "kcidb", runDir: p.positional[0] as string, origin, output: one(p, "output") };
    }
    case "report": {
      const p = parseOpts(rest, { help: { arity: 0 } }, "report", problems);
      if (flag(p, "help")) return { cmd: "help", topic: "report" };
      if (p.positional.length !== 1) problems.push(`report takes one RUN_DIR (a run directory with results.json), got ${p.positional.length}`);
      if (problems.length) throw new ArgsError(problems);
      return { cmd: "report", runDir: p.positional[0] as string };
    }
    case "lava-job": {
      const p = parseOpts(rest, LAVA_OPTS, "lava-job", problems);
      if (flag(p, "help")) return { cmd: "help", topic: "lava-job" };
      if (!one(p, "out")) problems.push("lava-job needs --out DIR: the directory for job.yaml, the kernel and the initramfs");
      const template = one(p, "artifact-url");
      if (template !== undefined && !template.includes("{name}"))
        problems.push(`--artifact-url ${template}: the template must contain {name} (the file name: bzImage, initramfs.cpio)`);
      if (problems.length) throw new ArgsError(problems);
      // The rest are run options: parsed as `run` parses them; the LAVA device boots under TCG (device.yaml).
      const runArgs: string[] = [];
      for (let i = 0; i < rest.length; i++) {
        const a = rest[i] as string;
        const name = a.startsWith("--") ? a.slice(2).split("=")[0] : undefined;
        if (name === "device-dict") continue;
        if (name === "artifact-url") {
          if (!a.includes("=")) i++;
          continue;
        }
        runArgs.push(a);
      }
      const run = parseCommandLine(["run", ...runArgs, "--accel", "tcg"]);
      if (run.cmd !== "run") return run;
      return { cmd: "lava-job", req: run.req, deviceDict: flag(p, "device-dict"), artifactUrl: template, quiet: run.quiet, color: run.color };
    }
    case "compare": {
      const p = parseOpts(rest, COMPARE_OPTS, "compare", problems);
      if (flag(p, "help")) return { cmd: "help", topic: "compare" };
      if (p.positional.length !== 2 || p.positional.some((x) => x === ""))
        problems.push(`compare takes two runs, BASE and NEW (run directories or results.json files), got ${p.positional.length}`);
      if (flag(p, "json") && flag(p, "markdown")) problems.push("--json and --markdown both given: choose one output");
      const history = historyOpt(p, problems);
      if (problems.length) throw new ArgsError(problems);
      return {
        cmd: "compare",
        base: p.positional[0] as string,
        next: p.positional[1] as string,
        format: flag(p, "json") ? "json" : flag(p, "markdown") ? "markdown" : "terminal",
        ...(one(p, "expect") !== undefined ? { expect: one(p, "expect") } : {}),
        history,
        color: colorOpt(p),
      };
    }
    case "history":
    case "flakes": {
      const p = parseOpts(rest, cmd === "history" ? HISTORY_OPTS : FLAKES_OPTS, cmd, problems);
      if (flag(p, "help")) return { cmd: "help", topic: cmd };
      const history = historyOpt(p, problems);
      if (history.off) problems.push(`${cmd} reads the history: --no-history makes no sense here`);
      if (cmd === "flakes") {
        if (p.positional.length) problems.push(`flakes takes no arguments, got ${p.positional.join(" ")}`);
        if (problems.length) throw new ArgsError(problems);
        return { cmd: "flakes", json: flag(p, "json"), history };
      }
      if (p.positional.length !== 1 || p.positional[0] === "")
        problems.push("history needs one TEST_ID (as results.json names it, e.g. net_abi.abi.ruleset.create_and_restrict)");
      const limitText = one(p, "limit");
      const limit = limitText === undefined ? 50 : /^[0-9]+$/.test(limitText) ? Number(limitText) : NaN;
      if (!(Number.isSafeInteger(limit) && limit >= 1)) problems.push(`--limit ${limitText}: expected a whole number of runs, e.g. --limit 20`);
      if (problems.length) throw new ArgsError(problems);
      return { cmd: "history", testId: p.positional[0] as string, json: flag(p, "json"), limit, history };
    }
    case "list": {
      const p = parseOpts(rest, LIST_OPTS, "list", problems);
      if (flag(p, "help")) return { cmd: "help", topic: "list" };
      if (p.positional.length) problems.push(`list takes no arguments, got ${p.positional.join(" ")}`);
      if (problems.length) throw new ArgsError(problems);
      return { cmd: "list", json: flag(p, "json") };
    }
    case "doctor":
      if (rest.includes("--help")) return { cmd: "help", topic: "doctor" };
      if (rest.length) throw new ArgsError([`doctor takes no arguments, got ${rest.join(" ")}`]);
      return { cmd: "doctor" };
    case "cache": {
      const p = parseOpts(rest, CACHE_OPTS, "cache", problems);
      if (flag(p, "help")) return { cmd: "help", topic: "cache" };
      const action = p.positional[0];
      if (action !== "list" && action !== "prune")
        problems.push(`cache needs list or prune, got ${action === undefined ? "nothing" : JSON.stringify(action)} (see \`kharness cache --help\`)`);
      if (p.positional.length > 1) problems.push(`cache ${action} takes no further arguments, got ${p.positional.slice(1).join(" ")}`);
      if (action === "list" && (p.opts.has("max-size") || p.opts.has("older-than") || p.opts.has("all")))
        problems.push("--max-size, --older-than and --all belong to `cache prune`, not `cache list`");
      if (problems.length) throw new ArgsError(problems);
      return {
        cmd: "cache",
        action: action as "list" | "prune",
        json: flag(p, "json"),
        maxSize: one(p, "max-size"),
        olderThan: one(p, "older-than"),
        all: flag(p, "all"),
      };
    }
    case "rootfs": {
      const p = parseOpts(rest, ROOTFS_OPTS, "rootfs", problems);
      if (flag(p, "help")) return { cmd: "help", topic: "rootfs" };
      const action = p.positional[0];
      if (action !== "build" && action !== "list" && action !== "prune")
        problems.push(`rootfs needs build, list or prune, got ${action === undefined ? "nothing" : JSON.stringify(action)} (see \`kharness rootfs --help\`)`);
      if (p.positional.length > 1) problems.push(`rootfs ${action} takes no further arguments, got ${p.positional.slice(1).join(" ")}`);
      if (action !== "build" && ["suite", "packages", "mirror"].some((o) => p.opts.has(o)))
        problems.push("--suite, --packages and --mirror belong to `rootfs build`");
      if (action !== "prune" && flag(p, "all")) problems.push("--all belongs to `rootfs prune`");
      if (problems.length) throw new ArgsError(problems);
      return {
        cmd: "rootfs",
        action: action as "build" | "list" | "prune",
        suite: one(p, "suite"),
        packages: one(p, "packages"),
        mirror: one(p, "mirror"),
        json: flag(p, "json"),
        all: flag(p, "all"),
      };
    }
    case "bisect": {
      // The bisect-only options are taken out; the rest are run options, parsed exactly as for run (harness/bisect/args.ts).
      if (rest.includes("--help")) return { cmd: "help", topic: "bisect" };
      const b = parseBisectArgs(rest, (argv) => {
        try {
          const c = parseCommandLine(["run", ...argv]);
          return c.cmd === "run" ? { ok: true, req: c.req, quiet: c.quiet, color: c.color, repeat: c.repeat } : { ok: false, problems: [] };
        } catch (e) {
          if (e instanceof ArgsError) return { ok: false, problems: e.problems };
          throw e;
        }
      });
      if ("problems" in b) throw new ArgsError(b.problems);
      return b;
    }
    default:
      throw new ArgsError([
        `unknown command ${JSON.stringify(cmd)}: expected run, bisect, parse, list, doctor, cache, lava-job, compare, history, flakes or merge (see \`kharness --help\`)`,
      ]);
  }
}

export const HELP: Record<string, string> = {
  main: `kharness: build a kernel if needed, boot it in QEMU, run selftests in the guest, report per-test results.

Usage:
  kharness run [options]      boot and test (default: the packaged default kernel, all bundled selftests)
  kharness bisect [options]   find the first bad commit (--good/--bad) or patch (--patches) (docs/bisect.md)
  kharness parse FILE|DIR     parse a run directory, console log or TAP file (- for stdin) like a run
  kharness list [--json]      list the bundled selftests and their cases
  kharness doctor             check QEMU, acceleration, compilers, static libc, the default kernel
  kharness cache list|prune   show or trim the kernel build cache (built kernels, kept build directories)
  kharness rootfs build|list|prune  make, show or remove the cached Debian root filesystem images
  kharness merge DIR... [--out DIR]  join the run directories of \`run --shard I/N\` into one run
  kharness kcidb RUN_DIR      a run as a KCIDB v5 submission (kcidb-submit reads it), with its provenance
  kharness report RUN_DIR     write the run directory's report.html again (after its comparison or history changed)
  kharness lava-job --out DIR write a LAVA job (qemu device type) booting a run's kernel and payload
  kharness compare BASE NEW   what changed between two runs: regressions, fixes, flaky, new kernel reports
  kharness history TEST_ID    a test's results over the recorded runs (the history database)
  kharness flakes             tests whose status flips on the same kernel, with a flake score

Exit codes: 0 all passed/skipped/xfailed; 1 a test failed, timed out, xpassed or crashed (or, with
--fail-on-skip, nothing passed); 2 bad usage or input; 3 infrastructure failure (build, boot, missing
tool); 130/143 interrupted by SIGINT/SIGTERM. With --bisect: 125 when the commit could not be tested
(patch, build or boot failed), 128 for a problem that is not the commit's (bad usage, a missing tool,
an unwritable path), which stops \`git bisect run\`.
Environment: KHARNESS_CACHE (cache directory, default ~/.cache/kharness), KHARNESS_QEMU (the
qemu-system-x86_64 to use, default from PATH), KHARNESS_MACHINE (pc or microvm: the QEMU machine,
default microvm for --tree kernels under TCG, pc otherwise).
\`kharness run --help\` lists the run options.`,
  run: `kharness run [options]

Every option is checked before anything is built or booted; all problems are reported at once (exit 2).

Kernel (default: Debian's 6.12 cloud kernel installed by \`npm run setup\`):
  --kernel PATH          a built bzImage (e.g. arch/x86/boot/bzImage, /boot/vmlinuz-*)
  --tree DIR             a kernel source tree to build (git or plain); the tree is never modified
    --base REF           build this commit of a git tree (default HEAD)
    --patches PATH...    an mbox, a directory of *.patch files, or a quilt series file, applied in order
    --config FRAG...     extra config fragment files or single CONFIG_X=y items
    --defconfig          start from the tree's defconfig instead of tinyconfig
    --debug              also merge kernel-config/debug.config (KASAN, lockdep, ...)
    --kselftest T...     also build and run the tree's tools/testing/selftests/T
Tests:
  --tests GLOB...        bundled programs or cases to run, as \`kharness list\` names them: a glob on a
                         program runs all its cases ('net_*'), one on a case id runs only those cases
                         ('net_tcp.tcp.ipv4*.bind_*'); fnmatch(3) rules, * also matches dots. A glob that
                         matches nothing is an error naming the closest tests
  --program PATH...      your own static test program(s), run like a bundled one and reported under the
                         file's name (which must not be a bundled program's); without --tests only these
                         run, add --tests to run bundled ones too
  --timeout S            per-program timeout in the guest, whole seconds (default 45)
  --fail-on-warn         a kernel WARNING (or lockdep report) also fails the test that was running
                         (an Oops, BUG or KASAN report always does), or the run when no test owns it
  --fail-on-skip         exit 1 when no test passed (everything skipped)
  --selftest-define D... test-only: build the bundled selftests with -DD (e.g. KH_FLIP_ERRNO, which makes
                         chosen cases expect a wrong errno, so they must FAIL: a check that failures show).
                         Recorded in results.json (payloadBuild) and shown under the verdict
Boot:
  --append ARGS          extra kernel command-line arguments (e.g. "lsm=yama"); the whole command line
                         must fit the kernel's 2047 bytes
  --boot-timeout S       give up if init has not started after S whole seconds (default 120)
  --accel auto|kvm|tcg   auto uses KVM only when a probe boot works (default auto)
  --rootfs debian|IMAGE  run the programs chrooted in a real userland: Debian's base image (built once and
                         cached, see \`kharness rootfs --help\`) or your raw/qcow2 ext4 image; the run boots a
                         fresh qcow2 overlay in the run directory, the image itself is never written
  --keep-rootfs          keep that overlay (rootfs.qcow2; guest-K/rootfs.qcow2 with --jobs) after the run
Scale (docs/ci.md):
  --jobs N|auto          boot N guests at once from the same kernel and payload, each running a share of
                         the programs (longest first, by the last run's durations; with fewer programs
                         than guests, a bundled program's cases are split too); one joined run, each
                         guest's logs in guest-K/. auto = the CPU count. Default 1. Refused when the host's
                         available memory cannot hold N guests
  --shard I/N            run only part I of N of the test list: the same split on every machine (see
                         docs/ci.md); manifest.json records it for \`kharness merge\`
  --durations FILE       with --shard: balance the shards by these durations (a results.json of an earlier
                         run, or {"program": ms}); every shard must be given the same file
Nightly (docs/nightly.md):
  --expect FILE          known failures (YAML or JSON, docs/expect.md): an expected failure is XFAIL with
                         the file's reason; one that passes is XPASS (fails the run, so stale entries surface)
  --baseline RUN|last-green   compare with a run directory (or results.json), or with the newest green run
                         of the same test selection in the history; writes comparison.json; a regression,
                         a missing test or a new kernel report makes the exit code 1
  --history DB           record the run in this SQLite history (default $KHARNESS_CACHE/history.db)
  --no-history           do not record the run
  --repeat N             boot N times on the same kernel; the run directory holds repeat-1 .. repeat-N
                         (each a full run directory), each recorded in the history (kharness flakes)
Output:
  --out DIR              run directory (default ./kharness-out/<run-id>; ./kharness-out/latest links the
                         newest); one run at a time may use it
  --json F --junit F --tap F --kcidb F   also write these reports to F
  --quiet                no live progress, only the summary
  --bisect               for git bisect run: exit 125 when the commit cannot be tested (patch, build or
                         boot failed), 128 (stop the bisection) when the problem is not the commit's`,
  bisect: `kharness bisect --tree REPO --good REV --bad REV [run options] [--test ID...] [--repeat N] [--out DIR]
kharness bisect --tree DIR --patches SERIES [--base REV] [run options] [--test ID...] [--repeat N] [--out DIR]
kharness bisect --resume DIR

Finds the commit between --good and --bad, or the patch of a series, that makes tests fail. Both ends are tested
first: the signature is the tests that do not fail at the good end and fail at the bad end (--test ID... pins
it); every step is judged on it only. A revision whose patch, build or boot fails is skipped, as
\`git bisect skip\` does. Builds go through the build cache and start from the nearest kept build; a commit
built before, from any good commit, is found by its git tree. The user's
checkout is never touched (commit C is built as the good commit plus \`git diff GOOD C\`).
  --good REV --bad REV   commit bisection over the first-parent line GOOD..BAD of the --tree git repository
  --patches SERIES       patch bisection: base, then base + the first k patches (as run --patches takes them)
  --test ID...           judge these test ids (as results.json names them) instead of the derived signature
  --repeat N             boot N times per step; a step whose repeats disagree is flaky and not used to steer
  --out DIR              the bisection's directory (default ./kharness-out/bisect-<id>): bisect.json, each
                         step's run directories under steps/, git-bisect.log (commits)
  --resume DIR           continue an interrupted bisection from DIR/bisect.json
  --retry-untestable     build again the revisions whose build failed before (a failed build of a patch,
                         config or source is remembered in the cache and skipped at once otherwise)
Run options: --tests, --program, --kselftest, --config, --defconfig, --debug, --append, --timeout,
--boot-timeout, --accel. Exit codes: 0 the first bad revision was found; 1 the search ended without one (the
candidates were skipped or flaky); 2 bad usage or ends (the good end fails, the bad end passes, no test
flips); 3 infrastructure failure; 130/143 interrupted (bisect.json keeps the steps; --resume DIR goes on).`,
  parse: `kharness parse FILE|RUN_DIR [--json] [--junit F] [--tap F] [--kcidb F] [--json-out F] [--expect FILE] [--fail-on-warn] [--fail-on-skip]

Reads a console log, a LAVA dispatcher's log (lava-run's stderr: its console lines are read, see
docs/lava.md) or a TAP/KTAP file (FILE may be - for stdin) and reports it like a run. A run
directory (or its console.log, beside results.log) is parsed again from both logs, with the run's verdicts.
--json prints the results JSON on stdout instead of the terminal summary; --json-out F writes it to F.
--expect FILE applies known failures (docs/expect.md), with the release and kernel.config of a run directory.
Report paths are checked before anything is read. Exit codes as for run.`,
  kcidb: `kharness kcidb RUN_DIR [--origin O] [-o FILE]

Writes the run's results as a KCIDB v5.3 submission (stdout, or FILE): the checkout (tree URL and commit when
known, the patch series and its patchset_hash), the build (compiler, architecture, config name and sha256,
duration, build log excerpt) and one test per result (path, status, start time, duration, QEMU environment).
Object ids are ORIGIN:RUN-ID..., unique per run; --origin defaults to kharness. See docs/kcidb.md.`,
  report: `kharness report RUN_DIR

Writes RUN_DIR/report.html again from RUN_DIR/results.json, and from comparison.json and history.json when
they are there (every run writes one; this regenerates it, e.g. after \`kharness compare --json\`). The page is
self-contained: open it from disk, it loads nothing (uPlot, script and styles are inline) and shows every
test name, reason, log line and kernel report as text. Prints the path written.`,
  "lava-job": `kharness lava-job --out DIR [run options] [--device-dict] [--artifact-url TEMPLATE]

Prepares the kernel and the payload exactly as \`kharness run\` with the same options would (--kernel,
--tree/--patches/--config, --tests, --program, --kselftest, --append, --timeout, --boot-timeout), and
writes into DIR: initramfs.cpio, manifest.json, the kernel (bzImage) and job.yaml, a LAVA job for the
qemu device type. The job deploys the kernel and initramfs to tmpfs, boots them with QEMU (TCG), and
collects results from the serial console (init's console mode, kharness.console_results=1).
  --device-dict           also write device.yaml and dispatcher.yaml for a local run:
                          lava-run --device DIR/device.yaml --dispatcher DIR/dispatcher.yaml \\
                                   --job-id N --output-dir OUT DIR/job.yaml 2> lava.log
  --artifact-url TEMPLATE the images' URLs for a lab, e.g. https://files.example/{run}/{name}
                          ({name}: bzImage or initramfs.cpio; {run}: the run id); default file:// paths
\`kharness parse lava.log\` (or the plain console) then gives the verdicts. See docs/lava.md.`,
  merge: `kharness merge DIR... [--out DIR] [--json] [--junit F] [--tap F] [--kcidb F] [--json-out F] [--fail-on-skip]

Joins the run directories of \`kharness run --shard I/N\` (every shard of one test list and kernel, each once)
into one run directory (default ./kharness-out/<run-id>): results.json, junit.xml, results.tap and the
report with the counts and verdicts of an unsharded run; each shard's logs in shard-I/. A missing,
duplicated or foreign shard (another test list, shard count or kernel) is an error naming it (exit 2).
Exit codes as for run.`,
  list: `kharness list [--json]

Lists the bundled selftest programs and their cases (the ids --tests globs match).`,
  cache: `kharness cache list [--json]
kharness cache prune [--max-size SIZE] [--older-than AGE] [--all] [--json]

The kernel build cache ($KHARNESS_CACHE/kernels: kernels built from --tree; $KHARNESS_CACHE/builds: the
kept build directories a new patch series starts from, so make recompiles only what changed).
list: each entry's kind, key, size, last use, tree, patches and config.
prune: remove least recently used entries until the cache fits SIZE (e.g. 10G, 500M), entries unused for
AGE (e.g. 7d, 12h), or everything (--all); with no option, down to the limit. An entry a running build
holds is never removed. The limit: KHARNESS_CACHE_MAX (default 20G; 0 = none), applied after each build.
KHARNESS_INCREMENTAL=0 makes builds start from an empty build directory.`,
  rootfs: `kharness rootfs build [--suite S] [--packages LIST] [--mirror URL]
kharness rootfs list [--json]
kharness rootfs prune [--all]

Debian root filesystem images for \`run --rootfs debian\` (docs/rootfs.md), in $KHARNESS_CACHE/rootfs.
build: mmdebstrap (minbase) of suite S (default bookworm) with LIST (comma separated; default
bash,ethtool,iproute2,iputils-ping,kmod,procps,psmisc,python3), made into an ext4 file system (mke2fs -d)
and a qcow2 base image (qemu-img convert); needs root. Cached by suite, architecture, mirror and packages;
built under a lock and published whole. \`run --rootfs debian\` builds the default one on first use.
list: each image's key, size, suite and packages. prune: remove images other than the default one, and
what interrupted builds left; --all removes the default one too.`,
  compare: `kharness compare BASE NEW [--json | --markdown] [--expect FILE] [--history DB | --no-history]

BASE and NEW are run directories or results.json files. Every test is classified: regression (PASS, SKIP or
XFAIL before; FAIL, TIMEOUT, CRASH, ERROR or XPASS now), fix, new, missing, still failing, changed skip
(another skip reason, or SKIP <-> PASS), flaky (a regression or fix of a test whose status flips on one kernel
in the history), unchanged; and kernel reports (WARNING, BUG, Oops, panic, ...) absent from BASE are listed.
--json prints comparison.json (docs/nightly.md); --markdown prints a CI job summary or mailing-list reply.
--expect FILE applies known failures to both runs first. Exit 1 on a regression, a missing test or a new
kernel report; 0 otherwise; 2 on bad input.`,
  history: `kharness history TEST_ID [--json] [--limit N] [--history DB]

A test's results in the recorded runs, oldest first (default the newest 50): time, run, status, duration,
kernel, build key. --json prints them as a list.`,
  flakes: `kharness flakes [--json] [--history DB]

Tests whose status changes between runs of the same kernel input (build key), highest flake score first.
The score is flips / (runs - 1) over that kernel's runs: 0 never flips, 1 flips every run. \`kharness run
--repeat N\` measures it on purpose.`,
  doctor: `kharness doctor

Checks qemu-system-x86_64, the acceleration verdict, gcc and static libc, make, xz, and the default
kernel; prints the fix for each problem. Exit 0 when all is well, 3 otherwise.`,
};
