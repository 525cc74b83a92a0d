"""Selection: the fastest significant candidate wins; near-ties go to the smaller diff."""

from perfedit.verify.selection import choose
from perfedit.verify.timing import Comparison
from perfedit.verify.validate import Verdict


def verdict(label: str, kind: str, speedup: float = 1.0) -> Verdict:
    comparison = Comparison(
        1.0, 1 / speedup, speedup, (speedup * 0.9, speedup * 1.1), 0.001, kind == "faster"
    )
    return Verdict(label, kind, "", 2, 2, None if kind == "rejected" else comparison)


def test_fastest_faster_candidate_wins():
    verdicts = [
        verdict("a", "faster", 1.5),
        verdict("b", "faster", 3.0),
        verdict("c", "not_faster", 5.0),
        verdict("d", "rejected"),
    ]
    assert choose(verdicts, {"a": 1, "b": 9, "c": 1, "d": 1}).label == "b"


def test_near_tie_goes_to_smaller_diff():
    verdicts = [verdict("big", "faster", 3.0), verdict("small", "faster", 2.97)]
    assert choose(verdicts, {"big": 12, "small": 2}).label == "small"
    verdicts = [verdict("big", "faster", 3.0), verdict("small", "faster", 2.5)]
    assert choose(verdicts, {"big": 12, "small": 2}).label == "big"


def test_no_faster_candidate():
    assert (
        choose([verdict("a", "not_faster", 1.05), verdict("b", "rejected")], {"a": 1, "b": 1})
        is None
    )
