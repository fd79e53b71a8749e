// Pure tests of `kharness bisect` argument parsing (through cli-args.ts, as the CLI parses them).
import t from "tap";
import { ArgsError, parseCommandLine } from "../cli-args.js";

const problems = (argv: string[]): string[] => {
  try {
    parseCommandLine(argv);
  } catch (e) {
    if (e instanceof ArgsError) return e.problems;
    throw e;
  }
  return [];
};

t.test("patch bisection: the run options are parsed as for run, the series is the whole --patches", async (t) => {
  const c = parseCommandLine([
    "bisect",
    "--tree",
    "linux",
    "--patches",
    "s/series",
    "--tests",
    "socket_create",
    "--timeout",
    "60",
    "--repeat",
    "3",
    "--out",
    "o",
  ]);
  t.match(c, {
    cmd: "bisect",
    outDir: "o",
    req: {
      mode: "patches",
      pinned: [],
      repeat: 3,
      run: { kernel: { kind: "tree", dir: "linux", patches: ["s/series"] }, tests: ["socket_create"], timeoutSec: 60, outDir: undefined },
    },
  });
});

t.test("commit bisection with a pinned signature", async (t) => {
  const c = parseCommandLine(["bisect", "--tree", "linux", "--good", "v6.11", "--bad=HEAD", "--test", "a.b", "c.d", "--accel", "tcg"]);
  t.match(c, { cmd: "bisect", req: { mode: "commits", good: "v6.11", bad: "HEAD", pinned: ["a.b", "c.d"], run: { accel: "tcg" } } });
});

t.test("every problem at once, each naming the option", async (t) => {
  t.match(problems(["bisect", "--patches", "x"]), [/--patches needs --tree/]);
  t.match(problems(["bisect", "--tree", "l"]), [/needs --patches SERIES .* or --good REV --bad REV/]);
  t.match(problems(["bisect", "--tree", "l", "--good", "a"]), [/--bad is missing/]);
  t.match(problems(["bisect", "--tree", "l", "--good", "a", "--bad", "b", "--patches", "p"]), [/both given/]);
  t.match(problems(["bisect", "--tree", "l", "--good", "a", "--bad", "b", "--base", "c"]), [/--base is the base of a --patches series/]);
  t.match(problems(["bisect", "--kernel", "bz", "--json", "f", "--tree", "l", "--patches", "p"]), [
    /--kernel: bisect builds/,
    /--json is a `kharness run` option/,
  ]);
  t.match(problems(["bisect", "--tree", "l", "--patches", "p", "--repeat", "0"]), [/--repeat 0/]);
  t.match(problems(["bisect", "--tree", "l", "--patches", "p", "--test"]), [/--test needs a non-empty value/]);
});

t.test("--resume takes everything from the directory", async (t) => {
  t.match(parseCommandLine(["bisect", "--resume", "d", "--quiet"]), { cmd: "bisect", resume: "d", quiet: true });
  t.match(problems(["bisect", "--resume", "d", "--tree", "l"]), [/--resume DIR takes the bisection's options from DIR\/bisect.json; drop --tree l/]);
});

t.test("--help", async (t) => {
  t.same(parseCommandLine(["bisect", "--help"]), { cmd: "help", topic: "bisect" });
});

t.test("--retry-untestable is a flag of the bisection, refused with a value", async (t) => {
  t.match(parseCommandLine(["bisect", "--tree", "linux", "--good", "a", "--bad", "b", "--retry-untestable"]), {
    cmd: "bisect",
    req: { mode: "commits", retryUntestable: true },
  });
  t.notOk(
    (parseCommandLine(["bisect", "--tree", "linux", "--good", "a", "--bad", "b"]) as { req?: { retryUntestable?: boolean } }).req?.retryUntestable,
    "off unless asked",
  );
  t.match(problems(["bisect", "--tree", "linux", "--good", "a", "--bad", "b", "--retry-untestable=yes"]), [/--retry-untestable takes no value/]);
});
