// Typed errors, each with an actionable message; cli.ts maps their kind to an exit code.

/** Exit-code classes of DESIGN.md: usage/input (2) and infrastructure (3). */
export type ErrorKind = "usage" | "infra";

export class KharnessError extends Error {
  readonly kind: ErrorKind;
  /** What to do about it, shown after the message. */
  readonly fix?: string;
  /** Last lines of a command's output, when relevant. */
  readonly tail?: string[];
  /**
   * True when a bisect step could not test this commit (maps to 125 with --bisect). Only the kernel stage,
   * which applies, configures and builds the commit, is asked: an error from any other stage (bad usage, a
   * missing tool, an unwritable path) is never the commit's fault and stops a bisection (exit-codes.ts).
   */
  readonly untestable: boolean;

  constructor(kind: ErrorKind, message: string, opts: { fix?: string; tail?: string[]; cause?: unknown; untestable?: boolean } = {}) {
    super(message, { cause: opts.cause });
    this.name = new.target.name;
    this.kind = kind;
    this.fix = opts.fix;
    this.tail = opts.tail;
    this.untestable = opts.untestable ?? kind === "infra";
  }
}

/** Bad argument or input file: exit 2. */
export class UsageError extends KharnessError {
  constructor(message: string, opts: { fix?: string; cause?: unknown; untestable?: boolean } = {}) {
    super("usage", message, opts);
  }
}

/** A tool, build or boot failed: exit 3. */
export class InfraError extends KharnessError {
  constructor(message: string, opts: { fix?: string; tail?: string[]; cause?: unknown; untestable?: boolean } = {}) {
    super("infra", message, opts);
  }
}

/** One problem with a request: what is wrong (naming the input) and, when it helps, what to do. */
export interface RequestProblem {
  message: string;
  fix?: string;
}

/** Every problem found by validating a run or parse request at once, before any build or boot: exit 2. */
export class RequestError extends UsageError {
  readonly problems: readonly RequestProblem[];
  constructor(problems: readonly RequestProblem[]) {
    const only = problems.length === 1 ? problems[0] : undefined;
    super(
      only
        ? only.message
        : `${problems.length} problems with the request:\n${problems.map((p) => `  ${p.message}${p.fix ? `\n    fix: ${p.fix}` : ""}`).join("\n")}`,
      {
        fix: only ? only.fix : "correct each of them; nothing was built or booted",
        untestable: false,
      },
    );
    this.problems = problems;
  }
}

/** A command exited non-zero. */
export class CommandFailedError extends InfraError {
  readonly argv: string[];
  readonly exitCode: number | undefined;
  constructor(opts: { argv: string[]; cwd?: string; exitCode?: number; tail: string[]; fix?: string; what?: string; cause?: unknown }) {
    const where = opts.cwd ? ` in ${opts.cwd}` : "";
    const what = opts.what ?? `\`${opts.argv.join(" ")}\``;
    super(`${what} failed${where} (exit ${opts.exitCode ?? "?"})`, { fix: opts.fix, tail: opts.tail, cause: opts.cause });
    this.argv = opts.argv;
    this.exitCode = opts.exitCode;
  }
}

/** The run was cancelled by SIGINT/SIGTERM. */
export class InterruptedError extends Error {
  readonly signal: "SIGINT" | "SIGTERM";
  constructor(signal: "SIGINT" | "SIGTERM") {
    super(`interrupted by ${signal}`);
    this.name = "InterruptedError";
    this.signal = signal;
  }
}

/** Last n non-empty lines of some output. */
export function lastLines(text: string | undefined, n: number): string[] {
  if (!text) return [];
  const lines = text.split(/\r?\n/);
  while (lines.length && lines[lines.length - 1] === "") lines.pop();
  return lines.slice(-n);
}
