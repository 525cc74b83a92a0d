/**
 * The perfedit extension: starts `perfedit lsp` with the configured Python, passes the user's
 * settings, shows the job's progress as a cancellable notification, opens the server's reports
 * rendered (from the hover's link, the decision's "Details" and "Show Last Result"), keeps the
 * last result in the status bar, marks its changes in the Refactor Preview (an icon, and the
 * headline in a notification while the preview waits), and adds four commands (one, "Profile
 * Tests", runs the server's `perfedit.profile`, after which the hot functions get code lenses). The server does the work
 * and asks before applying (see docs/editors/vscode.md); the pure parts of this glue are in
 * interpreter.ts, settings.ts and results.ts.
 */
import * as vscode from "vscode";
import {
  ApplyWorkspaceEditRequest,
  ExecuteCommandRequest,
  LanguageClient,
  ResponseError,
  StaticFeature,
  WorkDoneProgress,
  WorkDoneProgressCancelNotification,
  WorkDoneProgressCreateRequest,
  type ApplyWorkspaceEditParams,
  type ApplyWorkspaceEditResult,
  type FeatureState,
  type LanguageClientOptions,
  type ProgressToken,
  type ServerOptions,
} from "vscode-languageclient/node";
import { checkPerfedit, resolveInterpreter, serverCommand } from "./interpreter";
import {
  ProgressSteps,
  SHOW_REPORT,
  asSuggestResult,
  isReport,
  previewMark,
  previewNotice,
  reportLinksAsCommands,
  resultMarkdown,
  type ProgressValue,
  type SuggestResult,
} from "./results";
import { serverSettings } from "./settings";

const SUGGEST_COMMAND = "perfedit.suggest"; // the server's command behind the code action and the code lenses
const PROFILE_COMMAND = "perfedit.profile"; // the server's command that profiles the tests
const ACTION_KIND = "refactor.rewrite.perfedit";
const LAST_RESULT = vscode.Uri.parse("perfedit-result:/last-result.md"); // read-only, Markdown

/** Shows the server's work-done progress as a notification (title: the job and its function;
 * message: the phase; a bar that follows the percentage), whose Cancel button cancels the job
 * (`window/workDoneProgress/cancel`). Registered after the client's own progress feature, so that
 * its handler of `window/workDoneProgress/create` (a status-bar spinner) is replaced. */
class ProgressNotifications implements StaticFeature {
  private readonly subscriptions = new Map<ProgressToken, vscode.Disposable>();

  constructor(private readonly client: LanguageClient) {}

  fillClientCapabilities(): void {} // the client's own progress feature declares workDoneProgress

  initialize(): void {
    this.client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => this.track(token));
  }

  getState(): FeatureState {
    return { kind: "static" };
  }

  clear(): void {
    this.subscriptions.forEach((subscription) => subscription.dispose());
    this.subscriptions.clear();
  }

  private track(token: ProgressToken): void {
    let report: ((value: ProgressValue) => void) | undefined;
    const pending: ProgressValue[] = []; // values that came before the notification opened
    let ended: () => void = () => {};
    const done = new Promise<void>((resolve) => (ended = resolve));
    const subscription = this.client.onProgress(WorkDoneProgress.type, token, (value: ProgressValue) => {
      if (value.kind === "end") {
        subscription.dispose();
        this.subscriptions.delete(token);
        ended();
      } else if (value.kind === "begin") {
        pending.push(value);
        void vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: value.title ?? "perfedit", cancellable: true },
          (progress, cancel) => {
            const steps = new ProgressSteps();
            cancel.onCancellationRequested(() => {
              void this.client.sendNotification(WorkDoneProgressCancelNotification.type, { token });
            });
            report = (next) => progress.report(steps.next(next));
            pending.splice(0).forEach(report);
            return done;
          },
        );
      } else if (report !== undefined) {
        report(value);
      } else {
        pending.push(value);
      }
    });
    this.subscriptions.set(token, subscription);
  }
}

/** Applies the server's edits (`workspace/applyEdit`). One that needs confirmation opens the
 * Refactor Preview, which shows a single change annotation only as each change's tooltip: here
 * each change also carries an icon (a warning for an unsafe suggestion, else a zap) and, while the
 * preview waits, a notification gives the headline (its Cancel discards the preview). Registered after the client's own handler,
 * which it replaces; like that handler it refuses an edit for a document that has changed. */
class PreviewWithHeadline implements StaticFeature {
  constructor(private readonly client: LanguageClient) {}

  fillClientCapabilities(): void {} // the client declares workspace.applyEdit and change annotations

  initialize(): void {
    this.client.onRequest(ApplyWorkspaceEditRequest.type, (params) => this.apply(params));
  }

  getState(): FeatureState {
    return { kind: "static" };
  }

  clear(): void {}

  private async apply(params: ApplyWorkspaceEditParams): Promise<ApplyWorkspaceEditResult> {
    const changed = (params.edit.documentChanges ?? []).some((change) => {
      if (!("textDocument" in change) || change.textDocument.version === null) {
        return false;
      }
      const uri = this.client.protocol2CodeConverter.asUri(change.textDocument.uri).toString();
      const open = vscode.workspace.textDocuments.find((document) => document.uri.toString() === uri);
      return open !== undefined && open.version !== change.textDocument.version;
    });
    if (changed) {
      return { applied: false, failureReason: "the document changed" };
    }
    const converted = await this.client.protocol2CodeConverter.asWorkspaceEdit(params.edit);
    const mark = previewMark(params.edit.changeAnnotations);
    if (mark === undefined) {
      return { applied: await vscode.workspace.applyEdit(converted) };
    }
    const metadata: vscode.WorkspaceEditEntryMetadata = { ...mark.annotation, needsConfirmation: true, iconPath: new vscode.ThemeIcon(mark.icon) };
    const marked = new vscode.WorkspaceEdit();
    for (const [uri, edits] of converted.entries()) {
      marked.set(uri, edits.map((edit): [vscode.TextEdit, vscode.WorkspaceEditEntryMetadata] => [edit, metadata]));
    }
    const applied = vscode.workspace.applyEdit(marked);
    // Cancellable: its Cancel button keeps the notification expanded (the whole headline shows)
    // and discards the preview; the notification closes once the preview is applied or discarded.
    const notice = { location: vscode.ProgressLocation.Notification, title: previewNotice(mark), cancellable: true };
    void vscode.window.withProgress(notice, (_progress, cancel) => {
      cancel.onCancellationRequested(() => void vscode.commands.executeCommand("refactorPreview.discard"));
      return applied;
    });
    return { applied: await applied };
  }
}

/** Opens a Markdown document (a report file, or the last result's page) rendered. */
async function showRendered(uri: vscode.Uri): Promise<void> {
  await vscode.commands.executeCommand("markdown.showPreview", uri);
}

let client: LanguageClient | undefined;

/** Starts the extension: the client (if perfedit is installed in the configured Python) and the commands. */
export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("perfedit");
  const status = vscode.window.createStatusBarItem("perfedit.status", vscode.StatusBarAlignment.Left, 100);
  status.name = "perfedit";
  let last: { result: SuggestResult; file: string } | undefined;
  const lastResultChanged = new vscode.EventEmitter<vscode.Uri>();

  const showResult = (result: SuggestResult, uri: string): void => {
    last = { result, file: vscode.Uri.parse(uri).fsPath };
    lastResultChanged.fire(LAST_RESULT);
    const outcome = result.error === undefined ? `${result.speedup?.toFixed(1)}× faster` : "no result";
    status.text = `$(${result.error === undefined ? "zap" : "info"}) perfedit: ${result.cancelled ? "cancelled" : outcome}`;
    status.tooltip = `${result.error ?? result.summary ?? "perfedit"} (click for the last result)`;
    status.command = "perfedit.showLastResult";
    status.show();
  };

  const start = async (): Promise<void> => {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const python = resolveInterpreter(vscode.workspace.getConfiguration("perfedit").get("python", ""), folder);
    const check = await checkPerfedit(python);
    if (!check.ok) {
      output.appendLine(check.message);
      const choice = await vscode.window.showErrorMessage(check.message, "Open Settings");
      if (choice === "Open Settings") {
        await vscode.commands.executeCommand("workbench.action.openSettings", "perfedit.python");
      }
      return;
    }
    output.appendLine(`perfedit ${check.version} in ${python}`);
    const { command, args } = serverCommand(python);
    const serverOptions: ServerOptions = { command, args, options: { cwd: folder } };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: "file", language: "python" }],
      outputChannel: output,
      synchronize: { configurationSection: "perfedit" },
      markdown: { isTrusted: { enabledCommands: [SHOW_REPORT] } }, // the hover's link to the full report
      middleware: {
        provideHover: async (document, position, token, next) => {
          const hover = await next(document, position, token);
          if (!hover) {
            return hover;
          }
          const contents = hover.contents.map((part) => {
            if (!(part instanceof vscode.MarkdownString)) {
              return part;
            }
            const linked = new vscode.MarkdownString(reportLinksAsCommands(part.value));
            linked.isTrusted = { enabledCommands: [SHOW_REPORT] };
            return linked;
          });
          return new vscode.Hover(contents, hover.range);
        },
        window: {
          // the decision's "Details": the server shows its report file, rendered here
          showDocument: async (params, next) => {
            if (isReport(params.uri)) {
              await showRendered(vscode.Uri.parse(params.uri));
              return { success: true };
            }
            const shown = await next(params, new vscode.CancellationTokenSource().token);
            return shown instanceof ResponseError ? { success: false } : shown;
          },
        },
        workspace: {
          configuration: async (params, token, next) => {
            const answers = await next(params, token);
            if (answers instanceof ResponseError) {
              return answers;
            }
            return params.items.map((item, index) => {
              if (item.section !== "perfedit") {
                return answers[index];
              }
              const scope = item.scopeUri ? vscode.Uri.parse(item.scopeUri) : undefined;
              const section = vscode.workspace.getConfiguration("perfedit", scope);
              return serverSettings((key) => section.inspect(key));
            });
          },
        },
        executeCommand: async (name, commandArgs, next) => {
          const value = await next(name, commandArgs);
          const result = name === SUGGEST_COMMAND ? asSuggestResult(value) : undefined;
          if (result !== undefined && typeof commandArgs[0] === "string") {
            showResult(result, commandArgs[0]);
          }
          return value;
        },
      },
    };
    client = new LanguageClient("perfedit", "perfedit", serverOptions, clientOptions);
    client.registerFeature(new ProgressNotifications(client));
    client.registerFeature(new PreviewWithHeadline(client));
    await client.start();
  };

  const restart = async (): Promise<void> => {
    const running = client;
    client = undefined;
    await running?.stop();
    await start();
  };

  context.subscriptions.push(
    output,
    status,
    lastResultChanged,
    vscode.workspace.registerTextDocumentContentProvider(LAST_RESULT.scheme, {
      onDidChange: lastResultChanged.event,
      provideTextDocumentContent: () => resultMarkdown(last?.result, last?.file),
    }),
    vscode.commands.registerCommand("perfedit.suggestFasterVersion", () =>
      vscode.commands.executeCommand("editor.action.codeAction", { kind: ACTION_KIND, apply: "first" }),
    ),
    vscode.commands.registerCommand("perfedit.showLastResult", () => showRendered(LAST_RESULT)),
    vscode.commands.registerCommand(SHOW_REPORT, (uri: string) => showRendered(vscode.Uri.parse(uri))),
    vscode.commands.registerCommand("perfedit.restartServer", restart),
    vscode.commands.registerCommand("perfedit.profileTests", async () => {
      if (client === undefined) {
        void vscode.window.showErrorMessage("perfedit: the server is not running (see the perfedit output).");
        return;
      }
      // the project of the file in the editor, else the server's workspace folder
      const uri = vscode.window.activeTextEditor?.document.uri.toString();
      await client.sendRequest(ExecuteCommandRequest.type, { command: PROFILE_COMMAND, arguments: uri ? [uri] : [] });
    }),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("perfedit.python")) {
        void restart();
      }
    }),
  );
  await start();
}

/** Stops the server. */
export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
}
