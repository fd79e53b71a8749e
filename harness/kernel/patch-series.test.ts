// Pure tier: mbox splitting, subjects, quilt series and failing-hunk lookup.
import t from "tap";
import { asMail, findFailedHunk, parseQuiltSeries, patchSubject, patchesFromFile, splitMbox } from "./patch-series.js";

const msg = (n: number, subject: string) => `From ${String(n).repeat(40)} Mon Sep 17 00:00:00 2001
From: Dev <dev@example.org>
Date: Tue, 2 Jan 2024 10:00:00 +0100
Subject: [PATCH v3 ${n}/2] ${subject}

body
---
diff --git a/a.c b/a.c
--- a/a.c
+++ b/a.c
@@ -1 +1 @@
-x
+y
`;

t.test("splitMbox splits a b4-style mbox at its From lines; a single patch stays whole", async (t) => {
  const mbox = msg(1, "one") + "\n" + msg(2, "two");
  const parts = splitMbox(mbox);
  t.equal(parts.length, 2);
  t.match(parts[1], /^From 2{40}/);
  t.same(splitMbox(msg(1, "one")), [msg(1, "one")]);
  t.same(
    patchesFromFile("/s/v3.mbx", mbox).map((p) => [p.source, p.subject]),
    [
      ["/s/v3.mbx#1", "one"],
      ["/s/v3.mbx#2", "two"],
    ],
  );
});

t.test("patchSubject unfolds headers and drops [PATCH] tags", async (t) => {
  t.equal(patchSubject("From: a\nSubject: [PATCH v2 3/7] [RFC] landlock: add\n a long subject\n\nbody"), "landlock: add a long subject");
  t.equal(patchSubject("no headers\n\nSubject: later"), undefined);
});

t.test("asMail gives bare diffs headers and leaves mails alone", async (t) => {
  t.equal(asMail("--- a/x\n", "fix.diff"), "From: kharness <kharness@localhost>\nSubject: fix.diff\n\n--- a/x\n");
  t.equal(asMail(msg(1, "one"), "x"), msg(1, "one"));
});

t.test("parseQuiltSeries drops comments, blank lines and options", async (t) => {
  t.same(parseQuiltSeries("# top\n\na.patch\nb.patch -p1 # why\n  c.patch\n"), ["a.patch", "b.patch", "c.patch"]);
});

t.test("findFailedHunk locates the hunk git names, or a whole-file problem", async (t) => {
  const p = msg(1, "one").replace("@@ -1 +1 @@\n-x\n+y\n", "@@ -1 +1 @@\n-x\n+y\n@@ -40,2 +40,2 @@\n ctx\n-old\n+new\n-- \n2.39.5\n");
  const h = findFailedHunk(
    ["Checking patch a.c...", "error: while searching for:", "ctx", "error: patch failed: a.c:40", "error: a.c: patch does not apply"],
    p,
  );
  t.same(h, { file: "a.c", line: 40, hunk: ["@@ -40,2 +40,2 @@", " ctx", "-old", "+new"] });
  t.same(findFailedHunk(["error: b.c: already exists in working directory"], p), { file: "b.c", line: 0, hunk: ["b.c: already exists in working directory"] });
  t.equal(findFailedHunk(["something else"], p), undefined);
});
