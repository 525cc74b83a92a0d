"""Conversions between the engine's values and LSP types: TextEdits in the client's position units,
the WorkspaceEdit, the code action, the code lenses and hover text of hot functions, the hover
and summary text, message severities, the command's result, and work-done progress percentages
(:class:`ProgressBar`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

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
#: The change annotation's id: a client that knows perfedit (its VS Code extension) marks an
#: unsafe suggestion's changes in its preview by it; the label and description say the rest.
ANNOTATION_ID, UNSAFE_ANNOTATION_ID = "perfedit", "perfedit.unsafe"


def kind_requested(only: Sequence[str] | None) -> bool:
    """True if ``context.only`` lets our kind through (a requested kind is a prefix of ours)."""
    return only is None or any(k == "" or f"{ACTION_KIND}.".startswith(f"{k}.") for k in only)


def text_edits(
    edits: Sequence[Edit], source: str, codec: PositionCodec, annotation: str | None
) -> list[types.TextEdit | types.AnnotatedTextEdit]:
    """The engine's edits (code-point columns in ``source``) in the client's position units,
    under the change annotation ``annotation`` (its id; None: plain TextEdits)."""
    from perfedit.targets import split_lines

    lines = split_lines(source)

    def position(at: tuple[int, int]) -> types.Position:
        return codec.position_to_client_units(lines, types.Position(line=at[0], character=at[1]))

    def convert(edit: Edit) -> types.TextEdit | types.AnnotatedTextEdit:
        where = types.Range(start=position(edit.start), end=position(edit.end))
        if annotation is not None:
            return types.AnnotatedTextEdit(
                range=where, new_text=edit.new_text, annotation_id=annotation
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
    """The suggestion as a versioned WorkspaceEdit under the change annotation ``perfedit``
    (``perfedit.unsafe`` for an unsafe suggestion), or the plainer forms a client without them
    accepts. The annotation's label is the headline
    ("unique_in_order: 17.1× faster · 2 tests pass"), its description what to know before
    applying (:attr:`~perfedit.job.pipeline.Suggestion.cautions`); it needs confirmation when
    ``needs_confirmation`` or when the suggestion is unsafe."""
    annotation_id = UNSAFE_ANNOTATION_ID if s.unsafe else ANNOTATION_ID
    annotated = annotates(capabilities)
    changes = text_edits(s.edits, source, codec, annotation_id if annotated else None)
    if not get_capability(capabilities, "workspace.workspace_edit.document_changes", False):
        # An AnnotatedTextEdit is a TextEdit in the LSP specification; lsprotocol does not subclass it.
        return types.WorkspaceEdit(changes={uri: changes})  # type: ignore[dict-item]
    annotation = types.ChangeAnnotation(
        label=f"{s.target.name}: {s.headline}",
        needs_confirmation=needs_confirmation or s.unsafe,
        description=" ".join(s.cautions) or f"Validated against {s.suite.describe()}.",
    )
    document = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
    return types.WorkspaceEdit(
        document_changes=[types.TextDocumentEdit(text_document=document, edits=changes)],
        change_annotations={annotation_id: annotation} if annotated else None,
    )


def annotates(capabilities: types.ClientCapabilities) -> bool:
    """True if the client shows change annotations (and so can preview an edit that needs
    confirmation: VS Code's Refactor Preview)."""
    return (
        get_capability(capabilities, "workspace.workspace_edit.change_annotation_support")
        is not None
    )


#: The choices of the decision message (``window/showMessageRequest``).
APPLY, APPLY_ANYWAY, SHOW_DIFF, DETAILS, DISCARD = (
    "Apply",
    "Apply anyway",
    "Show diff",
    "Details",
    "Discard",
)

Delivery = Literal["apply", "ask", "preview", "hold"]


def delivery(
    unsafe: bool, wants_confirmation: bool, capabilities: types.ClientCapabilities
) -> Delivery:
    """How a result reaches the document: "apply" at once (safe, and the user chose not to
    confirm; or a client that can neither ask nor preview, when it is safe), "ask" first with a
    message whose actions decide (:func:`decision_actions`), "preview" through the change
    annotation's confirmation (a client that previews but has no message actions), or "hold":
    not applied (unsafe, and the client can neither ask nor preview; the code action offers
    the edit again). An unsafe suggestion is never applied without the user's acceptance."""
    if not unsafe and not wants_confirmation:
        return "apply"
    if get_capability(capabilities, "window.show_message") is not None:
        return "ask"
    if annotates(capabilities):
        return "preview"
    return "hold" if unsafe else "apply"


def decision_actions(unsafe: bool, capabilities: types.ClientCapabilities) -> list[str]:
    """The actions of the decision message: Apply (for an unsafe suggestion only where the
    client cannot preview, as "Apply anyway": the message names the difference), Show diff
    (the preview, where the client has one), Details (the full report), Discard."""
    preview = annotates(capabilities)
    apply = [] if unsafe and preview else [APPLY_ANYWAY if unsafe else APPLY]
    return [*apply, *([SHOW_DIFF] if preview else []), DETAILS, DISCARD]


def decision_message(s: Suggestion) -> str:
    """The message that asks: the headline and the first thing to know before applying."""
    cautions = s.cautions
    return f"perfedit: {s.target.name} {s.headline}." + (f" {cautions[0]}" if cautions else "")


def outcome_message(s: Suggestion, outcome: str) -> str:
    """The final message: the headline and what became of the edit (``outcome``)."""
    return f"perfedit: {s.target.name} {s.headline}: {outcome}."


def code_action(
    uri: str,
    line: int | None,
    version: int | None,
    name: str,
    disabled: str | None,
    cached: tuple[Suggestion, types.WorkspaceEdit] | None,
    capabilities: types.ClientCapabilities,
) -> types.CodeAction | types.Command:
    """Our one action; with a ``cached`` result for this version of the document, the action
    that applies its edit instead. A client without ``disabled`` support gets it enabled
    (running it shows the reason), one without code action literals gets the bare command."""
    title = f"Suggest faster version of `{name}`"
    if cached is not None:
        title = f"Apply faster version of `{name}` ({cached[0].headline})"
    command = types.Command(title=title, command=COMMAND, arguments=[uri, line, version])
    if not get_capability(capabilities, "text_document.code_action.code_action_literal_support"):
        return command
    can_disable = get_capability(capabilities, "text_document.code_action.disabled_support", False)
    return types.CodeAction(
        title=title,
        kind=ACTION_KIND,
        disabled=types.CodeActionDisabled(reason=disabled) if disabled and can_disable else None,
        edit=cached[1] if cached else None,
        command=None if cached else command,
    )


#: At most this many lines in a hover on a function with a result (the rest is in the report).
HOVER_LINES = 12


def hover_markdown(s: Suggestion, applied: bool, report_uri: str | None) -> str:
    """What a person reads on hovering the function: the headline in plain words (before or
    after applying, ``applied``), why it is faster, what to know (at most two cautions), and a
    link to the full report (``report_uri``). Lines are kept to :data:`HOVER_LINES`."""
    heading = (
        f"**perfedit: faster `{s.target.name}` applied**: {s.headline}"
        if applied
        else f"**perfedit suggests a faster `{s.target.name}`**: {s.headline}"
    )
    parts = [heading]
    if s.reason:
        parts.append(f"**Why:** {s.reason}")
    cautions = s.cautions
    if cautions:
        parts.append("\n".join(f"- ⚠ {caution}" for caution in cautions[:2]))
    hidden = len(cautions) - 2
    more = f" ({hidden} more {'note' if hidden == 1 else 'notes'})" if hidden > 0 else ""
    if report_uri:
        parts.append(
            f"[Full report]({report_uri}){more}: timing statistics, memory, tests and the diff."
        )
    return "\n\n".join(parts)


def report_markdown(s: Suggestion, file: str) -> str:
    """The full report of ``s`` for the target in ``file`` as a Markdown page: the headline,
    what to know before applying, why, every measured fact (statistics, tests, memory, the
    machine's load) and the diff."""
    sections = [
        f"# perfedit: `{s.target.name}` in {file}\n\n**{s.headline}**",
        *(
            ["## Before you apply\n\n" + "\n".join(f"- {c}" for c in s.cautions)]
            if s.cautions
            else []
        ),
        *([f"## Why\n\n{s.reason}"] if s.reason else []),
        "## Measurements\n\n"
        + "\n".join(f"- {fact}" for fact in s.facts)
        + f"\n- Candidate: {s.winner.label}.",
        f"## Diff\n\n```diff\n{s.diff}```",
    ]
    return "\n\n".join(sections) + "\n"


def hover(*parts: str) -> types.Hover:
    """A Markdown hover of ``parts`` (:func:`hover_markdown`, :func:`profile_markdown`), ruled apart."""
    return types.Hover(
        contents=types.MarkupContent(
            kind=types.MarkupKind.Markdown, value="\n\n---\n\n".join(parts)
        )
    )


def applied_lens(uri: str, line: int, s: Suggestion) -> types.CodeLens:
    """The lens on a function whose suggestion was applied: says so, and offers to profile again."""
    where = types.Range(
        start=types.Position(line=line, character=0), end=types.Position(line=line, character=0)
    )
    title = f"Faster version applied ({s.winner.comparison.speedup if s.winner.comparison else 1:.1f}×) — Profile again"
    return types.CodeLens(
        range=where, command=types.Command(title=title, command=PROFILE_COMMAND, arguments=[uri])
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


def found(s: Suggestion, report: str) -> dict[str, Any]:
    """The command result's account of a suggestion (speedup, headline, whether it is unsafe,
    the full report's Markdown)."""
    return {
        "speedup": s.winner.comparison.speedup if s.winner.comparison else 1.0,
        "summary": f"perfedit: {s.target.name} {s.headline}",
        "unsafe": s.unsafe,
        "report": report,
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


#: The most the work-done percentage moves between two consecutive values, percentage points: a
#: twentieth of the bar, so that it passes through at least twenty values and reads as steady
#: movement; with the job's one-second tick a lagging bar closes up at this many points a second.
MAX_STEP = 5


class ProgressBar:
    """Work-done progress values for the reports of one job: a percentage that never goes back,
    keeps moving through every phase and moves at most :data:`MAX_STEP` points from one value to
    the next, also when a phase ends early.

    Each :class:`~perfedit.progress.Phase` owns its share of the bar. The bar is in the furthest
    phase reported so far; a report of an earlier phase (a model candidate validated while the
    next is generated) or of ``FOUND`` changes only the message. On entering a phase the rest of
    the bar, from where it stands to 100, is spread over the phases still to come in proportion
    to their shares: a phase that ended early (a rule's answer or the budget ended generation)
    hands its unused share on to the phases after it instead of making the bar jump over it.
    Inside its phase the bar follows the phase's count (completed/total) and, when :meth:`value`
    is asked between reports, time: towards, never to, the phase's end, the phase's share of the
    job's budget (``budget_s``, seconds) being its expected duration. It stops at 99 until the
    progress ends.
    """

    def __init__(self, budget_s: float, now_s: float) -> None:
        self.budget_s = budget_s
        self._phase: Phase | None = None
        self._from = 0.0  # where the bar stood when it entered its phase, percent
        self._span = 0.0  # the points of the bar its phase owns from there, percent
        self._counted = 0.0  # the fraction of its phase the count reached, 0–1
        self._since_s = now_s  # when the bar entered its phase (a monotonic clock), seconds
        self._percent = 0
        self._message = ""

    def report(
        self, phase: Phase, completed: float, total: float | None, detail: str, now_s: float
    ) -> types.WorkDoneProgressReport:
        """The value after an engine report made at ``now_s`` (seconds, a monotonic clock)."""
        # the explanation counts tokens of the model's reply: the bar shows them, the message not
        count = f" {completed:g}/{total:g}" if total and phase is not Phase.EXPLAINING else ""
        self._message = f"{phase.label}{count}: {detail}" if detail else f"{phase.label}{count}"
        if phase.share_percent and (
            self._phase is None or phase.start_percent > self._phase.start_percent
        ):
            self._enter(phase, now_s)
        if phase is self._phase and total:
            self._counted = max(self._counted, min(1.0, completed / total))
        return self.value(now_s)

    def _enter(self, phase: Phase, now_s: float) -> None:
        """Make ``phase`` the bar's phase: its share of what is left of the bar from here."""
        left = 100 - phase.start_percent  # the shares of this phase and those after it
        self._phase, self._counted, self._since_s = phase, 0.0, now_s
        self._from = float(self._percent)
        self._span = (100 - self._from) * phase.share_percent / left

    def value(self, now_s: float) -> types.WorkDoneProgressReport:
        """The value at ``now_s`` (seconds, the clock of :meth:`report`)."""
        if self._phase is not None:
            expected_s = self.budget_s * self._phase.share_percent / 100
            waited = 1 - math.exp(-(now_s - self._since_s) / expected_s)
            reached = int(self._from + self._span * max(self._counted, waited))
            self._percent = max(self._percent, min(99, self._percent + MAX_STEP, reached))
        return types.WorkDoneProgressReport(message=self._message, percentage=self._percent)
