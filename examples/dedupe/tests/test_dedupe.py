import random

from dedupe import unique_in_order

RNG = random.Random(0)
ITEMS = [RNG.randrange(1500) for _ in range(4000)]
EXPECTED = list(dict.fromkeys(ITEMS))


def test_small():
    assert unique_in_order([3, 1, 3, 2, 1]) == [3, 1, 2]
    assert unique_in_order([]) == []
    assert unique_in_order("abracadabra") == ["a", "b", "r", "c", "d"]


def test_large():
    assert unique_in_order(ITEMS) == EXPECTED
