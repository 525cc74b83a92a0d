/**
 * The settings the extension passes to the server. No `vscode` import: unit-tested in plain Node.
 *
 * The server reads the project's `[tool.perfedit]` first and the editor's settings over it, so the
 * extension sends only the keys the user set (in any scope), never VS Code's defaults: an unset
 * `perfedit.samples` must not hide `samples = 4` in the project's pyproject.toml.
 */

/** The extension's own keys of the `perfedit` section (the interpreter, vscode-languageclient's
 * tracing); every other key package.json contributes is a server setting. */
export const EXTENSION_KEYS: readonly string[] = ["python", "trace.server"];

/** The contributed settings, from package.json, whose server part is generated from the server's
 * settings (`make settings`; camelCase keys). */
const manifest = require("../package.json") as { contributes: { configuration: { properties: Record<string, unknown> } } };

/** The keys of the `perfedit` section that the server understands: its settings and the
 * editor-only ones (`needsConfirmation`, …). */
export const SERVER_KEYS: readonly string[] = Object.keys(manifest.contributes.configuration.properties)
  .map((key) => key.slice("perfedit.".length))
  .filter((key) => !EXTENSION_KEYS.includes(key));

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
