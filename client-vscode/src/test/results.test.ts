// Unit tests of results.ts: reading the command's result, the last-result page, the progress
// notification's steps, the report links and the Refactor Preview's marks.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ProgressSteps, asSuggestResult, isReport, previewMark, previewNotice, reportLinksAsCommands, resultMarkdown } from "../results";

test("a command result is read only if it has the applied flag", () => {
  assert.deepEqual(asSuggestResult({ applied: true, speedup: 2 }), { applied: true, speedup: 2 });
  assert.equal(asSuggestResult(null), undefined);
  assert.equal(asSuggestResult({ speedup: 2 }), undefined);
  assert.equal(asSuggestResult("applied"), undefined);
});

test("the last-result page says whether it was applied, then the full report", () => {
  const report = "# perfedit: `f` in /ws/f.py\n\n**41.3× faster · 2 tests pass**\n\n## Diff\n\n```diff\n-a\n+b\n```";
  const page = resultMarkdown({ applied: true, speedup: 41.3, summary: "perfedit: f 41.3× faster · 2 tests pass", report }, "/ws/f.py");
  assert.equal(page, `Applied.\n\n${report}\n`);
  assert.match(resultMarkdown({ applied: false, summary: "perfedit: f 2.0× faster" }), /^Not applied\.\n\nperfedit: f 2\.0× faster/);
});

test("failures and cancellations say so; no result yet says what to do", () => {
  assert.match(resultMarkdown({ applied: false, error: "no faster version of `f` found" }), /No faster version: no faster version of `f` found/);
  assert.match(resultMarkdown({ applied: false, error: "cancelled", cancelled: true }), /Cancelled: cancelled/);
  assert.match(resultMarkdown(undefined), /No result yet: run \*\*perfedit: Suggest Faster Version\*\*/);
});

test("progress steps carry the phase and the percentage points gained, never going back", () => {
  const steps = new ProgressSteps();
  assert.deepEqual(steps.next({ kind: "begin", title: "perfedit: speeding up fib", percentage: 0 }), { message: undefined });
  assert.deepEqual(steps.next({ kind: "report", message: "running the original", percentage: 4 }), { message: "running the original", increment: 4 });
  assert.deepEqual(steps.next({ kind: "report", message: "validating 1/3: rule", percentage: 30 }), { message: "validating 1/3: rule", increment: 26 });
  assert.deepEqual(steps.next({ kind: "report", message: "found: 3.2× faster", percentage: 30 }), { message: "found: 3.2× faster" });
  assert.deepEqual(steps.next({ kind: "report", message: "explaining why it is faster" }), { message: "explaining why it is faster" });
});

test("links to the server's report files open them rendered; other links stay", () => {
  const report = "file:///tmp/perfedit-reports-x1/perfedit-dedupe-unique_in_order.md";
  assert.ok(isReport(report));
  assert.ok(!isReport("file:///ws/README.md") && !isReport("https://example.com/perfedit-reports-x/a.md"));
  const hover = `**perfedit suggests a faster \`f\`**\n\n[Full report](${report}): statistics. [docs](file:///ws/README.md)`;
  const command = `command:perfedit.showReport?${encodeURIComponent(JSON.stringify([report]))}`;
  assert.equal(
    reportLinksAsCommands(hover),
    `**perfedit suggests a faster \`f\`**\n\n[Full report](${command}): statistics. [docs](file:///ws/README.md)`,
  );
});

test("a perfedit edit that needs confirmation is marked for the preview, unsafe with a warning", () => {
  const label = "unique_in_order: 17.1× faster · 2 tests pass · behaves differently";
  const unsafe = previewMark({ "perfedit.unsafe": { label, description: "Differs …", needsConfirmation: true } });
  assert.deepEqual(unsafe, { annotation: { label, description: "Differs …", needsConfirmation: true }, unsafe: true, icon: "warning" });
  assert.equal(
    previewNotice(unsafe!),
    `perfedit: ${label} — review it in the Refactor Preview, then Apply or Discard there`,
  );
  const safe = previewMark({ perfedit: { label: "fib: 3.0× faster · 2 tests pass", needsConfirmation: true } });
  assert.equal(safe?.icon, "zap");
  assert.equal(safe?.unsafe, false);
});

test("an edit applied directly, or not perfedit's, gets no preview mark", () => {
  assert.equal(previewMark({ perfedit: { label: "fib: 3.0× faster", needsConfirmation: false } }), undefined);
  assert.equal(previewMark({ other: { label: "rename", needsConfirmation: true } }), undefined);
  assert.equal(previewMark(undefined), undefined);
});
