-- Drives a real Neovim (0.11+) against `perfedit lsp`, configured as docs/editors/neovim.md says
-- (its block that renders the full report runs here as it is written there).
--
--   nvim --clean --headless -l neovim_e2e.lua FILE TEXT REPORT PYTHON OPTIONS_JSON TIMEOUT_S ANSWERS_JSON
--
-- Opens FILE, puts the cursor on the first line holding TEXT, asks for the perfedit code action
-- with `apply = true`, waits for the work-done progress to end and for the final message,
-- answering the server's questions (window/showMessageRequest, through Neovim's own handler and
-- vim.ui.select) with the action titles of ANSWERS_JSON in turn, writes the buffer, asks for a
-- hover on the function's `def` line and runs :PerfeditReport there. Everything it saw goes to
-- REPORT as JSON (the test asserts on it): progress values, questions, shown documents and how
-- they were shown, messages, the buffer text, the hover, the window :PerfeditReport opened.

vim.g.loaded_python3_provider = 0 -- no slow probe for a Python provider

local file, text, report_path, python, options_json, timeout_s, answers_json = unpack(arg)
local timeout_ms = tonumber(timeout_s) * 1000
local answers = vim.json.decode(answers_json)

local report = { progress = {}, messages = {}, questions = {}, documents = {}, errors = {} }

local function finish()
  local out = assert(io.open(report_path, "w"))
  out:write(vim.json.encode(report))
  out:close()
  vim.cmd("qall!")
end

-- Every message the server shows, recorded before Neovim's own handler echoes it.
local show_message = vim.lsp.handlers["window/showMessage"]
vim.lsp.handlers["window/showMessage"] = function(err, params, ctx)
  table.insert(report.messages, { message = params.message, type = params.type })
  return show_message(err, params, ctx)
end

-- The server's questions, recorded before Neovim's own handler asks them; the user's choice is
-- the next of `answers`, made where that handler asks: vim.ui.select, or inputlist outside a
-- coroutine.
local ask = vim.lsp.handlers["window/showMessageRequest"]
vim.lsp.handlers["window/showMessageRequest"] = function(err, params, ctx)
  local titles = {}
  for _, action in ipairs(params.actions or {}) do
    table.insert(titles, action.title)
  end
  table.insert(report.questions, { message = params.message, type = params.type, actions = titles })
  return ask(err, params, ctx)
end
vim.ui.select = function(items, _, on_choice)
  local want = table.remove(answers, 1)
  for _, item in ipairs(items) do
    if item.title == want then
      return on_choice(item)
    end
  end
  on_choice(nil)
end
vim.fn.inputlist = function(lines)
  local want = table.remove(answers, 1)
  for index = 3, #lines do
    if lines[index]:match("^%d+%. (.*)$") == want then
      return index - 2
    end
  end
  return 0
end
-- The documented block that shows the full report rendered (docs/editors/neovim.md), as written.
local here = vim.fs.dirname(debug.getinfo(1, "S").source:sub(2))
local docs = vim.fs.normalize(vim.fs.joinpath(here, "..", "..", "docs", "editors", "neovim.md"))
local documented = table.concat(vim.fn.readfile(docs), "\n")
local block = assert(
  documented:match("```lua\n(%-%- perfedit: the full report.-)\n```"),
  "no block rendering the report in " .. docs
)
assert(load(block, "@" .. docs))()

-- How the current window shows a document: the window :PerfeditReport or "Details" opened.
local function shown_window()
  local win = vim.api.nvim_get_current_win()
  return {
    floating = vim.api.nvim_win_get_config(win).relative ~= "",
    filetype = vim.bo.filetype,
    conceallevel = vim.wo[win].conceallevel,
    lines = vim.api.nvim_buf_get_lines(0, 0, 3, false),
  }
end

local show_document = vim.lsp.handlers["window/showDocument"]
vim.lsp.handlers["window/showDocument"] = function(err, params, ctx)
  local result = show_document(err, params, ctx)
  table.insert(report.documents, { uri = params.uri, shown = shown_window() })
  return result
end

vim.lsp.config("perfedit", {
  cmd = { python, "-m", "perfedit", "lsp" },
  filetypes = { "python" },
  root_markers = { "pyproject.toml", ".git" },
  init_options = vim.json.decode(options_json),
})
vim.lsp.enable("perfedit")

local progress_ended = false
vim.api.nvim_create_autocmd("LspProgress", {
  callback = function(ev)
    local value = ev.data.params.value
    table.insert(report.progress, {
      kind = value.kind,
      title = value.title,
      message = value.message or value.title,
      percentage = value.percentage,
    })
    if value.kind == "end" then
      progress_ended = true
    end
  end,
})

vim.cmd.edit(vim.fn.fnameescape(file))
vim.bo.filetype = "python"
local main_win = vim.api.nvim_get_current_win()
local buf = vim.api.nvim_get_current_buf()
local original = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n")

local function perfedit_client()
  return vim.lsp.get_clients({ bufnr = buf, name = "perfedit" })[1]
end

if not vim.wait(30000, function()
  local client = perfedit_client()
  return client ~= nil and client.initialized
end, 50) then
  table.insert(report.errors, "perfedit did not start and attach within 30 s")
  return finish()
end

-- The cursor on the line holding `text` (a plain search: no pattern characters).
local function goto_text()
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  return vim.fn.search("\\V" .. vim.fn.escape(text, "\\"), "c") > 0
end

assert(goto_text(), "no line holds " .. text)
-- The hover goes to the function's `def` line: the edit may remove the line holding `text`.
local def_line = vim.fn.search("\\v^\\s*(async\\s+)?def ", "bnc")
vim.lsp.buf.code_action({ context = { only = { "refactor.rewrite.perfedit" } }, apply = true })

if not vim.wait(timeout_ms, function()
  return progress_ended
end, 200) then
  table.insert(report.errors, ("the work-done progress did not end within %s s"):format(timeout_s))
elseif not vim.wait(60000, function() return #report.messages > 0 end, 50) then -- the outcome
  table.insert(report.errors, "no message after the progress ended")
end
vim.api.nvim_set_current_win(main_win) -- "Details" showed the report in a float, focused
vim.api.nvim_set_current_buf(buf)
report.edited = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n") ~= original
vim.cmd.write()
report.buffer = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n")

vim.api.nvim_win_set_cursor(0, { def_line, 0 })
local params = vim.lsp.util.make_position_params(0, perfedit_client().offset_encoding)
local hover = perfedit_client():request_sync("textDocument/hover", params, 30000, buf)
if hover and hover.result and hover.result.contents then
  report.hover = hover.result.contents.value
else
  table.insert(report.errors, "no hover: " .. vim.inspect(hover))
end

-- The hover's link to the full report, followed with the documented :PerfeditReport.
vim.cmd.PerfeditReport()
if vim.wait(30000, function() return vim.api.nvim_get_current_win() ~= main_win end, 50) then
  report.report_window = shown_window()
else
  table.insert(report.errors, ":PerfeditReport opened no window within 30 s")
end
finish()
