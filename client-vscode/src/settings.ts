/**
 * The settings the extension passes to the server. No `vscode` import: unit-tested in plain Node.
 *
 * The server reads the project's `[tool.perfedit]` first and the editor's settings over it, so the
 * extension sends only the keys the user set (in any scope), never VS Code's defaults: an unset
 * `perfedit.samples` must not hide `samples = 4` in the project's pyproject.toml.
 */

/** The keys of the `perfedit` section that the server understands (its Settings fields and two
 * editor-only keys); the rest (`python`, `trace`) belong to the extension. */
export const SERVER_KEYS = [
  "model",
  "backend",
  "endpoint",
  "budget_s",
  "samples",
  "runs",
  "timeout_s",
  "tests",
  "explain",
  "needsConfirmation",
] as const;

/** What VS Code's `WorkspaceConfiguration.inspect` gives for one key (the parts used here). */
export interface Inspected {
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

/** The user's own value of a key: the folder's over the workspace's over the user's; undefined if
 * the key is only at its default. */
export function explicitValue(inspected: Inspected | undefined): unknown {
  return inspected?.workspaceFolderValue ?? inspected?.workspaceValue ?? inspected?.globalValue;
}

/** The server's part of the `perfedit` section: only the keys set by the user. */
export function serverSettings(inspect: (key: string) => Inspected | undefined): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const key of SERVER_KEYS) {
    const value = explicitValue(inspect(key));
    if (value !== undefined && value !== null && value !== "") {
      settings[key] = value;
    }
  }
  return settings;
}
