// Drives real VS Code (code-server on 127.0.0.1) in Debian's Chromium with playwright-core, with
// the perfedit extension (.vsix) installed; run by tests/test_editor_vscode_e2e.py.
//
//   node vscode_e2e.mjs CONFIG_JSON
//
// CONFIG_JSON: {workspace, file, line, vsix, settings, artifacts, report, timeoutS, chromium}.
// It opens `file` of the `workspace` folder, puts the cursor on `line` (1-based), runs the perfedit
// code action from the light bulb, watches the status bar, applies the edit in the Refactor
// Preview, saves, hovers the function and opens "perfedit: Show Last Result". What it saw goes to
// `report` (JSON) for the test to check; screenshots go to `artifacts`. Exit status 0 if it got
// through every step.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const codeServer = path.join(here, "node_modules", ".bin", "code-server");
const config = JSON.parse(process.argv[2]);
const timeoutMs = config.timeoutS * 1000;
const report = { steps: [], status: [], errors: [] };

fs.mkdirSync(config.artifacts, { recursive: true });
const home = fs.mkdtempSync(path.join(os.tmpdir(), "perfedit-code-server-"));
const userData = path.join(home, "user-data");
const extensions = path.join(home, "extensions");

function step(name) {
  report.steps.push(name);
  console.log(`step: ${name}`);
}

// code-server keeps its config and data under `home` (the server it starts must keep the real
// HOME: the models are in its cache).
const codeServerEnv = { ...process.env, XDG_CONFIG_HOME: path.join(home, "config"), XDG_DATA_HOME: path.join(home, "data") };

/** code-server's own command line, with its state kept in `home`. */
function codeServerArgs(...args) {
  return ["--user-data-dir", userData, "--extensions-dir", extensions, ...args];
}

/** Starts code-server on a free port of 127.0.0.1; resolves to its address once it listens. */
function startCodeServer() {
  const server = spawn(
    codeServer,
    codeServerArgs(
      "--bind-addr", "127.0.0.1:0", "--auth", "none", "--disable-telemetry", "--disable-update-check",
      "--disable-workspace-trust", "--disable-getting-started-override", "--ignore-last-opened",
      config.workspace,
    ),
    { env: codeServerEnv, stdio: ["ignore", "pipe", "pipe"] },
  );
  const log = fs.createWriteStream(path.join(config.artifacts, "code-server.log"));
  server.stdout.pipe(log);
  server.stderr.pipe(log);
  const address = new Promise((resolve, reject) => {
    let seen = "";
    server.stdout.on("data", (chunk) => {
      seen += chunk;
      const match = /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(seen);
      if (match) resolve(match[1]);
    });
    server.on("exit", (code) => reject(new Error(`code-server exited with ${code} before listening`)));
  });
  return { server, address };
}

const settings = {
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "extensions.autoUpdate": false,
  "extensions.autoCheckUpdates": false,
  "extensions.ignoreRecommendations": true,
  "telemetry.telemetryLevel": "off",
  "update.mode": "none",
  "chat.disableAIFeatures": true,
  "editor.lightbulb.enabled": "on",
  "editor.hover.delay": 100,
  "files.autoSave": "off",
  ...config.settings,
};
fs.mkdirSync(path.join(userData, "User"), { recursive: true });
fs.writeFileSync(path.join(userData, "User", "settings.json"), JSON.stringify(settings, null, 2));

step("install the extension");
const install = spawnSync(codeServer, codeServerArgs("--install-extension", config.vsix), {
  env: codeServerEnv,
  encoding: "utf-8",
});
if (install.status !== 0) {
  throw new Error(`code-server --install-extension failed: ${install.stdout}${install.stderr}`);
}

const { server, address } = startCodeServer();
const browser = await chromium.launch({
  executablePath: config.chromium,
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps",
  ],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
page.setDefaultTimeout(60_000);

async function screenshot(name) {
  await page.screenshot({ path: path.join(config.artifacts, `${name}.png`) });
}

/** The text of the perfedit status-bar item, or "" if it is not shown. */
async function statusText() {
  const items = page.locator(".statusbar-item", { hasText: "perfedit" });
  return (await items.count()) > 0 ? (await items.first().innerText()).trim() : "";
}

/** Runs a command from the command palette (F1). */
async function runCommand(title) {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.fill(`>${title}`);
  await page.locator(".quick-input-list .monaco-list-row", { hasText: title }).first().waitFor();
  await page.keyboard.press("Enter");
}

try {
  const url = await address;
  step("open VS Code");
  await page.goto(`${url}/?folder=${encodeURIComponent(config.workspace)}`);
  await page.locator(".monaco-workbench").waitFor({ timeout: 120_000 });
  await page.locator(".explorer-folders-view, .explorer-viewlet").first().waitFor({ timeout: 120_000 });

  step("open the file");
  await page.keyboard.press("Control+P");
  await page.locator(".quick-input-widget input").fill(config.file);
  await page.locator(".quick-input-list .monaco-list-row", { hasText: config.file }).first().waitFor();
  await page.keyboard.press("Enter");
  const editor = page.locator(".editor-instance .monaco-editor").first();
  await editor.locator(".view-lines", { hasText: "def " }).waitFor();

  step("put the cursor in the function");
  const bulb = page.locator(".lightBulbWidget");
  // VS Code now and then shows no light bulb for the first code-action answer after start; as a
  // user would, move to the line again (a new request) until the bulb shows, for at most 120 s
  // (the server and the extension start first)
  const bulbDeadline = Date.now() + 120_000;
  for (;;) {
    await editor.locator(".view-lines").click();
    await page.keyboard.press("Control+G");
    await page.locator(".quick-input-widget input").fill(`:${config.line}`);
    await page.keyboard.press("Enter");
    try {
      await bulb.waitFor({ timeout: 15_000 });
      break;
    } catch (error) {
      if (Date.now() > bulbDeadline) throw error;
    }
  }

  step("open the light bulb");
  await screenshot("1-light-bulb");
  await bulb.click();
  const action = page.locator(".action-widget .monaco-list-row", { hasText: "Suggest faster version" });
  await action.waitFor();
  report.action = (await action.innerText()).trim();
  await screenshot("2-code-action");
  await page.keyboard.press("Enter"); // the action is focused; a click would hit VS Code's pointer block

  step("progress in the status bar");
  await page.waitForFunction(
    () => [...document.querySelectorAll(".statusbar-item")].some((e) => /perfedit: .*%/.test(e.textContent ?? "")),
    undefined,
    { timeout: 120_000 },
  );
  report.status.push(await statusText());
  await screenshot("3-progress");

  step("accept the edit in the Refactor Preview");
  const apply = page.getByRole("button", { name: "Apply", exact: true });
  const deadline = Date.now() + timeoutMs;
  while (!(await apply.isVisible())) {
    const text = await statusText();
    if (text && text !== report.status[report.status.length - 1]) report.status.push(text);
    if (/perfedit: (no result|cancelled)/.test(text)) throw new Error(`the job ended without an edit: ${text}`);
    if (Date.now() > deadline) throw new Error(`no Refactor Preview within ${config.timeoutS} s`);
    await page.waitForTimeout(500);
  }
  // Edits under a needsConfirmation annotation come unchecked: tick the file, then Apply.
  const file = page.locator(".monaco-list-row", { hasText: config.file }).getByRole("checkbox").first();
  await file.check(); // clicks, then verifies that it is checked
  await screenshot("4-refactor-preview");
  await apply.click();
  await editor.locator(".view-lines", { hasText: "functools.cache" }).waitFor();

  step("save");
  await editor.locator(".view-lines").click();
  await page.keyboard.press("Control+S");
  await page.locator(".tab.active.dirty").waitFor({ state: "detached" });
  await page.locator(".statusbar-item", { hasText: "faster" }).waitFor();
  report.status.push(await statusText());
  await screenshot("5-applied");

  step("hover the function");
  await editor.locator(".view-line span", { hasText: /^fib$/ }).first().hover();
  const hover = page.locator(".monaco-hover", { hasText: "perfedit: a faster" });
  await hover.waitFor();
  report.hover = (await hover.innerText()).trim();
  await screenshot("6-hover");
  await page.keyboard.press("Escape");

  step("show the last result");
  await runCommand("perfedit: Show Last Result");
  const page2 = page.locator(".editor-instance .monaco-editor .view-lines", { hasText: "# perfedit" });
  await page2.waitFor();
  report.lastResult = (await page2.innerText()).trim();
  await screenshot("7-last-result");
  step("done");
} catch (error) {
  report.errors.push(String(error?.stack ?? error));
  await screenshot("failure").catch(() => {});
  // What the user would read: the notifications (the server's messages).
  await runCommand("Notifications: Show Notifications").catch(() => {});
  report.notifications = await page.locator(".notifications-center .notification-list-item").allInnerTexts().catch(() => []);
} finally {
  const logs = fs.readdirSync(path.join(userData, "logs"), { recursive: true }).filter((f) => /output_logging.*perfedit/.test(f));
  for (const log of logs) {
    fs.copyFileSync(path.join(userData, "logs", log), path.join(config.artifacts, "perfedit-output.log")); // the output channel
  }
  fs.writeFileSync(config.report, JSON.stringify(report, null, 2));
  await browser.close();
  server.kill();
  fs.rmSync(home, { recursive: true, force: true });
}
process.exit(report.errors.length === 0 ? 0 : 1);
