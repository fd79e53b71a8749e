// Process level: `kharness bisect` refuses bad input with exit 2 and a message naming the input and the fix, before
// anything is built or booted, and leaves no bisection directory behind.
import t from "tap";
import { execFileSync } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { REPO_ROOT, runCli, tempDir } from "../../test/support/cli-run.js";

const BROKEN = path.join(REPO_ROOT, "patches", "landlock-socket-create-broken");
const exists = (p: string) =>
  fs.stat(p).then(
    () => true,
    () => false,
  );

t.test("bad input: exit 2, the input and the fix named, no directory left", async (t) => {
  const cwd = tempDir("kh-bisect-cli-");
  const repo = path.join(cwd, "repo");
  await fs.mkdir(repo);
  execFileSync("git", ["init", "-q", repo]);
  const env = { GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@x", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@x" };
  execFileSync("git", ["-C", repo, "commit", "-q", "--allow-empty", "-m", "one"], { env: { ...process.env, ...env } });
  const cases: [string[], RegExp][] = [
    [["bisect", "--tree", repo], /needs --patches SERIES .*or --good REV --bad REV/],
    [["bisect", "--tree", repo, "--patches", "nope"], /--patches .*nope: no such file or directory/],
    [["bisect", "--tree", path.join(cwd, "missing"), "--patches", BROKEN], /--tree .*missing: no such directory/],
    [["bisect", "--tree", cwd, "--good", "HEAD~1", "--bad", "HEAD"], /not the top directory of a git repository/],
    [["bisect", "--tree", repo, "--good", "nope", "--bad", "HEAD"], /--good nope: not a commit in/],
    [["bisect", "--tree", repo, "--good", "HEAD", "--bad", "HEAD"], /are the same commit/],
    [["bisect", "--resume", path.join(cwd, "nothing")], /--resume .*nothing: no bisect\.json there/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(args, { cwd, noOut: true });
    t.equal(r.code, 2, `${args.join(" ")}: exit 2\n${r.stderr}`);
    t.match(r.stderr, message, args.join(" "));
  }
  t.notOk(await exists(path.join(cwd, "kharness-out", "latest")), "no run directory was made");
  const out = (await fs.readdir(path.join(cwd, "kharness-out")).catch(() => [] as string[])).filter((n) => n.startsWith("bisect-"));
  t.same(out, [], "no bisection directory left behind");
});
