"""perfedit's exceptions, all in one place.

Every error a user can meet says what happened and what to do next. The hierarchy::

    PerfeditError
    ├── InputError (ValueError)           the user's input cannot be used as it is
    │   ├── SourceSyntaxError             the file does not parse
    │   ├── TargetNotFound (LookupError)  no such function / no function at the cursor
    │   ├── NoTestsFound                  nothing exercises the target
    │   ├── OriginalFailsTests            the tests fail before any change
    │   ├── ProfilingFailed               the profiled test run could not finish
    │   ├── ConfigError                   an invalid [tool.perfedit] / LSP setting
    │   ├── ExecutorUnavailable           --executor ray without Ray installed, or no cluster there
    │   │   ├── ClusterTooSmall           the Ray cluster cannot host the model and run the units
    │   │   └── ClusterStalled            nothing progressed on the cluster, or it went away
    │   └── MissingExtra                  a command needs an extra that is not installed (train)
    ├── ModelError
    │   ├── ModelMissing (FileNotFoundError)   weights not on this machine
    │   └── ModelIntegrityError                a download failed its size / SHA-256 check
    ├── NoCodeGenerated                   the model replied without usable code
    ├── NoFasterVersion                   every candidate was rejected or not faster
    ├── SandboxError (RuntimeError)       the harness itself failed (not the candidate)
    ├── ExecutorError (RuntimeError)      a unit of work died on the cluster after its retries
    ├── EarlyAnswerMismatch (RuntimeError)  pygls answers initialize otherwise than the server did
    └── Cancelled                         the user cancelled the job

Only the CLI and the language server turn these into exit codes and messages.
"""

from __future__ import annotations


class PerfeditError(Exception):
    """Base of every error perfedit raises on purpose."""


class InputError(PerfeditError, ValueError):
    """The user's input (file, function, tests, settings) cannot be used as it is."""


class SourceSyntaxError(InputError):
    """The source file does not parse; nothing can be suggested until it does."""


class TargetNotFound(InputError, LookupError):
    """The named function does not exist, or the cursor is not inside a function."""


class NoTestsFound(InputError):
    """No pytest test, doctest or input/output case exercises the target."""


class OriginalFailsTests(InputError):
    """The tests fail on the unmodified original, so they cannot judge a candidate."""


class ProfilingFailed(InputError):
    """The profiled run of the project's tests could not finish (collection error, timeout, crash)."""


class WorkloadFailed(InputError):
    """The workload command cannot be profiled: it is not a Python command of the project, it
    failed, ran past its time limit, started processes or read stdin."""


class ConfigError(InputError):
    """A setting has an invalid value."""


class ExecutorUnavailable(InputError):
    """The chosen executor cannot run: Ray is not installed (``pip install 'perfedit[ray]'``)
    or the Ray cluster at the given address cannot be reached."""


class ClusterTooSmall(ExecutorUnavailable):
    """The Ray cluster has too few CPUs to host the model and still run the units of work (each
    model host reserves a CPU of its node); the message names the nodes and what to change."""


class ClusterStalled(ExecutorUnavailable):
    """Nothing progressed on the Ray cluster for the stall timeout (units waiting for resources
    no node frees, a model host that never started), or every model host went away; the results
    written so far are kept, so running the same command again resumes."""


class MissingExtra(InputError):
    """A command needs one of perfedit's optional parts (``pip install 'perfedit[train]'``),
    which is not installed."""


class ModelError(PerfeditError):
    """The model could not be found, fetched or loaded."""


class ModelMissing(ModelError, FileNotFoundError):
    """The model's weights are not on this machine (run `perfedit model pull`)."""


class ModelIntegrityError(ModelError):
    """A downloaded model file failed its size or SHA-256 check and was not used."""


class NoCodeGenerated(PerfeditError):
    """The model's replies contained no code that could replace the target."""


class NoFasterVersion(PerfeditError):
    """Every candidate was rejected or was not significantly faster.

    ``reasons`` maps each candidate's label to why it was not chosen, ``verdicts`` to its
    verdict ("rejected" or "not_faster": correct but not significantly faster).
    """

    def __init__(self, message: str, reasons: dict[str, str], verdicts: dict[str, str]) -> None:
        super().__init__(message)
        self.reasons = reasons
        self.verdicts = verdicts


class SandboxError(PerfeditError, RuntimeError):
    """The validation harness itself failed (a bug or a broken environment, not the candidate)."""


class ExecutorError(PerfeditError, RuntimeError):
    """A unit of work sent to the cluster died (worker or node lost) on every attempt."""


class EarlyAnswerMismatch(PerfeditError, RuntimeError):
    """``perfedit lsp`` answered ``initialize`` before pygls was ready, and pygls' own answer,
    once it was, is a different frame: pygls rejects the client's params, or the stored answer
    (perfedit/lsp/initialize_result.json) is stale. The server stops: the client was told
    something else than what pygls works with."""


class Cancelled(PerfeditError):
    """The job, or one step of it, was stopped before it finished: cancelled by the user, or
    (a validation inside a job) stopped because the job's time budget was spent."""
