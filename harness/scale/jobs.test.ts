// Process-level tests of --jobs' host side: how many guests, the memory check, the last run's durations, the plan.

import t from "tap";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { X86_64 } from "../qemu/profiles.js";
import type { GuestProgram } from "../types.js";
import { checkGuestMemory, lastRunDurations, planGuests, resolveJobs } from "./jobs.js";

t.test("--jobs auto is the CPU count; never more guests than programs", async (t) => {
  t.equal(resolveJobs("auto", 6, 2), 2);
  t.equal(resolveJobs("auto", 1, 8), 1);
  t.equal(resolveJobs(4, 3, 2), 3);
  t.equal(resolveJobs(1, 6, 8), 1);
});

t.test("the memory check refuses guests the host cannot hold, and says how many fit", async (t) => {
  await t.resolves(checkGuestMemory(2, X86_64, 4096));
  await t.rejects(checkGuestMemory(4, X86_64, 3000), {
    kind: "infra",
    message: /--jobs 4: 4 guests need about 4736 MiB \(1024 MiB RAM \+ 160 MiB QEMU each\), the host has 3000 MiB available/,
    fix: /use --jobs 2 or fewer/,
  });
  await t.resolves(checkGuestMemory(1, X86_64), "one guest fits on this host");
});

t.test("durations come from the reused run directory, else the newest earlier run beside it", async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), "kh-durations-"));
  const put = (dir: string, tests: unknown) => {
    mkdirSync(path.join(root, dir), { recursive: true });
    writeFileSync(path.join(root, dir, "results.json"), JSON.stringify({ schemaVersion: 1, tests }));
  };
  put("20260101-100000-aaaa", [{ id: "net_tcp", durationMs: 100 }]);
  put("20260102-100000-bbbb", [{ id: "net_tcp", durationMs: 2500 }, { id: "net_abi" }]);
  mkdirSync(path.join(root, "20260103-100000-cccc"));
  writeFileSync(path.join(root, "20260103-100000-cccc", "results.json"), "{damaged");
  const fresh = path.join(root, "20260104-100000-dddd");
  t.same([...(await lastRunDurations(fresh, true))], [["net_tcp", 2500]], "the newest readable earlier run");
  t.same([...(await lastRunDurations(fresh, false))], [], "an --out directory does not look at its neighbours");
  put("mine", [{ id: "net_abi", durationMs: 7 }]);
  t.same([...(await lastRunDurations(path.join(root, "mine"), false))], [["net_abi", 7]], "a reused --out directory's own results");
});

t.test("the plan: longest first by the durations, each share in run order, no empty guest", async (t) => {
  const p = (name: string): GuestProgram => ({ name, hostPath: `/x/${name}`, guestPath: `/kharness/bin/${name}`, timeoutSec: 45, args: [] });
  const programs = ["net_abi", "net_rules", "net_tcp", "net_unrestricted", "net_layers", "socket_create"].map(p);
  const d = new Map([
    ["net_abi", 400],
    ["net_rules", 500],
    ["net_tcp", 2600],
    ["net_unrestricted", 300],
    ["net_layers", 300],
    ["socket_create", 1100],
  ]);
  const shares = planGuests(programs, 2, d).map((s) => s.map((x) => x.name));
  t.same(shares, [["net_tcp"], ["net_abi", "net_rules", "net_unrestricted", "net_layers", "socket_create"]], "2.6 s | 2.6 s");
  t.equal(planGuests(programs.slice(0, 1), 2, d).length, 1, "one program: one guest");
});

t.test("fewer programs than guests: the longest bundled program is split by case, dealt in turn", async (t) => {
  const p = (name: string): GuestProgram => ({ name, hostPath: `/x/${name}`, guestPath: `/kharness/bin/${name}`, timeoutSec: 45, args: [] });
  const cases = ["f.a.one", "f.a.two", "f.b.one", "f.b.two", "g.a.one"];
  const shares = planGuests(
    [p("net_tcp"), p("mine")],
    3,
    new Map([
      ["net_tcp", 5000],
      ["mine", 100],
    ]),
    (n) => (n === "net_tcp" ? cases : undefined),
  );
  t.equal(shares.length, 3);
  const parts = shares.flat().filter((x) => x.name === "net_tcp");
  t.same(
    parts.map((x) => x.args),
    [
      ["f.a.one", "f.b.one", "g.a.one"],
      ["f.a.two", "f.b.two"],
    ],
    "two parts of net_tcp (3 guests, 2 programs), each with its cases as arguments",
  );
  t.same(planGuests([p("mine")], 3, new Map(), () => undefined).length, 1, "a program without known cases is not split");
  t.same(
    planGuests([p("a"), p("b")], 2, new Map(), () => cases).map((s) => s.map((x) => x.args.length)),
    [[0], [0]],
    "as many programs as guests: nothing is split",
  );
});
