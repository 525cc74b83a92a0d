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
