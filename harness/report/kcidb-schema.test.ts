// KCIDB output checked against kcidb-io's v5.3 JSON Schema (ajv, strict, with formats): every recorded run, with and
// without provenance; the patchset hash as KCIDB defines it (checked against sha256sum); a mutated document fails.
import t from "tap";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { renderKcidb, KCIDB_VERSION, type KcidbProvenance } from "./index.js";
import { parseLog } from "../results/index.js";
import { httpsRemote, kcidbPatchsetHash } from "../kcidb-provenance.js";
import { kcidbSchemaErrors } from "../../test/support/kcidb-schema.js";

const testdata = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "results", "testdata");
const validate = kcidbSchemaErrors();

const PROVENANCE: KcidbProvenance = {
  checkout: {
    treeUrl: "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git",
    commit: "adc218676eef25575469234709c2d87185ca223a",
    branch: "master",
    patches: [{ name: "0001.patch", url: "file:///tmp/p/0001.patch", sha256: "a".repeat(64) }],
    patchsetHash: "b".repeat(64),
    misc: { tree_kind: "git" },
  },
  build: {
    compiler: "gcc (Debian 12.2.0-14+deb12u1) 12.2.0",
    architecture: "x86_64",
    configName: "tinyconfig+qemu-guest+landlock",
    configSha256: "c".repeat(64),
    configUrl: "file:///tmp/run/kernel.config",
    durationMs: 92983,
    startTime: "2026-12-02T22:00:00.000Z",
    logExcerpt: "  LD      vmlinux\n",
  },
  environment: { qemuVersion: "7.2.18", qemuBinary: "qemu-system-x86_64", machine: "pc", accel: "tcg" },
};

t.test("every recorded run renders a document the v5.3 schema accepts, with and without provenance", async (t) => {
  const logs = readdirSync(testdata).filter((f) => f.endsWith(".log"));
  t.ok(logs.length > 10, `${logs.length} recorded runs`);
  for (const f of logs) {
    const run = { ...parseLog(readFileSync(path.join(testdata, f))), runId: "20261202-225110-yfsb", startedAt: "2026-12-02T22:51:10.000Z" };
    for (const provenance of [undefined, PROVENANCE]) {
      const doc = JSON.parse(renderKcidb(run, { origin: "kharness", runId: run.runId, provenance }));
      t.same(validate(doc), [], `${f}${provenance ? " with provenance" : ""}`);
    }
  }
});

t.test("provenance lands in the schema's fields; ids are origin:run-id; tests carry start time, duration and environment", async (t) => {
  const run = {
    ...parseLog(readFileSync(path.join(testdata, "panic-mid-test.log"))),
    runId: "r42",
    startedAt: "2026-12-02T22:51:10.000Z",
    boot: { end: "poweroff" as const, accel: "tcg" as const, machine: "pc", durations: { totalMs: 5000 }, qemuStartedAt: "2026-12-02T22:51:11.000Z" },
  };
  const doc = JSON.parse(renderKcidb(run, { origin: "my-lab", runId: "r42", provenance: PROVENANCE }));
  t.same(doc.version, KCIDB_VERSION);
  const [c] = doc.checkouts;
  t.equal(c.id, "my_lab:r42");
  t.equal(c.git_commit_hash, PROVENANCE.checkout?.commit);
  t.equal(c.git_repository_url, PROVENANCE.checkout?.treeUrl);
  t.equal(c.patchset_hash, "b".repeat(64));
  t.same(c.patchset_files, [{ name: "0001.patch", url: "file:///tmp/p/0001.patch" }]);
  const [b] = doc.builds;
  t.equal(b.checkout_id, c.id);
  t.match(b, { compiler: /^gcc/, architecture: "x86_64", config_name: "tinyconfig+qemu-guest+landlock", duration: 92.983, status: "PASS" });
  t.equal(b.misc.config_sha256, "c".repeat(64));
  t.equal(new Set(doc.tests.map((x: { id: string }) => x.id)).size, doc.tests.length, "test ids are unique");
  for (const x of doc.tests) {
    t.ok(x.id.startsWith("my_lab:r42:"), x.id);
    t.equal(x.build_id, b.id);
    t.equal(x.environment.misc.accelerator, "tcg");
    t.equal(x.environment.misc.qemu_version, "7.2.18");
  }
  const started = doc.tests.find((x: { path: string }) => x.path === "net_tcp.tcp.ipv4.bind_allowed");
  const bindAllowed = run.tests
    .flatMap(function flat(x): typeof run.tests {
      return [x, ...x.children.flatMap(flat)];
    })
    .find((x) => x.id === "net_tcp.tcp.ipv4.bind_allowed");
  t.equal(
    started.start_time,
    new Date(Date.parse("2026-12-02T22:51:11.000Z") + (bindAllowed?.startMs ?? Number.NaN)).toISOString(),
    "start time: when QEMU started plus the test's start on the guest clock",
  );
  t.equal(typeof started.duration, "number");
  t.same(validate(doc), []);
});

t.test("the validator can fail: a mutated document is rejected, naming the field", async (t) => {
  const run = { ...parseLog(readFileSync(path.join(testdata, "panic-mid-test.log"))), runId: "r1" };
  const good = JSON.parse(renderKcidb(run, { origin: "kharness", runId: "r1", provenance: PROVENANCE }));
  t.same(validate(good), []);
  type Doc = { version: unknown; tests: Record<string, unknown>[]; checkouts: Record<string, unknown>[]; builds: Record<string, unknown>[] };
  const mutations: [string, (d: Doc) => void, RegExp][] = [
    ["a test status KCIDB does not have", (d) => (d.tests[0]!.status = "XFAIL"), /\/tests\/0\/status/],
    ["a short commit hash", (d) => (d.checkouts[0]!.git_commit_hash = "adc2186"), /git_commit_hash/],
    ["an id without its origin", (d) => (d.builds[0]!.id = "build-1"), /\/builds\/0\/id/],
    ["a property the schema does not define", (d) => (d.tests[0]!.verdict = "PASS"), /additional/],
    ["a non-https repository URL", (d) => (d.checkouts[0]!.git_repository_url = "git@github.com:a/b.git"), /git_repository_url/],
    ["version 4", (d) => (d.version = { major: 4, minor: 0 }), /\/version\/major/],
  ];
  for (const [what, mutate, where] of mutations) {
    const doc = structuredClone(good) as Doc;
    mutate(doc);
    const errors = validate(doc);
    t.ok(errors.length > 0, `${what}: rejected`);
    t.match(errors.join("\n"), where, `${what}: the error names it`);
  }
});

t.test("patchset_hash is KCIDB's: `sha256sum *.patch | cut -c-64 | sha256sum | cut -c-64`", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "kh-kcidb-"));
  const texts = ["From: a\nSubject: one\n\n--- a/x\n+++ b/x\n", "second patch\n", "third, no newline at the end"];
  texts.forEach((text, i) => writeFileSync(path.join(dir, `000${i + 1}.patch`), text));
  const shell = execFileSync("sh", ["-c", "sha256sum *.patch | cut -c-64 | sha256sum | cut -c-64"], { cwd: dir, encoding: "utf8" }).trim();
  const each = texts.map((x) => execFileSync("sha256sum", { input: x, encoding: "utf8" }).slice(0, 64));
  t.equal(kcidbPatchsetHash(each), shell);
  t.equal(kcidbPatchsetHash([]), "", "no patches: the empty string");
});

t.test("git remotes map to the https:// URL KCIDB accepts, or to nothing", async (t) => {
  t.equal(
    httpsRemote("https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git"),
    "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git",
  );
  t.equal(httpsRemote("git@github.com:torvalds/linux.git"), "https://github.com/torvalds/linux.git");
  t.equal(httpsRemote("ssh://git@gitlab.com:22/a/b.git"), "https://gitlab.com/a/b.git");
  t.equal(httpsRemote("/srv/git/linux"), undefined);
  t.equal(httpsRemote("http://example.org/linux.git"), undefined, "plain http is not accepted by the schema");
});
