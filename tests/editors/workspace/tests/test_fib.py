from fib import fib


def test_small():
    assert [fib(n) for n in range(8)] == [0, 1, 1, 2, 3, 5, 8, 13]


def test_large():
    assert fib(22) == 17711
