"""A command on a Ray cluster ends with a word when the cluster goes away.

Ray's driver cannot outlive its cluster: when the head node dies, Ray ends the driver process
itself, with exit code 1 and at most a log line, or after a minute of silence. So a command
joining a cluster (``--executor ray --ray-address ...``) runs as a child process (the driver),
and this parent watches the head: when its port stops accepting connections, or the driver
ends with code 1 while the head is gone, the parent ends the driver, says what happened and
that the results written so far are kept (running the same command again resumes), and exits
with code 2. Everything else passes through: the child's output, its exit code, Ctrl-C (the
child handles it; the parent waits).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence

#: Set in the driver's environment, so that it runs the command instead of supervising again.
DRIVER_ENV = "PERFEDIT_RAY_DRIVER"
#: Seconds between two checks that the head still answers, and checks in a row that time out
#: before the head counts as gone (a refused connection counts at once: nothing listens there).
LIVENESS_S = 1.0
LIVENESS_TIMEOUTS = 10


def wanted(executor: str | None, address: str | None) -> bool:
    """Whether this process should supervise a driver: a Ray command that joins a cluster
    (a private instance, without ``address``, lives and dies with the process), and this
    process is not already the driver."""
    return executor == "ray" and bool(address) and not os.environ.get(DRIVER_ENV)


def _gone(head: tuple[str, int]) -> str | None:
    """Why ``head`` does not answer (None: it accepts a connection)."""
    try:
        socket.create_connection(head, timeout=LIVENESS_S).close()
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def supervise(
    argv: Sequence[str],
    head: tuple[str, int],
    *,
    say: Callable[[str], None],
    name: str,
) -> int:
    """``perfedit ARGV`` as a child driver, watched as the module docstring says; ``head`` is
    the cluster's (host, port) and ``name`` how the user named it. Returns the exit code."""
    driver = subprocess.Popen(
        [sys.executable, "-m", "perfedit", *argv], env={**os.environ, DRIVER_ENV: "1"}
    )
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the driver too
    try:
        timeouts, why = 0, None
        while why is None:
            try:
                code = driver.wait(timeout=LIVENESS_S)
            except subprocess.TimeoutExpired:
                code = None
            if code is not None and code != 1:  # 1 is also how Ray ends a driver it lost
                return code
            gone = _gone(head)
            if code == 1 and gone is None:
                return code
            timeouts = timeouts + 1 if gone == "timeout" else 0
            if gone and (gone != "timeout" or timeouts >= LIVENESS_TIMEOUTS or code == 1):
                why = gone if gone != "timeout" else f"no answer in {timeouts * LIVENESS_S:.0f} s"
        driver.terminate()
        try:
            driver.wait(timeout=30)
        except subprocess.TimeoutExpired:
            driver.kill()
            driver.wait()
        say(
            f"the Ray cluster at {name} stopped answering ({why}): its head node is gone or "
            "unreachable. The results written so far are kept; start the cluster again and run "
            "the same command to resume."
        )
        return 2
    finally:
        signal.signal(signal.SIGINT, previous)
