// Unit tests of results.ts: reading the command's result, the last-result page, the status text.
import assert from "node:assert/strict";
import { test } from "node:test";
import { asSuggestResult, progressText, resultMarkdown } from "../results";

test("a command result is read only if it has the applied flag", () => {
  assert.deepEqual(asSuggestResult({ applied: true, speedup: 2 }), { applied: true, speedup: 2 });
  assert.equal(asSuggestResult(null), undefined);
  assert.equal(asSuggestResult({ speedup: 2 }), undefined);
  assert.equal(asSuggestResult("applied"), undefined);
});

test("the last-result page holds the summary, whether it was applied, and the report", () => {
  const page = resultMarkdown(
    { applied: true, speedup: 41.3, summary: "perfedit: f is 41.3x faster", report: "**perfedit: a faster `f`**\n```diff\n-a\n+b\n```" },
    "/ws/f.py",
  );
  assert.match(page, /^# perfedit — \/ws\/f\.py\n\nperfedit: f is 41\.3x faster\n\nApplied\.\n\n\*\*perfedit: a faster `f`\*\*/);
  assert.match(page, /```diff\n-a\n\+b\n```/);
});

test("failures and cancellations say so; no result yet says what to do", () => {
  assert.match(resultMarkdown({ applied: false, error: "no faster version of `f` found" }), /No faster version: no faster version of `f` found/);
  assert.match(resultMarkdown({ applied: false, error: "cancelled", cancelled: true }), /Cancelled: cancelled/);
  assert.match(resultMarkdown(undefined), /No result yet: run \*\*perfedit: Suggest Faster Version\*\*/);
});

test("progress text: spinner, title, phase and percentage", () => {
  assert.equal(progressText({ kind: "report", message: "validating (2/3)", percentage: 62 }, "perfedit: fib.py"), "$(sync~spin) perfedit: fib.py — validating (2/3) 62%");
  assert.equal(progressText({ kind: "begin", title: "perfedit: fib.py" }, "perfedit: fib.py"), "$(sync~spin) perfedit: fib.py");
});
