// Unit tests of interpreter.ts: which Python runs the server, and the messages when perfedit is
// missing there (checked against real processes: node itself, and a path that does not exist).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { checkPerfedit, resolveInterpreter, serverCommand, type Runner } from "../interpreter";

const folders = (...dirs: string[]) => (p: string) => dirs.includes(p);

test("a configured interpreter is used as it is, with ${workspaceFolder} expanded", () => {
  assert.equal(resolveInterpreter("/opt/py/bin/python3", "/ws", folders()), "/opt/py/bin/python3");
  assert.equal(resolveInterpreter("${workspaceFolder}/env/bin/python", "/ws", folders()), "/ws/env/bin/python");
});

test("a configured folder is a virtual environment: its bin/python, or Scripts\\python.exe on Windows", () => {
  assert.equal(resolveInterpreter("/ws/.env", "/ws", folders("/ws/.env"), "linux"), "/ws/.env/bin/python");
  assert.equal(resolveInterpreter("/ws/.env", "/ws", folders("/ws/.env"), "win32"), path.join("/ws/.env", "Scripts", "python.exe"));
});

test("with no setting: the workspace's .venv if it exists, else python3 on the PATH", () => {
  assert.equal(resolveInterpreter("", "/ws", folders("/ws/.venv"), "linux"), "/ws/.venv/bin/python");
  assert.equal(resolveInterpreter("  ", "/ws", folders(), "linux"), "python3");
  assert.equal(resolveInterpreter("", undefined, folders(), "linux"), "python3");
});

test("the real file system: a folder counts as a virtual environment", () => {
  const venv = fs.mkdtempSync(path.join(os.tmpdir(), "perfedit-venv-"));
  assert.equal(resolveInterpreter(venv, undefined), path.join(venv, "bin", "python"));
});

test("the server runs as python -m perfedit lsp", () => {
  assert.deepEqual(serverCommand("/v/bin/python"), { command: "/v/bin/python", args: ["-m", "perfedit", "lsp"] });
});

test("a missing interpreter is named, with how to install perfedit", async () => {
  const check = await checkPerfedit("/no/such/python");
  assert.equal(check.ok, false);
  assert.match(!check.ok ? check.message : "", /"\/no\/such\/python" was not found\. Install it there with "\/no\/such\/python -m pip install perfedit"/);
});

test("an interpreter without perfedit: 'not installed', and the fix", async () => {
  const missing: Runner = async () => ({
    code: 1,
    stdout: "",
    stderr: "Traceback (most recent call last):\n  File \"<string>\", line 1\nModuleNotFoundError: No module named 'perfedit'\n",
  });
  const check = await checkPerfedit("/usr/bin/python3", missing);
  assert.deepEqual(check, {
    ok: false,
    message:
      'perfedit is not installed in "/usr/bin/python3". Install it there with "/usr/bin/python3 -m pip install perfedit" ' +
      '(in a perfedit checkout: "/usr/bin/python3 -m pip install -e ."), or set "perfedit.python" to an interpreter or ' +
      "virtual environment that has it.",
  });
});

test("a program that runs but is not Python fails the check with its error", async () => {
  // node runs, but "-c" is not its option: a non-zero exit, reported as an import failure.
  const check = await checkPerfedit(process.execPath);
  assert.equal(check.ok, false);
  assert.match(!check.ok ? check.message : "", /^perfedit cannot be imported \(.*\) in ".*node"/);
});

test("an interpreter with perfedit gives its version", async () => {
  const ok: Runner = async (_command, args) => {
    assert.deepEqual(args, ["-c", "import perfedit; print(perfedit.__version__)"]);
    return { code: 0, stdout: "0.1.0\n", stderr: "" };
  };
  assert.deepEqual(await checkPerfedit("python3", ok), { ok: true, version: "0.1.0" });
});
