/**
 * The result of the server's `perfedit.suggest` command, its progress as a notification, and the
 * links to its full report. No `vscode` import: unit-tested in plain Node.
 */

/** What `workspace/executeCommand perfedit.suggest` returns (see server/perfedit/lsp/server.py). */
export interface SuggestResult {
  applied: boolean;
  speedup?: number;
  error?: string;
  cancelled?: boolean;
  unsafe?: boolean; // it behaves differently from the original on some input the checks saw
  summary?: string; // "perfedit: f 41.3× faster · 2 tests pass"
  report?: string; // Markdown: the headline, cautions, reason, measurements and diff
}

/** Reads a command result; anything that is not one gives undefined. */
export function asSuggestResult(value: unknown): SuggestResult | undefined {
  if (typeof value !== "object" || value === null || typeof (value as { applied?: unknown }).applied !== "boolean") {
    return undefined;
  }
  return value as SuggestResult;
}

/** The Markdown page of "perfedit: Show Last Result" (shown rendered, in the Markdown preview). */
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
  return `${state}\n\n${result.report ?? result.summary ?? ""}\n`;
}

/** A work-done progress value, as the server sends it (begin, report or end). */
export interface ProgressValue {
  kind: "begin" | "report" | "end";
  title?: string;
  message?: string;
  percentage?: number;
}

/** One step of a notification's progress: VS Code adds increments, the server sends percentages. */
export interface ProgressStep {
  message?: string;
  increment?: number;
}

/** Follows a job's work-done progress as steps of a VS Code progress notification. */
export class ProgressSteps {
  private shown = 0; // the percentage reached so far

  /** The step for `value` (a begin or report): its message and the percentage points gained. */
  next(value: ProgressValue): ProgressStep {
    const step: ProgressStep = { message: value.message };
    if (value.percentage !== undefined && value.percentage > this.shown) {
      step.increment = value.percentage - this.shown;
      this.shown = value.percentage;
    }
    return step;
  }
}

/** The command that opens a report rendered (the extension's, allowed in hovers). */
export const SHOW_REPORT = "perfedit.showReport";

/** True if `uri` is one of the server's report files (`perfedit-reports-*` folder, Markdown). */
export function isReport(uri: string): boolean {
  return /^file:\/\/.*\/perfedit-reports-[^/]+\/[^/]+\.md$/.test(uri);
}

/** `markdown` with each link to a report file turned into a link to {@link SHOW_REPORT}, which
 * opens it rendered (a plain link would open its Markdown source). */
export function reportLinksAsCommands(markdown: string): string {
  return markdown.replace(/\]\((file:\/\/[^)\s]+)\)/g, (link: string, uri: string) =>
    isReport(uri) ? `](command:${SHOW_REPORT}?${encodeURIComponent(JSON.stringify([uri]))})` : link,
  );
}

/** A change annotation as the server sends it in a WorkspaceEdit (LSP JSON). */
export interface ChangeAnnotation {
  label: string;
  description?: string;
  needsConfirmation?: boolean;
}

/** The server's change annotation ids: `perfedit`, or `perfedit.unsafe` for a suggestion that
 * behaves differently from the original on some input the checks saw. */
export const ANNOTATION_ID = "perfedit";
export const UNSAFE_ANNOTATION_ID = "perfedit.unsafe";

/** What the Refactor Preview shows of a suggestion's edit: its change annotation, whether it is
 * unsafe, and the codicon that marks each of its changes. */
export interface PreviewMark {
  annotation: ChangeAnnotation;
  unsafe: boolean;
  icon: "warning" | "zap";
}

/** The mark of a WorkspaceEdit whose changes need confirmation (it opens the Refactor Preview)
 * under perfedit's change annotation; undefined for any other edit. */
export function previewMark(changeAnnotations?: Record<string, ChangeAnnotation>): PreviewMark | undefined {
  for (const id of [UNSAFE_ANNOTATION_ID, ANNOTATION_ID]) {
    const annotation = changeAnnotations?.[id];
    if (annotation?.needsConfirmation) {
      const unsafe = id === UNSAFE_ANNOTATION_ID;
      return { annotation, unsafe, icon: unsafe ? "warning" : "zap" };
    }
  }
  return undefined;
}

/** The notification shown while the Refactor Preview waits for the user: the headline (the
 * annotation's label) and where to decide. */
export function previewNotice(mark: PreviewMark): string {
  return `perfedit: ${mark.annotation.label} — review it in the Refactor Preview, then Apply or Discard there`;
}
