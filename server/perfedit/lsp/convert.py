"""Conversions between the engine's values and LSP types: TextEdits in the client's position units,
the WorkspaceEdit, the code action, the code lenses and hover text of hot functions, the hover
and summary text, message severities, the command's result, and work-done progress percentages
(:class:`ProgressBar`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.workspace import PositionCodec

from perfedit.errors import Cancelled, InputError, NoCodeGenerated, NoFasterVersion, PerfeditError
from perfedit.progress import Phase

if TYPE_CHECKING:
    from perfedit.deliver.diffs import Edit
    from perfedit.job.pipeline import Suggestion
    from perfedit.testsource.profiling import FunctionProfile, Profile

COMMAND = "perfedit.suggest"
PROFILE_COMMAND = "perfedit.profile"
ACTION_KIND = "refactor.rewrite.perfedit"
ANNOTATION_ID = "perfedit"


def kind_requested(only: Sequence[str] | None) -> bool:
    """True if ``context.only`` lets our kind through (a requested kind is a prefix of ours)."""
    return only is None or any(k == "" or f"{ACTION_KIND}.".startswith(f"{k}.") for k in only)


def text_edits(
    edits: Sequence[Edit], source: str, codec: PositionCodec, annotated: bool
) -> list[types.TextEdit | types.AnnotatedTextEdit]:
    """The engine's edits (code-point columns in ``source``) in the client's position units."""
    from perfedit.targets import split_lines

    lines = split_lines(source)

    def position(at: tuple[int, int]) -> types.Position:
        return codec.position_to_client_units(lines, types.Position(line=at[0], character=at[1]))

    def convert(edit: Edit) -> types.TextEdit | types.AnnotatedTextEdit:
        where = types.Range(start=position(edit.start), end=position(edit.end))
        if annotated:
            return types.AnnotatedTextEdit(
                range=where, new_text=edit.new_text, annotation_id=ANNOTATION_ID
            )
        return types.TextEdit(range=where, new_text=edit.new_text)

    return [convert(edit) for edit in edits]


def workspace_edit(
    uri: str,
    version: int | None,
    s: Suggestion,
    source: str,
    codec: PositionCodec,
    capabilities: types.ClientCapabilities,
    needs_confirmation: bool,
) -> types.WorkspaceEdit:
    """The suggestion as a versioned WorkspaceEdit under the change annotation ``perfedit``, or the
    plainer forms a client without them accepts."""
    annotated = (
        get_capability(capabilities, "workspace.workspace_edit.change_annotation_support")
        is not None
    )
    changes = text_edits(s.edits, source, codec, annotated)
    if not get_capability(capabilities, "workspace.workspace_edit.document_changes", False):
        # An AnnotatedTextEdit is a TextEdit in the LSP specification; lsprotocol does not subclass it.
        return types.WorkspaceEdit(changes={uri: changes})  # type: ignore[dict-item]
    annotation = types.ChangeAnnotation(
        label="perfedit: faster version",
        needs_confirmation=needs_confirmation,
        description=s.facts[0],
    )
    document = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
    return types.WorkspaceEdit(
        document_changes=[types.TextDocumentEdit(text_document=document, edits=changes)],
        change_annotations={ANNOTATION_ID: annotation} if annotated else None,
    )


def code_action(
    uri: str,
    line: int | None,
    version: int | None,
    name: str,
    disabled: str | None,
    edit: types.WorkspaceEdit | None,
    capabilities: types.ClientCapabilities,
) -> types.CodeAction | types.Command:
    """Our one action; a client without ``disabled`` support gets it enabled (running it shows the
    reason), one without code action literals gets the bare command."""
    title = f"Suggest faster version of `{name}`"
    command = types.Command(title=title, command=COMMAND, arguments=[uri, line, version])
    if not get_capability(capabilities, "text_document.code_action.code_action_literal_support"):
        return command
    can_disable = get_capability(capabilities, "text_document.code_action.disabled_support", False)
    return types.CodeAction(
        title=title,
        kind=ACTION_KIND,
        disabled=types.CodeActionDisabled(reason=disabled) if disabled and can_disable else None,
        edit=edit,
        command=None if edit else command,
    )


def summary(s: Suggestion) -> str:
    """One line: the speedup with its 95% CI and the evidence (:func:`perfedit.deliver.explain.summary`)."""
    from perfedit.deliver.explain import summary

    return summary(s.target.name, s.winner)


def hover_markdown(s: Suggestion) -> str:
    """The measured facts, the model's reason and the diff, as Markdown."""
    facts = "\n".join(f"- {fact}" for fact in s.facts)
    why = f"\n\n**Why:** {s.reason}" if s.reason else ""
    return f"**perfedit: a faster `{s.target.name}`** ({s.winner.label})\n\n{facts}{why}\n\n```diff\n{s.diff}```"


def hover(*parts: str) -> types.Hover:
    """A Markdown hover of ``parts`` (:func:`hover_markdown`, :func:`profile_markdown`), ruled apart."""
    return types.Hover(
        contents=types.MarkupContent(
            kind=types.MarkupKind.Markdown, value="\n\n---\n\n".join(parts)
        )
    )


def time_of(profile: Profile) -> str:
    """What the profile's shares are of: "workload time" or "test time"."""
    return "workload time" if profile.workload else "test time"


def share_title(share: float, of: str = "test time") -> str:
    """The code lens's title for a function taking ``share`` (0-1) of the tests' (or ``of``) time."""
    return f"{share:.0%} of {of} — Suggest faster version"


def code_lens(
    uri: str, version: int | None, line: int, share: float, of: str = "test time"
) -> types.CodeLens:
    """A lens on the 0-based ``line`` (a hot function's first line) running the code action's
    command for the function there, in this version of the document; ``of``: what the share is
    of (:func:`time_of`)."""
    where = types.Range(
        start=types.Position(line=line, character=0), end=types.Position(line=line, character=0)
    )
    return types.CodeLens(
        range=where,
        command=types.Command(
            title=share_title(share, of), command=COMMAND, arguments=[uri, line, version]
        ),
    )


def profile_markdown(profile: Profile, f: FunctionProfile, name: str) -> str:
    """A hot function's share of the test (or workload) time, its tests (or calls) and hottest
    lines, as Markdown."""
    lines = ", ".join(f"line {h.line} ({h.s:.4f} s)" for h in f.hot_lines[:3])
    if profile.workload:
        reach = f"the workload `{profile.workload}` calls it {f.calls} time{'s' if f.calls != 1 else ''}"
    else:
        reach = f"{len(f.tests)} test{'s' if len(f.tests) != 1 else ''} reach it"
    text = (
        f"**perfedit profile: `{name}`** takes {profile.share(f):.0%} of {time_of(profile)} "
        f"({f.own_s:.4f} s in its own code, {f.cumulative_s:.4f} s with its calls; {reach})."
    )
    return text + (f"\n\nHot lines: {lines}." if lines else "")


def profiled(profile: Profile, hot: list[FunctionProfile]) -> dict[str, Any]:
    """The result of the ``perfedit.profile`` command: what ran and the hot functions."""
    return {
        "root": str(profile.root),
        **({"workload": profile.workload} if profile.workload else {}),
        "tests": 0 if profile.workload else len(profile.runs),
        "cached": profile.cached,
        "failed_tests": [run.node_id for run in profile.runs if run.outcome == "failed"],
        "hot": [
            {"file": f.file, "function": f.function, "line": f.line, "share": profile.share(f)}
            for f in hot
        ],
    }


def profile_summary(profile: Profile, hot: list[FunctionProfile]) -> str:
    """The message shown when a profile is ready."""
    failed = sum(run.outcome == "failed" for run in profile.runs)
    top = (
        "; ".join(f"{f.function} ({f.file}:{f.line}) {profile.share(f):.0%}" for f in hot[:3])
        or "no function stands out"
    )
    ran = (
        f"the workload `{profile.workload}`"
        if profile.workload
        else f"{len(profile.runs)} tests{f' ({failed} failed)' if failed else ''}"
    )
    return f"perfedit: profiled {ran}{' (from the cache)' if profile.cached else ''}; hot: {top}."


def found(s: Suggestion) -> dict[str, Any]:
    """The command result's account of a suggestion (speedup, summary line, hover Markdown)."""
    return {
        "speedup": s.winner.comparison.speedup if s.winner.comparison else 1.0,
        "summary": summary(s),
        "report": hover_markdown(s),
    }


def severity(exc: PerfeditError) -> types.MessageType:
    if isinstance(exc, Cancelled | NoFasterVersion):
        return types.MessageType.Info
    if isinstance(exc, InputError | NoCodeGenerated):
        return types.MessageType.Warning
    return types.MessageType.Error


def failure_message(exc: PerfeditError) -> tuple[str, str | None]:
    """(the message to show, the log message with every candidate's reason, or None)."""
    message = f"perfedit: {exc}"
    if not isinstance(exc, NoFasterVersion):
        return message, None
    reasons = [f"{label}: {reason}" for label, reason in exc.reasons.items()]
    shown = f"{message} {'; '.join(' '.join(r.split())[:160] for r in reasons[:3])}"
    return shown, "\n".join([message, *reasons])


class ProgressBar:
    """Work-done progress values for the reports of one job: a percentage that never goes back
    and keeps moving through every phase.

    Each :class:`~perfedit.progress.Phase` owns its share of the 0–100 bar from its
    ``start_percent``. The bar is in the furthest phase reported so far; a report of an earlier
    phase (a model candidate validated while the next is generated) or of ``FOUND`` changes only
    the message. Inside its phase the bar follows the phase's count (completed/total) and, when
    :meth:`value` is asked between reports, time: towards, never to, the phase's end, the phase's
    share of the job's budget (``budget_s``, seconds) being its expected duration. It stops at 99
    until the progress ends.
    """

    def __init__(self, budget_s: float, now_s: float) -> None:
        self.budget_s = budget_s
        self._phase: Phase | None = None
        self._counted = 0.0  # the fraction of its phase the count reached, 0–1
        self._since_s = now_s  # when the bar entered its phase (a monotonic clock), seconds
        self._percent = 0
        self._message = ""

    def report(
        self, phase: Phase, completed: float, total: float | None, detail: str, now_s: float
    ) -> types.WorkDoneProgressReport:
        """The value after an engine report made at ``now_s`` (seconds, a monotonic clock)."""
        count = f" {completed:g}/{total:g}" if total else ""
        self._message = f"{phase.label}{count}: {detail}" if detail else f"{phase.label}{count}"
        if phase.share_percent and (
            self._phase is None or phase.start_percent > self._phase.start_percent
        ):
            self._phase, self._counted, self._since_s = phase, 0.0, now_s
        if phase is self._phase and total:
            self._counted = max(self._counted, min(1.0, completed / total))
        return self.value(now_s)

    def value(self, now_s: float) -> types.WorkDoneProgressReport:
        """The value at ``now_s`` (seconds, the clock of :meth:`report`)."""
        if self._phase is not None:
            expected_s = self.budget_s * self._phase.share_percent / 100
            waited = 1 - math.exp(-(now_s - self._since_s) / expected_s)
            reached = self._phase.start_percent + self._phase.share_percent * max(
                self._counted, waited
            )
            self._percent = max(self._percent, min(99, int(reached)))
        return types.WorkDoneProgressReport(message=self._message, percentage=self._percent)
