// Unit tests of settings.ts: only the settings the user set reach the server.
import assert from "node:assert/strict";
import { test } from "node:test";
import { explicitValue, EXTENSION_KEYS, SERVER_KEYS, serverSettings, type Inspected } from "../settings";

test("the folder's value wins over the workspace's over the user's; defaults are not values", () => {
  assert.equal(explicitValue({ globalValue: 1, workspaceValue: 2, workspaceFolderValue: 3 }), 3);
  assert.equal(explicitValue({ globalValue: 1, workspaceValue: 2 }), 2);
  assert.equal(explicitValue({ globalValue: 1 }), 1);
  assert.equal(explicitValue({}), undefined);
  assert.equal(explicitValue(undefined), undefined);
});

test("only keys the user set, and only server keys, are sent", () => {
  const inspected: Record<string, Inspected> = {
    samples: { globalValue: 4 },
    runs: {},
    model: { workspaceValue: "smollm2-135m" },
    tests: { globalValue: "" }, // an emptied text box is no setting
    python: { globalValue: "/v/bin/python" }, // the extension's own
    needsConfirmation: { workspaceFolderValue: false },
  };
  assert.deepEqual(serverSettings((key) => inspected[key]), { samples: 4, model: "smollm2-135m", needsConfirmation: false });
});

test("the server keys are package.json's settings but the extension's own", () => {
  const manifest = require("../../package.json") as { contributes: { configuration: { properties: Record<string, unknown> } } };
  const contributed = Object.keys(manifest.contributes.configuration.properties);
  assert.deepEqual([...SERVER_KEYS, ...EXTENSION_KEYS].map((key) => `perfedit.${key}`).sort(), contributed.sort());
  assert.ok(SERVER_KEYS.includes("budgetSeconds") && SERVER_KEYS.includes("needsConfirmation"));
  assert.ok(!SERVER_KEYS.includes("python"));
});
