"""An example of each rule of ``perfedit.candidates.rules``, for the rules' and the explanations'
tests: rule name → (code the rule rewrites, a piece of its rewrite, argument tuples to call
``f`` with on both versions)."""

CASES = {
    "set membership": ("def f(x):\n    return x in [1, 2, 3]\n", "x in {1, 2, 3}", [(2,), (5,)]),
    "sorted index → min/max": (
        "def f(xs):\n    return sorted(xs)[0] + sorted(xs)[-1]\n",
        "min(xs) + max(xs)",
        [([3, 1, 2],)],
    ),
    "x ** 0.5 → math.sqrt": (
        "def f(x):\n    return int(math.sqrt(x)) + x ** 0.5\n",
        "math.isqrt(x) + math.sqrt(x)",
        [(10,)],
    ),
    "list front ops → deque": (
        "def f(xs):\n    q = list(xs)\n    out = []\n    while q:\n        out.append(q.pop(0))\n        if len(out) == 1:\n            q.insert(0, 9)\n    return out\n",
        "q.popleft()",
        [([1, 2, 3],)],
    ),
    "accumulation loop → sum/join": (
        "def f(xs):\n    total = 0\n    for x in xs:\n        if x > 1:\n            total += x * x\n    s = ''\n    for x in xs:\n        s += str(x)\n    return total, s\n",
        "sum(x * x for x in xs if x > 1)",
        [([1, 2, 3],)],
    ),
    "flag loop → any/all": (
        "def f(xs):\n    found = False\n    for x in xs:\n        if x < 0:\n            found = True\n            break\n    ok = True\n    for x in xs:\n        if x > 9:\n            ok = False\n            break\n    return found, ok\n",
        "any(x < 0 for x in xs)",
        [([1, -2],), ([10],), ([],)],
    ),
    "extremum loop → min/max": (
        "def f(xs):\n    best = 0\n    for x in xs:\n        if x > best:\n            best = x\n    return best\n",
        "max(0, max(xs, default=0))",
        [([1, 5, 2],), ([],), ([-3],)],
    ),
    "range(len(x)) → direct iteration": (
        "def f(xs):\n    t = 0\n    for i in range(len(xs)):\n        t = t * 2 + xs[i]\n    return t\n",
        "for xs_item in xs:",
        [([1, 0, 1],)],
    ),
    "hoist .append lookup": (
        "def f(xs):\n    out = []\n    for x in xs:\n        out.append(x + 1)\n    return out\n",
        "out_append(x + 1)",
        [([1, 2],)],
    ),
    "recursion → functools.cache": (
        "def f(n):\n    return n if n < 2 else f(n - 1) + f(n - 2)\n",
        "@functools.cache",
        [(20,)],
    ),
    "list membership → set twin": (
        "def f(xs):\n    seen = []\n    for x in xs:\n        if x not in seen:\n            seen.append(x)\n    return seen\n",
        "if x not in seen_set:\n            seen.append(x)\n            seen_set.add(x)\n",
        [([3, 1, 3, 2, 1],), ([],)],
    ),
    "eval(input()) → int": ("def f():\n    return eval(input())\n", "int(input())", []),
    "unused imports": (
        "import os\nimport math\n\ndef f(x):\n    return math.floor(x)\n",
        "",
        [(2.5,)],
    ),
}
