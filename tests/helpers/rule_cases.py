"""One example per rule of the catalogue: slow code, a piece of the expected rewrite, inputs on
which old and new must agree, and a near miss the rule must leave alone (where applying it
would change behaviour or gain nothing). Functions are named ``f``; a script's inputs are its
stdin texts. Used by tests/test_rules.py and tests/test_explain.py."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    code: str
    expected: str
    inputs: list
    negative: str
    kind: str = "function"


def _f(body: str, params: str = "xs") -> str:
    return f"def f({params}):\n" + "".join(f"    {line}\n" for line in body.strip("\n").split("\n"))


CASES: dict[str, Case] = {
    # --- structures
    "list membership → set twin": Case(
        _f("seen = []\nfor x in xs:\n    if x not in seen:\n        seen.append(x)\nreturn seen"),
        "if x not in seen_set:\n            seen.append(x)\n            seen_set.add(x)\n",
        [([3, 1, 3, 2, 1],), ([],)],
        _f(
            "seen = []\nfor x in xs:\n    if x not in seen:\n        seen.append(x)\nseen.sort()\nreturn seen"
        ),
    ),
    "dedupe loop → dict.fromkeys": Case(
        _f("out = []\nfor x in xs:\n    if x not in out:\n        out.append(x)\nreturn out"),
        "out = list(dict.fromkeys(xs))",
        [([3, 1, 3, 2, 1],), ([],)],
        _f("out = []\nfor x in xs:\n    if x not in out:\n        out.append(x + 1)\nreturn out"),
    ),
    "invariant membership in loop → set": Case(
        _f("return [x for x in xs if x in ys]", "xs, ys"),
        "ys_set = set(ys)\n    return [x for x in xs if x in ys_set]",
        [([1, 2, 3], [2, 3, 4])],
        _f("out = []\nfor x in xs:\n    if x in ys:\n        ys.remove(x)\nreturn ys", "xs, ys"),
    ),
    "repeated .count → Counter": Case(
        _f("return [x for x in xs if xs.count(x) == 1]"),
        "xs_counts = collections.Counter(xs)\n    return [x for x in xs if xs_counts[x] == 1]",
        [([1, 2, 2, 3],), ([],)],
        _f("return xs.count(1)"),
    ),
    "set membership": Case(
        "def f(x):\n    return x in [1, 2, 3]\n",
        "x in {1, 2, 3}",
        [(2,), (5,)],
        "def f(x):\n    return x in [[1], 2]\n",
    ),
    "list front ops → deque": Case(
        _f(
            "q = list(xs)\nout = []\nwhile q:\n    out.append(q.pop(0))\n    if len(out) == 1:\n        q.insert(0, 9)\nreturn out"
        ),
        "q.popleft()",
        [([1, 2, 3],)],
        _f("q = list(xs)\nreturn q.pop()"),
    ),
    "counting loop → Counter": Case(
        _f(
            "d = {}\nfor x in xs:\n    if x in d:\n        d[x] += 1\n    else:\n        d[x] = 1\nreturn d"
        ),
        "d = dict(collections.Counter(xs))",
        [(["a", "b", "a"],), ([],)],
        _f(
            "d = {}\nfor x in xs:\n    if x in d:\n        d[x] += 2\n    else:\n        d[x] = 1\nreturn d"
        ),
    ),
    "counting branch → dict.get": Case(
        _f(
            "d = {'a': 5}\nfor x in xs:\n    if x in d:\n        d[x] += 1\n    else:\n        d[x] = 1\nreturn d"
        ),
        "d[x] = d.get(x, 0) + 1",
        [(["a", "b", "a"],)],
        _f(
            "d = {}\nfor x in xs:\n    if x in d:\n        d[x] += 1\n    else:\n        d[x] = 0\nreturn d"
        ),
    ),
    "guarded init → setdefault/get": Case(
        _f(
            "d = {}\nfor x in xs:\n    if x % 3 not in d:\n        d[x % 3] = []\n    d[x % 3].append(x)\nreturn d"
        ),
        "d.setdefault(x % 3, []).append(x)",
        [([1, 2, 3, 4, 5],)],
        _f(
            "d = {}\nfor x in xs:\n    if x not in d:\n        d[x] = [0]\n    d[x].append(x)\nreturn d"
        ),
    ),
    "membership then index → dict.get": Case(
        _f("d = {1: 'a'}\nreturn [d[x] if x in d else '?' for x in xs]"),
        "d.get(x, '?')",
        [([1, 2],)],
        _f("d = {1: 'a'}\nreturn [d[x] if x in d else str(x) for x in xs]"),
    ),
    "sorted slice → heapq": Case(
        _f("return sorted(xs)[:3], sorted(xs, reverse=True)[:2]"),
        "heapq.nsmallest(3, xs), heapq.nlargest(2, xs)",
        [([5, 1, 4, 2, 3],), ([],)],
        _f("return sorted(xs)[1:3]"),
    ),
    "append + sort → bisect.insort": Case(
        _f("out = []\nfor x in xs:\n    out.append(x)\n    out.sort()\nreturn out"),
        "bisect.insort(out, x)",
        [([3, 1, 2],)],
        _f("out = [3, 1]\nfor x in xs:\n    out.append(x)\nout.sort()\nreturn out"),
    ),
    "dict.keys() → dict": Case(
        _f("d = dict.fromkeys(xs)\nreturn [k for k in d.keys() if k in d.keys()]"),
        "[k for k in d if k in d]",
        [([1, 2],)],
        _f("d = dict.fromkeys(xs)\nreturn d.keys()"),
    ),
    "half of dict.items() → keys/values": Case(
        _f("d = dict.fromkeys(xs, 1)\nt = 0\nfor _, v in d.items():\n    t += v\nreturn t"),
        "for v in d.values():",
        [([1, 2],)],
        _f("d = dict.fromkeys(xs, 1)\nt = 0\nfor k, v in d.items():\n    t += k * v\nreturn t"),
    ),
    "key loop with lookups → dict.items()": Case(
        _f("d = dict.fromkeys(xs, 2)\nt = 0\nfor k in d:\n    t += k * d[k]\nreturn t"),
        "for k, d_value in d.items():\n        t += k * d_value",
        [([1, 2],)],
        _f("d = dict.fromkeys(xs, 2)\nfor k in d:\n    d[k] = d[k] + 1\nreturn d"),
    ),
    # --- memo
    "recursion → functools.cache": Case(
        "def f(n):\n    return n if n < 2 else f(n - 1) + f(n - 2)\n",
        "@functools.cache",
        [(20,)],
        "def f(*n):\n    return f(*n[1:]) if n else 0\n",
    ),
    "nested recursion → functools.cache": Case(
        _f("def go(n):\n    return n if n < 2 else go(n - 1) + go(n - 2)\nreturn go(xs)"),
        "    @functools.cache\n    def go(n):",
        [(20,)],
        _f("def go(n, *rest):\n    return n if n < 2 else go(n - 1) + go(n - 2)\nreturn go(xs)"),
    ),
    "bounded lru_cache → functools.cache": Case(
        "import functools\n\n@functools.lru_cache(maxsize=4)\ndef f(n):\n    return n if n < 2 else f(n - 1) + f(n - 2)\n",
        "@functools.cache",
        [(30,)],
        "import functools\n\n@functools.lru_cache(maxsize=None)\ndef f(n):\n    return n if n < 2 else f(n - 1) + f(n - 2)\n",
    ),
    # --- scripts
    "buffered stdin": Case(
        "a = int(input())\nb = int(input())\nprint(a + b)\n",
        "sys.stdin.readline",
        ["1\n2\n"],
        "print(input())\n",
        "script",
    ),
    "module code → main()": Case(
        "n = int(input())\nt = 0\nfor i in range(n):\n    t += i\nprint(t)\n",
        "def main():\n    n = int(input())",
        ["5\n"],
        "def g():\n    return n\n\nn = int(input())\nfor i in range(n):\n    print(g())\n",
        "script",
    ),
    "print loop → one write": Case(
        "for i in range(int(input())):\n    print(i * i)\n",
        'sys.stdout.write("".join([f"{i * i}\\n" for i in range(int(input()))]))',
        ["4\n", "0\n"],
        "for i in range(3):\n    print(i, i)\n",
        "script",
    ),
    "per-line reads → islice(sys.stdin)": Case(
        "n = int(input())\na = [int(input()) for _ in range(n)]\nprint(sum(a))\n",
        "[int(line) for line in itertools.islice(sys.stdin, n)]",
        ["3\n1\n2\n3\n"],
        "n = int(input())\na = [input() for _ in range(n)]\nprint(a)\n",
        "script",
    ),
    "numpy for scalars → math": Case(
        "import numpy as np\nprint(int(np.sqrt(int(input()))))\n",
        "print(int(math.sqrt(int(input()))))",
        ["16\n"],
        "import numpy as np\nprint(np.array([1, 2]).sum())\n",
        "script",
    ),
    "eval(input()) → int": Case(
        "print(eval(input()) + 1)\n",
        "int(input())",
        ["41\n"],
        "print(eval(input() + '1'))\n",
        "script",
    ),
    "unused imports": Case(
        "import os\nimport math\n\ndef f(x):\n    return math.floor(x)\n",
        "",
        [(2.5,)],
        "import math\n\ndef f(x):\n    return math.floor(x)\n",
    ),
    # --- builtins
    "accumulation loop → sum/join": Case(
        _f(
            "total = 0\nfor x in xs:\n    if x > 1:\n        total += x * x\ns = ''\nfor x in xs:\n    s = s + str(x)\nreturn total, s"
        ),
        "sum(x * x for x in xs if x > 1)",
        [([1, 2, 3],)],
        _f("total = 0\nfor x in xs:\n    total += x\n    print(x)\nreturn total"),
    ),
    "flag loop → any/all": Case(
        _f(
            "found = False\nfor x in xs:\n    if x < 0:\n        found = True\n        break\nok = True\nfor x in xs:\n    if x > 9:\n        ok = False\n        break\nreturn found, ok"
        ),
        "any(x < 0 for x in xs)",
        [([1, -2],), ([10],), ([],)],
        _f(
            "found = False\nfor x in xs:\n    if x < 0:\n        found = x\n        break\nreturn found"
        ),
    ),
    "return loop → in": Case(
        "def f(xs, v):\n    for x in xs:\n        if x == v:\n            return True\n    return False\n",
        "return v in xs",
        [([1, 2], 2), ([1, 2], 3)],
        "def f(xs, v):\n    for x in xs:\n        if x == v:\n            return x\n    return False\n",
    ),
    "return loop → any/all": Case(
        _f("for x in xs:\n    if x % 7 == 0:\n        return False\nreturn True"),
        "return all(not (x % 7 == 0) for x in xs)",
        [([1, 2],), ([14],)],
        _f("for x in xs:\n    if x % 7 == 0:\n        return False\nreturn 1"),
    ),
    "extremum loop → min/max": Case(
        _f("best = 0\nfor x in xs:\n    if x > best:\n        best = x\nreturn best"),
        "max(0, max(xs, default=0))",
        [([1, 5, 2],), ([],), ([-3],)],
        _f("best = 0\nfor x in xs:\n    if x > best:\n        best = x + 1\nreturn best"),
    ),
    "count loop → .count": Case(
        "def f(xs, v):\n    n = 0\n    for x in xs:\n        if x == v:\n            n += 1\n    return n\n",
        "n = xs.count(v)",
        [([1, 2, 1], 1), ([], 0)],
        "def f(xs, v):\n    n = 0\n    for x in xs:\n        if x == x + v:\n            n += 1\n    return n\n",
    ),
    "product loop → math.prod": Case(
        _f("p = 1\nfor x in xs:\n    p *= x\nreturn p"),
        "p = math.prod(xs)",
        [([2, 3, 4],), ([],)],
        _f("p = 2\nfor x in xs:\n    p *= x\nreturn p"),
    ),
    "multi-accumulator loop → sum/math.prod": Case(
        _f("s = 0\np = 1\nfor x in xs:\n    s += x\n    p *= x + 1\nreturn s, p"),
        "s = sum(x for x in xs)\n    p = math.prod(x + 1 for x in xs)",
        [([1, 2, 3],), ([],)],
        _f("s = 0\np = 1\nfor x in xs:\n    s += x\n    p *= s\nreturn s, p"),
    ),
    "sorted index → min/max": Case(
        _f("return sorted(xs)[0] + sorted(xs)[-1] + sorted(xs, reverse=True)[0]"),
        "min(xs) + max(xs) + max(xs)",
        [([3, 1, 2],)],
        _f("return sorted(xs, key=abs)[-1]"),
    ),
    "power then modulo → pow(a, b, m)": Case(
        "def f(a, b):\n    return a ** b % 1000000007 + pow(a, b) % 7\n",
        "pow(a, b, 1000000007) + pow(a, b, 7)",
        [(3, 200), (0, 0)],
        "def f(a, b):\n    return a ** -b % 7\n",
    ),
    "factorial ratio → math.comb": Case(
        "def f(n, k):\n    return math.factorial(n) // (math.factorial(k) * math.factorial(n - k))\n",
        "math.comb(n, k)",
        [(10, 3), (5, 5)],
        "def f(n, k):\n    return math.factorial(n) // (math.factorial(k) * math.factorial(n - 1))\n",
    ),
    "Euclid loop → math.gcd": Case(
        "def f(a, b):\n    while b:\n        a, b = b, a % b\n    return a\n",
        "a, b = math.gcd(a, b), 0",
        [(12, 18), (7, 0), (0, 5)],
        "def f(a, b):\n    while b:\n        a, b = b, a // b\n    return a\n",
    ),
    "x ** 0.5 → math.sqrt": Case(
        "def f(x):\n    return int(math.sqrt(x)) + x ** 0.5, int(math.sqrt(x) + 1)\n",
        "math.isqrt(x) + math.sqrt(x), math.isqrt(x) + 1",
        [(10,), (16,), (0,)],
        "def f(x):\n    return x ** 0.25\n",
    ),
    "any(x == v) → in": Case(
        "def f(xs, v):\n    return any(x == v for x in xs)\n",
        "return v in xs",
        [([1, 2], 2), ([], 1)],
        "def f(xs, v):\n    return any(x == v + x for x in xs)\n",
    ),
    "any/all of a list → generator": Case(
        _f("return any([x > 2 for x in xs]), all([x for x in xs])"),
        "any(x > 2 for x in xs), all(x for x in xs)",
        [([1, 3],), ([],)],
        _f("return sum([x for x in xs])"),
    ),
    "lambda → operator": Case(
        _f("return sorted(xs, key=lambda p: p[1]), max(xs, key=lambda p: (p[1], p[0]))"),
        "key=operator.itemgetter(1)), max(xs, key=operator.itemgetter(1, 0))",
        [([(1, 2), (0, 3)],)],
        _f("return sorted(xs, key=lambda p: p[1] + 1)"),
    ),
    "lambda x: table[x] → table.__getitem__": Case(
        _f(
            "rank = {'b': 0, 'a': 1, '': 2}\n"
            "return sorted(xs, key=lambda x: rank[x]), [rank[x] for x in xs if x]"
        ),
        "sorted(xs, key=rank.__getitem__), list(map(rank.__getitem__, filter(None, xs)))",
        [(["a", "b", "", "a"],), ([],)],
        _f("rank = {'b': 0, 'a': 1}\nreturn sorted(xs, key=lambda x: rank[x[0]])"),
    ),
    "negated sort key → reverse=True": Case(
        _f("return sorted(xs, key=lambda x: -x)"),
        "sorted(xs, reverse=True)",
        [([1, 3, 2],)],
        _f("return sorted(xs, key=lambda x: -x[0])"),
    ),
    "reversed sort → reverse=True": Case(
        _f("return sorted(xs)[::-1], list(reversed(sorted(xs)))"),
        "sorted(xs, reverse=True), sorted(xs, reverse=True)",
        [([1, 3, 2],)],
        _f("return sorted(xs)[::2]"),
    ),
    "map/filter lambda → comprehension": Case(
        _f("return list(map(lambda x: x * 2, xs)), list(filter(lambda x: x > 1, xs))"),
        "[x * 2 for x in xs], [x for x in xs if x > 1]",
        [([1, 2, 3],)],
        _f("return list(map(abs, xs))"),
    ),
    "identity comprehension → direct": Case(
        _f("return [x for x in xs], sum(x for x in xs)"),
        "list(xs), sum(xs)",
        [([1, 2],)],
        _f("return [(a, b) for a, b in xs]"),
    ),
    "redundant inner call": Case(
        _f("return sorted(list(xs)), set(list(xs)), list(sorted(xs))"),
        "sorted(xs), set(xs), sorted(xs)",
        [([2, 1, 2],)],
        _f("return list(set(xs))"),
    ),
    "reduce → sum/prod/gcd": Case(
        "import functools\n\ndef f(xs):\n    return functools.reduce(lambda a, b: a * b, xs), functools.reduce(math.gcd, xs)\n",
        "math.prod(xs), math.gcd(*xs)",
        [([4, 6, 8],)],
        "import functools\n\ndef f(xs):\n    return functools.reduce(lambda a, b: a - b, xs)\n",
    ),
    "two-argument min/max → conditional": Case(
        "def f(a, b):\n    return max(a, b) - min(a, 3)\n",
        "(b if b > a else a) - (3 if 3 < a else a)",
        [(1, 2), (2, 1), (3, 3), (1.0, 1)],
        "def f(a, b):\n    return max(a, b, 0)\n",
    ),
    "repeated equality → set membership": Case(
        "def f(c):\n    return c == 'a' or c == 'e' or c == 'i'\n",
        "c in {'a', 'e', 'i'}",
        [("a",), ("b",)],
        "def f(c):\n    return c == 'a' or c == 'e'\n",
    ),
    "startswith chain → tuple": Case(
        "def f(s):\n    return s.startswith('ab') or s.startswith('cd')\n",
        "s.startswith(('ab', 'cd'))",
        [("cdx",), ("x",)],
        "def f(s):\n    return s.startswith('ab') or s.endswith('cd')\n",
    ),
    "slice comparison → startswith/endswith": Case(
        "def f(s):\n    return s[:2] == 'ab', s[-3:] != 'xyz'\n",
        "s.startswith('ab'), not s.endswith('xyz')",
        [("abxyz",), ("",)],
        "def f(s):\n    return s[:3] == 'ab'\n",
    ),
    "find/count test → in": Case(
        "def f(s):\n    return s.find('b') != -1, s.count('c') == 0\n",
        "'b' in s, 'c' not in s",
        [("abc",), ("",)],
        "def f(s):\n    return s.find('b') > 0\n",
    ),
    "bin().count → int.bit_count": Case(
        "def f(n):\n    return bin(n).count('1') + bin(n + 1).count('1')\n",
        "n.bit_count() + (n + 1).bit_count()",
        [(5,), (-3,), (0,)],
        "def f(n):\n    return bin(n).count('0')\n",
    ),
    "// and % → divmod": Case(
        "def f(a, b):\n    q = a // b\n    r = a % b\n    return q, r\n",
        "q, r = divmod(a, b)",
        [(17, 5), (-7, 2)],
        "def f(a, b):\n    a = a // b\n    r = a % b\n    return a, r\n",
    ),
    "floor/ceil of a division → //": Case(
        "def f(a, b):\n    return math.floor(a / b), math.ceil(a / b)\n",
        "(a // b), (-(-a // b))",
        [(7, 2), (-7, 2), (6, 3)],
        "def f(a, b):\n    return math.floor(a * b)\n",
    ),
    "x ** 2 → x * x": Case(
        "def f(x):\n    return x ** 2 + 1\n",
        "(x * x) + 1",
        [(3,), (1.5,)],
        "def f(x):\n    return (x + 1) ** 2\n",
    ),
    "empty collection call → literal": Case(
        "def f():\n    return list(), dict(), tuple()\n",
        "return [], {}, ()",
        [()],
        "def f():\n    return list('ab')\n",
    ),
    "xs[len(xs) - 1] → xs[-1]": Case(
        _f("return xs[len(xs) - 1]"),
        "return xs[-1]",
        [([1, 2],)],
        _f("return xs[len(xs) - 2]"),
    ),
    "% then //= → divmod": Case(
        "def f(n, b):\n    out = ''\n    while n > 0:\n        out = str(n % b) + out\n        n //= b\n    return out\n",
        "n, remainder = divmod(n, b)\n        out = str(remainder) + out",
        [(10**30 + 7, 3), (0, 2), (255, 16)],
        "def f(n, b):\n    out = ''\n    while n > 0:\n        out = str(n % b) + str(n) + out\n        n //= b\n    return out\n",
    ),
    "max then first match → max(key=)": Case(
        _f(
            "if not xs:\n    return None\nm = max(len(x) for x in xs)\nfor s in xs:\n    if len(s) == m:\n        return s"
        ),
        "return max(xs, key=len)",
        [(["a", "bb", "cc", "d"],), ([],), (["x"],)],
        _f("m = max(len(x) for x in xs)\nfor s in xs:\n    if len(s) >= m:\n        return s"),
    ),
    # --- strings
    "per-character join → str.translate": Case(
        _f(
            "return ''.join([chr((ord(c) - 97 + k) % 26 + 97) if c.islower() else c.upper() for c in s])",
            "s, k",
        ),
        "s.translate({ord(c): ",
        [("hello World zz", 3), ("", 1), ("aaaa", 25)],
        _f("return ''.join([ord(c) for c in s])", "s, k"),
    ),
    "string prepend loop → list + join": Case(
        _f("out = '!'\nfor x in xs:\n    out = str(x) + out\nreturn out"),
        "out_pieces.append(str(x))",
        [([1, 2, 3],), ([],)],
        _f("out = ''\nfor x in xs:\n    out = str(x) + out\n    print(len(out))\nreturn out"),
    ),
    # --- loops
    "append loop → list comprehension": Case(
        _f(
            "out = []\nfor x in xs:\n    for y in range(x):\n        if y % 2:\n            out.append(x * y)\nreturn out"
        ),
        "out = [x * y for x in xs for y in range(x) if y % 2]",
        [([1, 2, 5],)],
        _f("out = []\nfor x in xs:\n    out.append(len(out))\nreturn out"),
    ),
    "hoist invariant calls": Case(
        _f("i = 0\nwhile i < len(xs) and xs[i] < max(xs):\n    i += 2\nreturn i"),
        "xs_len = len(xs)\n    xs_max = max(xs)\n    while i < xs_len and xs[i] < xs_max:",
        [([1, 2, 3, 9],)],
        _f("while len(xs) > 1:\n    xs.pop()\nreturn xs"),
    ),
    "interleaving loop → slice assignment": Case(
        "def f(xs, ys, d):\n    out = []\n    for x in xs[1:]:\n        out.append(x)\n"
        "        out.append(d)\n    both = []\n    for a, b in zip(xs, ys):\n"
        "        both.extend([b, a])\n    return out, both\n",
        "items = xs[1:]\n    out = [d] * (2 * len(items))\n    out[0::2] = items\n"
        "    size = min(len(xs), len(ys))\n    both = [None] * (2 * size)\n"
        "    both[0::2] = ys[:size]\n    both[1::2] = xs[:size]\n",
        [([1, 2, 3], [4, 5], 0), ([], [1], 9), ([7], [], 1)],
        "def f(xs, d):\n    out = []\n    for x in xs:\n        out.append(x)\n"
        "        out.append(d)\n    return out, x\n",
    ),
    "hoist invariant arithmetic": Case(
        _f("lo, hi = min(xs), max(xs)\nreturn [(x - lo) / (hi - lo) * (2 * lo) for x in xs]"),
        "hoisted_2_times_lo = 2 * lo\n    return [(x - lo) / hi_minus_lo * hoisted_2_times_lo for x in xs]",
        [([1.0, 2.5, 4.0],), ([3, 7],)],
        _f(
            "lo = min(xs)\nout = []\nfor x in xs:\n    out.append(x / (lo - 1))\n    lo = x\nreturn out"
        ),
    ),
    "while counter → for range": Case(
        "def f(n):\n    t = 0\n    i = 1\n    while i <= n:\n        t += i * i\n        i += 1\n    return t\n",
        "for i in range(1, n + 1):",
        [(5,), (0,)],
        "def f(n):\n    t = 0\n    i = 1\n    while i <= n:\n        t += i * i\n        i += 1\n    return t + i\n",
    ),
    "range(len(x)) → direct iteration": Case(
        _f("t = 0\nfor i in range(len(xs)):\n    t = t * 2 + xs[i]\nreturn t"),
        "for xs_item in xs:",
        [([1, 0, 1],)],
        _f("for i in range(len(xs)):\n    xs[i] = xs[i] + 1\nreturn xs"),
    ),
    "range(len(x)) → enumerate": Case(
        _f("t = 0\nfor i in range(len(xs)):\n    t += i * xs[i]\nreturn t"),
        "for i, xs_item in enumerate(xs):\n        t += i * xs_item",
        [([1, 0, 4],)],
        _f("t = 0\nfor i in range(len(xs)):\n    xs.append(i)\n    t += i * xs[i]\nreturn t"),
    ),
    "add loop → set comprehension": Case(
        _f("s = set()\nfor x in xs:\n    s.add(x % 3)\nreturn s"),
        "s = {x % 3 for x in xs}",
        [([1, 4, 5],)],
        _f("s = set()\nfor x in xs:\n    s.add(len(s))\nreturn s"),
    ),
    "dict loop → dict comprehension": Case(
        _f("d = {}\nfor x in xs:\n    d[x] = x * x\nreturn d"),
        "d = {x: x * x for x in xs}",
        [([1, 2],)],
        _f("d = {}\nfor x in xs:\n    d[x] = len(d)\nreturn d"),
    ),
    "append loop → extend": Case(
        _f("out = [0]\nfor x in xs:\n    out.append(x)\nreturn out"),
        "out.extend(xs)",
        [([1, 2],)],
        _f("out = [0]\nfor x in xs:\n    out.append(out[-1] + x)\nreturn out"),
    ),
    "prefix-sum loop → itertools.accumulate": Case(
        _f("p = [0]\nfor x in xs:\n    p.append(p[-1] + x)\nreturn p"),
        "p = list(itertools.accumulate(xs, initial=0))",
        [([1, 2, 3],), ([],)],
        _f("p = [0]\nfor x in xs:\n    p.append(p[-1] + len(p))\nreturn p"),
    ),
    "early exit: flag loop → any/all": Case(
        _f("found = False\nfor x in xs:\n    if x < 0:\n        found = True\nreturn found"),
        "found = any(x < 0 for x in xs)",
        [([1, -2],), ([],)],
        _f(
            "found = False\nfor x in xs:\n    if x < 0:\n        found = True\n    print(x)\nreturn found"
        ),
    ),
    "hoist .append lookup": Case(
        _f("out = []\nfor x in xs:\n    out.append(x + 1)\n    out.append(x)\nreturn out"),
        "out_append(x + 1)",
        [([1, 2],)],
        _f("out = []\nfor x in xs:\n    out = [x]\n    out.append(x)\nreturn out"),
    ),
    "hoist method lookups": Case(
        _f("s = set()\nfor x in xs:\n    s.add(x)\n    s.add(-x)\nreturn s"),
        "s_add = s.add",
        [([1, 2],)],
        _f("s = set()\nfor x in xs:\n    s = set()\n    s.add(x)\nreturn s"),
    ),
    "hoist module function lookups": Case(
        "import math\n\ndef f(xs):\n    return [math.sqrt(x) for x in xs]\n",
        "math_sqrt = math.sqrt\n    return [math_sqrt(x) for x in xs]",
        [([1, 4],)],
        "import math\n\ndef f(xs):\n    return math.sqrt(xs[0])\n",
    ),
    "generator in list()/set()/dict() → comprehension": Case(
        _f("return list(x + 1 for x in xs), set(x for x in xs if x), dict((x, 1) for x in xs)"),
        "[x + 1 for x in xs], {x for x in xs if x}, {x: 1 for x in xs}",
        [([0, 1],)],
        _f("return list(xs)"),
    ),
    "unneeded list() around loop iterable": Case(
        _f("t = 0\nfor x in list(xs):\n    t += x\nreturn t"),
        "for x in xs:",
        [([1, 2],)],
        _f("for x in list(xs):\n    xs.remove(x)\nreturn xs"),
    ),
    "list(...)[:k] → itertools.islice": Case(
        _f("return list(map(abs, xs))[:2]"),
        "list(itertools.islice(map(abs, xs), 2))",
        [([-1, 2, -3],)],
        _f("return list(xs)[:2]"),
    ),
    "constant list comprehension → [c] * n": Case(
        "def f(n):\n    return [0 for _ in range(n + 1)]\n",
        "[0] * (n + 1)",
        [(3,), (-1,)],
        "def f(n):\n    return [[] for _ in range(n)]\n",
    ),
    "+= [x] → append": Case(
        _f("out = []\nfor x in xs:\n    out += [x * 2]\nreturn out"),
        "out.append(x * 2)",
        [([1, 2],)],
        _f("out = []\nfor x in xs:\n    out += [x, x]\nreturn out"),
    ),
}
