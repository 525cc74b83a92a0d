/**
 * The result of the server's `perfedit.suggest` command and the status-bar text of its progress.
 * No `vscode` import: unit-tested in plain Node.
 */

/** What `workspace/executeCommand perfedit.suggest` returns (see perfedit/lsp.py). */
export interface SuggestResult {
  applied: boolean;
  speedup?: number;
  error?: string;
  cancelled?: boolean;
  summary?: string; // "perfedit: f is 41.3x faster (95% CI …), 2 tests pass"
  report?: string; // Markdown: facts, the model's reason, the diff
}

/** Reads a command result; anything that is not one gives undefined. */
export function asSuggestResult(value: unknown): SuggestResult | undefined {
  if (typeof value !== "object" || value === null || typeof (value as { applied?: unknown }).applied !== "boolean") {
    return undefined;
  }
  return value as SuggestResult;
}

/** The Markdown page of "perfedit: Show Last Result". */
export function resultMarkdown(result: SuggestResult | undefined, file?: string): string {
  if (result === undefined) {
    return "# perfedit\n\nNo result yet: run **perfedit: Suggest Faster Version** in a Python function first.\n";
  }
  const where = file ? ` — ${file}` : "";
  if (result.error !== undefined) {
    const what = result.cancelled ? "Cancelled" : "No faster version";
    return `# perfedit${where}\n\n${what}: ${result.error}\n${result.report ? `\n${result.report}\n` : ""}`;
  }
  const state = result.applied ? "Applied." : "Not applied.";
  return `# perfedit${where}\n\n${result.summary ?? ""}\n\n${state}\n\n${result.report ?? ""}\n`;
}

/** A work-done progress value, as the server sends it (begin, report or end). */
export interface ProgressValue {
  kind: "begin" | "report" | "end";
  title?: string;
  message?: string;
  percentage?: number;
}

/** Status-bar text while a job runs: the phase and percentage, with a spinning icon. */
export function progressText(value: ProgressValue, title: string): string {
  const percentage = value.percentage !== undefined ? ` ${value.percentage}%` : "";
  const message = value.message ? ` — ${value.message}` : "";
  return `$(sync~spin) ${title}${message}${percentage}`;
}
