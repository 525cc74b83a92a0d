"""``perfedit lsp``'s start: ``initialize`` is answered before pygls is imported.

Importing the server takes about half a second, most of it lsprotocol's types, which pygls needs
(docs/results.md, "Server start-up"). So :func:`serve` imports it in a background thread, reads
the first frame itself with :mod:`~perfedit.lsp.framing` and, when that frame is an
``initialize`` request the stored answer fits (:mod:`~perfedit.lsp.initialize_result`), sends
that answer at once: the frame pygls would send. Once the server is imported, the frames read so
far go to pygls in order, the initialize request first, so that pygls records the client's
capabilities, workspace folders and initialization options (and runs the server's ``initialize``
handler); its answer to it is not sent again, and must be the very frame sent, or the server
stops (:func:`~perfedit.lsp.framing.serve_stdio`). Frames that arrive meanwhile wait in the pipe.
A first frame that is anything else waits for pygls like the rest.

This module and those it imports use only the standard library.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading

from perfedit.errors import EarlyAnswerMismatch
from perfedit.lsp.framing import Body, FrameReader, read_events, stdin_unbuffered
from perfedit.lsp.initialize_result import early_answer

logger = logging.getLogger(__name__)

#: The module that imports pygls, lsprotocol and the handlers.
SERVER_MODULE = "perfedit.lsp.server"


def serve() -> int:
    """Run the language server on stdin/stdout until ``exit`` or the end of input, answering
    ``initialize`` before the server is imported; returns the exit code: pygls' for ``exit`` (0
    after ``shutdown``, else 1), 0 at the end of input, 1 when pygls answered ``initialize``
    otherwise than the server did before it was ready."""
    importing = threading.Thread(
        target=importlib.import_module, args=(SERVER_MODULE,), name="perfedit-lsp-import"
    )
    importing.start()
    stdin, stdout = stdin_unbuffered(), sys.stdout.buffer
    frames = FrameReader()
    events = read_events(stdin, frames)
    answered = early_answer(events[0].data) if events and isinstance(events[0], Body) else None
    if answered is not None:
        stdout.write(answered.frame)
        stdout.flush()
    importing.join()
    from perfedit.lsp.server import serve as serve_pygls

    try:
        return serve_pygls(stdin, stdout, frames=frames, events=events, answered=answered)
    except EarlyAnswerMismatch as exc:
        logger.error("%s", exc)
        return 1
