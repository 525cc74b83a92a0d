"""Minimal line edits: applying them to the original reproduces the candidate exactly."""

from hypothesis import given
from hypothesis import strategies as st

from perfedit.deliver.diffs import Edit, changed_lines, line_edits, unified_diff
from perfedit.targets import split_lines


def apply(text: str, edits: list[Edit]) -> str:
    """Apply non-overlapping edits (code-point columns) from last to first."""
    lines = split_lines(text)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def offset(position: tuple[int, int]) -> int:
        line, column = position
        return offsets[line] + column if line < len(lines) else offsets[-1] + column

    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        text = text[: offset(edit.start)] + edit.new_text + text[offset(edit.end) :]
    return text


LINES = st.lists(
    st.sampled_from(
        [
            "a = 1\n",
            "b = [x for x in é]\n",
            "  →return 2\n",
            "\n",
            "z = '日本'\r\n",
            "# \x0c\u2028 kept\n",
            "q",
        ]
    ),
    max_size=8,
)


@given(LINES, LINES)
def test_edits_reproduce_candidate(old_lines, new_lines):
    old, new = "".join(old_lines), "".join(new_lines)
    assert apply(old, line_edits(old, new)) == new


def test_unchanged_lines_are_not_touched():
    old = "def f(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n"
    new = "def f(xs):\n    return sum(xs)\n"
    edits = line_edits(old, new)
    assert len(edits) == 1 and edits[0].start == (1, 0) and edits[0].end == (5, 0)


def test_last_line_without_newline_ends_inside_it():
    edits = line_edits("x = 1\ny = 'é'", "x = 1\ny = 'ü'")
    assert edits == [Edit((1, 0), (1, 7), "y = 'ü'")]


def test_unified_diff_and_size():
    diff = unified_diff("a\nb\nc\n", "a\nB\nc\n", "m.py")
    assert diff.startswith("--- a/m.py\n+++ b/m.py\n")
    assert changed_lines(diff) == 2
    assert unified_diff("same\n", "same\n", "m.py") == ""


def test_only_lsp_line_breaks_split_lines():
    assert split_lines("a\x0cb\u2028c\r\nd\re\nf") == ["a\x0cb\u2028c\r\n", "d\r", "e\n", "f"]
    assert split_lines("") == [] and split_lines("x\n") == ["x\n"]
