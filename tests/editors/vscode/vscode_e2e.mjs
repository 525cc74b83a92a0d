// Drives real VS Code (code-server on 127.0.0.1) in Debian's Chromium with playwright-core, with
// the perfedit extension (.vsix) installed; run by tests/test_editor_vscode_e2e.py.
//
//   node vscode_e2e.mjs CONFIG_JSON
//
// CONFIG_JSON: {workspace, jobs: [{file, line, name, answers}], vsix, settings, artifacts, report,
// timeoutS, chromium}. For each job it opens `file` of the `workspace` folder, puts the cursor on
// `line` (1-based), runs the perfedit code action from the light bulb, watches the progress
// notification, reads the decision notification and answers it with `answers` in turn ("Details"
// opens the report rendered; "Show diff" opens the Refactor Preview, whose change icons and the
// notification beside it are read, where "Apply" ticks the file and applies, "Discard" discards). After the last job it saves, reads the code lens, hovers the
// function, opens the hover's full report and "perfedit: Show Last Result". What it saw goes to
// `report` (JSON) for the test to check; screenshots of every step go to `artifacts`. Exit
// status 0 if it got through every step.
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
const report = { steps: [], jobs: [], errors: [] };

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

let shots = 0;
/** A numbered screenshot of the current step. */
async function shot(name) {
  shots += 1;
  await screenshot(`${String(shots).padStart(2, "0")}-${name}`);
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

const editor = page.locator(".editor-instance .monaco-editor").first();

/** Makes `file` the active editor: its tab if it has one, else Quick Open. */
async function activate(file) {
  const tab = page.locator(".tabs-container .tab", { hasText: file });
  if ((await tab.count()) > 0) {
    await tab.first().click();
  } else {
    await page.keyboard.press("Control+P");
    await page.locator(".quick-input-widget input").fill(file);
    await page.locator(".quick-input-list .monaco-list-row", { hasText: file }).first().waitFor();
    await page.keyboard.press("Enter");
  }
  await page.locator(".tab.active", { hasText: file }).waitFor();
  await editor.locator(".view-lines", { hasText: "def " }).waitFor();
}

/** Opens `file` and puts the cursor on `line`, until the light bulb shows. */
async function cursorIn(file, line) {
  await activate(file);
  const bulb = page.locator(".lightBulbWidget");
  // VS Code now and then shows no light bulb for the first code-action answer after start; as a
  // user would, move to the line again (a new request) until the bulb shows, for at most 120 s
  // (the server and the extension start first)
  const bulbDeadline = Date.now() + 120_000;
  for (;;) {
    await editor.locator(".view-lines").click();
    await page.keyboard.press("Control+G");
    await page.locator(".quick-input-widget input").fill(`:${line}`);
    await page.keyboard.press("Enter");
    try {
      await bulb.waitFor({ timeout: 15_000 });
      return bulb;
    } catch (error) {
      if (Date.now() > bulbDeadline) throw error;
    }
  }
}

/** The notification toast holding `text`. */
function toast(text) {
  return page.locator(".notification-toast", { hasText: text });
}

/** Runs one job: the action, its progress, the decision and the answers. */
async function runJob(job) {
  const seen = { file: job.file, progress: [], questions: [] };
  report.jobs.push(seen);
  step(`${job.file}: put the cursor in the function`);
  const bulb = await cursorIn(job.file, job.line);
  await shot(`${job.name}-light-bulb`);
  await bulb.click();
  const action = page.locator(".action-widget .monaco-list-row", { hasText: "Suggest faster version" });
  await action.waitFor();
  seen.action = (await action.innerText()).trim();
  await shot(`${job.name}-code-action`);
  await page.keyboard.press("Enter"); // the action is focused; a click would hit VS Code's pointer block

  step(`${job.file}: progress notification`);
  const progress = toast("perfedit: speeding up");
  await progress.waitFor({ timeout: 120_000 });
  await shot(`${job.name}-progress`);
  const question = toast(`perfedit: ${job.name} `).filter({ has: page.locator(".monaco-button") });
  const deadline = Date.now() + timeoutMs;
  while (!(await question.first().isVisible())) {
    if (await progress.first().isVisible()) {
      const text = (await progress.first().innerText().catch(() => "")).trim();
      if (text && text !== seen.progress[seen.progress.length - 1]) seen.progress.push(text);
    }
    const failed = page.locator(".notification-toast", { hasText: /perfedit: (no faster|cancelled)/ });
    if (await failed.first().isVisible()) throw new Error(`the job ended without a result: ${await failed.first().innerText()}`);
    if (Date.now() > deadline) throw new Error(`no decision within ${config.timeoutS} s`);
    await page.waitForTimeout(500);
  }

  for (const answer of job.answers) {
    step(`${job.file}: decide: ${answer}`);
    const asked = question.first();
    await asked.waitFor();
    seen.questions.push({
      message: (await asked.locator(".notification-list-item-message").innerText()).trim(),
      actions: (await asked.locator(".monaco-button").allInnerTexts()).map((t) => t.trim()).filter(Boolean),
    });
    await shot(`${job.name}-decision`);
    await asked.getByRole("button", { name: answer, exact: true }).click();
    if (answer === "Details") {
      await page.locator(".tab", { hasText: `Preview perfedit-${job.file.replace(".py", "")}-` }).waitFor();
      seen.details = true;
      await page.waitForTimeout(3000); // the preview renders
      await shot(`${job.name}-details`);
    } else if (answer === "Show diff") {
      const apply = page.getByRole("button", { name: "Apply", exact: true });
      await apply.waitFor({ timeout: 60_000 });
      const rows = page.locator(".bulk-edit-panel .monaco-list-row");
      seen.preview = (await page.locator(".bulk-edit-panel").first().innerText()).trim();
      // Each change's icon (a codicon: warning for an unsafe suggestion, zap for a safe one).
      seen.previewIcons = await page.locator(".bulk-edit-panel .monaco-list-row .theme-icon").evaluateAll((elements) =>
        elements.flatMap((e) => [...e.classList].filter((c) => /^codicon-./.test(c)).map((c) => c.slice("codicon-".length))),
      );
      // The headline, in a notification while the preview waits for the decision.
      const notice = toast("review it in the Refactor Preview");
      await notice.first().waitFor({ timeout: 10_000 }).catch(() => {});
      const noticeMessage = notice.first().locator(".notification-list-item-message");
      seen.previewNotice = (await noticeMessage.innerText().catch(() => "")).trim();
      await shot(`${job.name}-preview-notice`);
      // The change annotation (label and description) is each change's hover in the preview.
      seen.previewLabels = await rows.evaluateAll((elements) =>
        elements.flatMap((e) => [e.getAttribute("aria-label"), ...[...e.querySelectorAll("[title]")].map((t) => t.getAttribute("title"))]).filter(Boolean),
      );
      await rows.last().locator(".monaco-icon-label, .label-name, span").first().hover();
      const annotation = page.locator(".workbench-hover, .monaco-hover, .custom-hover", { hasText: "faster" });
      await annotation.first().waitFor({ timeout: 10_000 }).catch(() => {});
      seen.previewHover = (await annotation.allInnerTexts().catch(() => [])).map((t) => t.trim());
      await shot(`${job.name}-refactor-preview`);
      if (job.preview === "Apply") {
        // Edits under a needsConfirmation annotation come unchecked: tick the file, then Apply.
        const file = page.locator(".bulk-edit-panel .monaco-list-row", { hasText: job.file }).getByRole("checkbox").first();
        await file.check(); // clicks, then verifies that it is checked
        await apply.click();
      } else {
        await page.getByRole("button", { name: "Discard", exact: true }).click();
      }
    }
  }
  step(`${job.file}: outcome`);
  const outcome = toast(`perfedit: ${job.name} `).filter({ hasText: /: (applied|not applied|discarded)/ });
  await outcome.first().waitFor({ timeout: 60_000 });
  seen.outcome = (await outcome.first().innerText()).trim();
  seen.status = await statusText();
  await shot(`${job.name}-outcome`);
}

try {
  const url = await address;
  step("open VS Code");
  await page.goto(`${url}/?folder=${encodeURIComponent(config.workspace)}`);
  await page.locator(".monaco-workbench").waitFor({ timeout: 120_000 });
  await page.locator(".explorer-folders-view, .explorer-viewlet").first().waitFor({ timeout: 120_000 });

  for (const job of config.jobs) {
    await runJob(job);
  }
  const last = config.jobs[config.jobs.length - 1];

  step("save");
  await activate(last.file);
  await editor.locator(".view-lines", { hasText: "functools.cache" }).waitFor();
  await editor.locator(".view-lines").click();
  await page.keyboard.press("Control+S");
  await page.locator(".tab.active.dirty").waitFor({ state: "detached" });

  step("the code lens");
  const lens = page.locator(".codelens-decoration", { hasText: "applied" });
  await lens.first().waitFor({ timeout: 60_000 }).catch(() => {});
  report.codeLens = (await page.locator(".codelens-decoration").allInnerTexts()).map((t) => t.trim());
  await shot("code-lens");

  step("hover the function");
  await editor.locator(".view-line span", { hasText: new RegExp(`^${last.name}$`) }).first().hover();
  const hover = page.locator(".monaco-hover", { hasText: "perfedit" });
  await hover.waitFor();
  report.hover = (await hover.innerText()).trim();
  await shot("hover");

  step("open the full report from the hover");
  await hover.getByRole("link", { name: "Full report" }).click();
  await page.locator(".tab", { hasText: `Preview perfedit-${last.file.replace(".py", "")}-` }).waitFor();
  report.reportOpened = true;
  await page.waitForTimeout(3000); // the preview renders
  await shot("full-report");

  step("show the last result");
  await runCommand("perfedit: Show Last Result");
  await page.locator(".tab", { hasText: "Preview last-result.md" }).waitFor();
  report.lastResultRendered = (await page.locator(".editor-instance .monaco-editor .view-lines", { hasText: "# perfedit" }).count()) === 0;
  await page.waitForTimeout(3000); // the preview renders
  await shot("last-result");
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
  fs.rmSync(home, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 }); // code-server may still be writing
}
process.exit(report.errors.length === 0 ? 0 : 1);
