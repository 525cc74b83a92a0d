"""Compact prompts: docstrings left out of the code a prompt shows, the target's docstring put
back into a candidate written without it."""

import textwrap

from helpers.models import Recording
from perfedit.candidates.ask import faster_versions
from perfedit.candidates.compact import for_prompt, restore_docstring
from perfedit.candidates.model import to_candidate
from perfedit.config import Settings
from perfedit.targets import find

ORIGINAL = '''\
def pairs_close(numbers, threshold):
    """True if two of ``numbers`` are closer than ``threshold``.

    >>> pairs_close([1.0, 2.0, 3.1], 1.05)
    True
    """
    for i, a in enumerate(numbers):
        for j, b in enumerate(numbers):
            if i != j and abs(a - b) < threshold:  # the hot line
                return True
    return False
'''


def test_the_prompt_shows_the_code_without_its_docstring_and_maps_hot_lines():
    shown = for_prompt(ORIGINAL)
    assert '"""' not in shown.text and ">>>" not in shown.text
    assert "# the hot line" in shown.text  # comments stay
    hot_line = ORIGINAL.splitlines().index(
        "            if i != j and abs(a - b) < threshold:  # the hot line"
    )
    mapped = shown.hot_lines([(hot_line + 1, 0.5), (3, 0.1)])  # line 3 is in the docstring
    assert mapped == [(shown.text.splitlines().index(ORIGINAL.splitlines()[hot_line]) + 1, 0.5)]


def test_a_docstring_that_is_the_whole_body_or_shares_a_line_stays():
    only = 'def f():\n    """Only this."""\n'
    shared = 'def g(x):\n    "doc"; return x\n'
    assert for_prompt(only).text == only
    assert for_prompt(shared).text == shared
    assert for_prompt("def broken(:\n").text == "def broken(:\n"


def test_compact_off_shows_the_code_as_it_is():
    shown = for_prompt(ORIGINAL, compact=False)
    assert shown.text == ORIGINAL
    assert shown.hot_lines([(8, 0.5)]) == [(8, 0.5)]


def test_a_candidate_without_a_docstring_gets_the_originals_back():
    candidate = textwrap.dedent(
        """\
        def pairs_close(numbers, threshold):
            ordered = sorted(numbers)
            return any(b - a < threshold for a, b in zip(ordered, ordered[1:]))
        """
    )
    restored = restore_docstring(candidate, ORIGINAL, "pairs_close")
    assert restored.splitlines()[1:6] == ORIGINAL.splitlines()[1:6]
    assert "ordered = sorted(numbers)" in restored
    namespace: dict = {}
    exec(restored, namespace)
    assert namespace["pairs_close"].__doc__.startswith("True if two of")


def test_a_candidates_own_docstring_nested_functions_and_methods_are_left_alone():
    own = 'def pairs_close(numbers, threshold):\n    """Mine."""\n    return False\n'
    assert restore_docstring(own, ORIGINAL, "pairs_close") == own
    method = "class C:\n    def pairs_close(self):\n        return 1\n"
    assert restore_docstring(method, ORIGINAL, "pairs_close") == method
    assert restore_docstring("def other():\n    return 1\n", ORIGINAL, "pairs_close") == (
        "def other():\n    return 1\n"
    )


def test_a_reply_becomes_a_candidate_with_the_docstring(tmp_path):
    path = tmp_path / "close.py"
    path.write_text("import math\n\n\n" + ORIGINAL)
    target = find(path, path.read_text(), function="pairs_close")
    reply = "```python\ndef pairs_close(numbers, threshold):\n    s = sorted(numbers)\n    return any(b - a < threshold for a, b in zip(s, s[1:]))\n```"
    candidate = to_candidate(reply, target, "greedy")
    assert candidate.usable
    assert '    """True if two of ``numbers``' in candidate.source
    assert "import math" in candidate.source


def test_the_model_is_asked_without_the_docstring_unless_compact_prompt_is_off(tmp_path):
    path = tmp_path / "close.py"
    path.write_text(ORIGINAL)
    target = find(path, ORIGINAL, function="pairs_close")
    for compact, shown in ((True, False), (False, True)):
        model = Recording()
        settings = Settings(samples=0, compact_prompt=compact)
        list(faster_versions(model, target, settings, lambda: False))
        assert (">>> pairs_close" in model.asked[0]) is shown
