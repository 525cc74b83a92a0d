"""The perfedit language server: ``perfedit lsp`` on stdio (pygls 2).

Features:

* ``textDocument/codeAction`` — with the cursor in a function (or anywhere in a script that reads
  stdin), one action "Suggest faster version of `f`" of kind ``refactor.rewrite.perfedit``; it is
  disabled, with the reason, when no test covers the target. Its command is ``perfedit.suggest``
  with the arguments ``[uri, line, version]``; once a result for this version of the document is
  cached, the action carries that edit instead.
* ``workspace/executeCommand`` ``perfedit.suggest`` — runs :func:`perfedit.job.pipeline.suggest` in a
  thread, reports server-initiated work-done progress (a percentage that only moves forward, a
  few points at a time, from the engine's :class:`~perfedit.progress.Phase` reports), stops on
  ``window/workDoneProgress/cancel`` or ``$/cancelRequest``, and delivers the result with
  ``workspace/applyEdit``: a versioned ``TextDocumentEdit`` under the change annotation
  ``perfedit`` (``perfedit.unsafe`` for an unsafe suggestion; ``needsConfirmation`` opens VS
  Code's refactor preview), then a summary
  ``window/showMessage``. Nothing is applied if the document changed meanwhile. Returns
  ``{"applied": bool, "speedup": float, "summary": the shown message, "report": the hover's
  Markdown}`` or ``{"applied": false, "error": message, "cancelled": bool}`` (the VS Code
  extension keeps it for "perfedit: Show Last Result").
* ``textDocument/hover`` — on a function with a result (also once its edit is applied): the
  measured facts, the model's reason and the diff, as Markdown.

Positions go out in the negotiated encoding (UTF-16 unless the client prefers another) through
pygls' PositionCodec. Clients without ``documentChanges``, change annotations, disabled code
actions or code action literals get the plainer forms.

Settings: the project's ``[tool.perfedit]``, overridden by ``initializationOptions``, overridden by
the ``perfedit`` section of ``workspace/configuration``; keys are the fields of
:class:`perfedit.config.Settings` and :class:`perfedit.config.EditorSettings` in camelCase
(:func:`perfedit.config.editor_key`); ``python``, ``path`` and ``trace`` are the editor
extension's own and are skipped. Invalid settings are shown as a warning and ignored.

Malformed input never makes the server deaf: framing and parse errors are answered with -32700
and reading resyncs on the next header, params of the wrong type get -32602, and ``exit`` always
exits (:mod:`~perfedit.lsp.framing`).

Start-up: ``initialize`` is answered before pygls and lsprotocol are imported, from the answer
pygls gives, stored in the package (``make lsp-initialize`` regenerates it); pygls then handles
the same request and every later one (:mod:`~perfedit.lsp.start`). The engine (libcst, numpy,
scipy) is imported by the first code action or job.

Modules: :mod:`~perfedit.lsp.server` (the handlers), :mod:`~perfedit.lsp.start` (the start,
standard library only), :mod:`~perfedit.lsp.initialize_result` (the stored answer to
``initialize``), :mod:`~perfedit.lsp.framing` (the stdio transport),
:mod:`~perfedit.lsp.convert` (LSP types), :mod:`~perfedit.lsp.state` (options, running jobs,
results), :mod:`~perfedit.lsp.jobs` (the job in a thread: progress, cancellation, delivery).
"""
