// VM level (issue 10, items 4 and 10): a case glob given to --tests reaches the program in the guest, which runs
// exactly the matching cases, and --fail-on-skip fails a run in which nothing passed.
import t from "tap";
import { leaves, readResults, runCli } from "../test/support/cli-run.js";

/** Case ids of the bundled programs, as `kharness list --json` gives them. */
async function listedIds(): Promise<string[]> {
  const r = await runCli(["list", "--json"]);
  const listing = JSON.parse(r.stdout) as { program: string; cases: string[] }[];
  return listing.flatMap((p) => p.cases.map((c) => `${p.program}.${c}`));
}

t.test("--tests 'net_tcp.tcp.ipv4*.bind_*' runs exactly the IPv4 bind cases of net_tcp, and they pass", async (t) => {
  const expected = (await listedIds()).filter((id) => /^net_tcp\.tcp\.ipv4[^.]*\.bind_[^.]*$/.test(id));
  t.ok(expected.length >= 8, `the listing has IPv4 bind cases (${expected.length})`);
  const r = await runCli(["run", "--tests", "net_tcp.tcp.ipv4*.bind_*"]);
  t.equal(r.code, 0, r.stderr.slice(-2000));
  const run = await readResults(r.outDir);
  t.same(
    run.tests.map((p) => p.id),
    ["net_tcp"],
    "only net_tcp ran",
  );
  const ran = leaves(run.tests);
  t.same(ran.map((c) => c.id).sort(), [...expected].sort(), "exactly the matching cases ran");
  t.same(
    ran.filter((c) => c.status !== "PASS").map((c) => `${c.id} ${c.status} ${c.reason ?? ""}`),
    [],
    "and each passed",
  );
});

t.test("--fail-on-skip: a run whose cases all SKIP (socket_create on a kernel without the feature) exits 1", async (t) => {
  const r = await runCli(["run", "--tests", "socket_create.create.unix_stream.*", "--fail-on-skip"]);
  const run = await readResults(r.outDir);
  const ran = leaves(run.tests);
  t.ok(ran.length > 0 && ran.every((c) => c.status === "SKIP"), `every case SKIPs (${ran.map((c) => c.status).join(" ")})`);
  t.equal(r.code, 1, r.stderr.slice(-2000));
  t.match(r.stderr, /--fail-on-skip: no test passed/);
});
