/**
 * Which Python runs the server, and whether perfedit is installed in it. No `vscode` import: the
 * unit tests run this module in plain Node.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/** The interpreter inside a virtual environment folder (`bin/python`, or `Scripts\python.exe`). */
export function venvPython(folder: string, platform: NodeJS.Platform = process.platform): string {
  return platform === "win32" ? path.join(folder, "Scripts", "python.exe") : path.join(folder, "bin", "python");
}

/**
 * The Python interpreter for `perfedit lsp`, from the `perfedit.python` setting: an interpreter,
 * or a virtual environment folder (`${workspaceFolder}` is expanded). Empty: `.venv` of the
 * workspace folder if it has one, else `python3` on the PATH.
 */
export function resolveInterpreter(
  setting: string,
  workspaceFolder: string | undefined,
  isDirectory: (p: string) => boolean = (p) => fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false,
  platform: NodeJS.Platform = process.platform,
): string {
  const configured = setting.trim().replace(/\$\{workspaceFolder\}/g, workspaceFolder ?? "");
  if (configured !== "") {
    return isDirectory(configured) ? venvPython(configured, platform) : configured;
  }
  const local = workspaceFolder === undefined ? undefined : path.join(workspaceFolder, ".venv");
  if (local !== undefined && isDirectory(local)) {
    return venvPython(local, platform);
  }
  return platform === "win32" ? "python" : "python3";
}

/** The command line that starts the server with `python`. */
export function serverCommand(python: string): { command: string; args: string[] } {
  return { command: python, args: ["-m", "perfedit", "lsp"] };
}

/** What `python -c "import perfedit"` gave: the version, or why perfedit cannot start there. */
export type Check = { ok: true; version: string } | { ok: false; message: string };

/** Runs a program and gives its exit status, output and spawn error (if it could not start). */
export type Runner = (
  command: string,
  args: string[],
) => Promise<{ code: number | null; stdout: string; stderr: string; error?: NodeJS.ErrnoException }>;

/** {@link Runner} on child_process.execFile, with a time limit of 30 s. */
export const execRunner: Runner = (command, args) =>
  new Promise((resolve) => {
    execFile(command, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      const spawnError = error && typeof error.code === "string" ? (error as NodeJS.ErrnoException) : undefined;
      const code = error ? (typeof error.code === "number" ? error.code : null) : 0;
      resolve({ code, stdout, stderr, error: spawnError });
    });
  });

/** How to make perfedit available to `python`: said in every failed {@link Check}. */
export function installAdvice(python: string): string {
  return (
    `Install it there with "${python} -m pip install perfedit" (in a perfedit checkout: ` +
    `"${python} -m pip install -e ."), or set "perfedit.python" to an interpreter or virtual ` +
    `environment that has it.`
  );
}

/** Checks that `python` runs and imports perfedit; a failure carries a message for the user. */
export async function checkPerfedit(python: string, run: Runner = execRunner): Promise<Check> {
  const result = await run(python, ["-c", "import perfedit; print(perfedit.__version__)"]);
  if (result.error?.code === "ENOENT") {
    return { ok: false, message: `The Python interpreter "${python}" was not found. ${installAdvice(python)}` };
  }
  if (result.error !== undefined) {
    return { ok: false, message: `Could not run "${python}": ${result.error.message}. ${installAdvice(python)}` };
  }
  if (result.code !== 0) {
    const lines = result.stderr.trim().split("\n");
    const last = lines[lines.length - 1] ?? "";
    const why = last.includes("ModuleNotFoundError") ? "is not installed" : `cannot be imported (${last})`;
    return { ok: false, message: `perfedit ${why} in "${python}". ${installAdvice(python)}` };
  }
  return { ok: true, version: result.stdout.trim() };
}
