"""Candidate programs shared by several tests."""

#: A correct, much faster version of examples/script/seen_before.py (set instead of list).
FAST_SCRIPT = """\
import sys
data = sys.stdin.read().split()
seen = set()
out = []
for x in data[1:]:
    out.append("YES" if x in seen else "NO")
    seen.add(x)
print("\\n".join(out))
"""

#: A faster examples/dedupe ``unique_in_order`` that behaves as the original on every input
#: (unhashable items included, through the original's way).
FAITHFUL = """\
def unique_in_order(items):
    try:
        return list(dict.fromkeys(items))
    except TypeError:  # unhashable items: the original's way
        result = []
        for item in items:
            if item not in result:
                result.append(item)
        return result
"""

#: A slow function with type hints and no tests (differential testing alone judges it).
BUBBLE_SORT = """\
def sort_numbers(items: list[int]) -> list[int]:
    \"\"\"The items in ascending order, as a new list (bubble sort).\"\"\"
    result = list(items)
    for i in range(len(result)):
        for j in range(len(result) - 1 - i):
            if result[j] > result[j + 1]:
                result[j], result[j + 1] = result[j + 1], result[j]
    return result
"""


#: A quadratic duplicate search: every pair of positions compared.
QUADRATIC_DUPLICATES = '''\
def has_duplicate(numbers: list[int]) -> bool:
    """True if two of the numbers are equal."""
    for i in range(len(numbers)):
        for j in range(i + 1, len(numbers)):
            if numbers[i] == numbers[j]:
                return True
    return False
'''
