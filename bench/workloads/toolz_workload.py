"""A toolz workload written from its documented use (README: word frequencies with a stem;
docs "Composability" and "Streaming Analytics": pipe, groupby, join, merge_with, sliding_window,
partition_all, unique, get_in) over a synthetic corpus and account table."""

import random

from toolz import (
    frequencies,
    get_in,
    groupby,
    join,
    merge_with,
    partition_all,
    pipe,
    sliding_window,
    topk,
    unique,
    valmap,
)
from toolz.curried import filter, map

rng = random.Random(0)
words = [f"Word{rng.randrange(3000)}," for _ in range(60_000)]
text = " ".join(words)


def stem(word):
    """The README's stem: lower case, punctuation stripped."""
    return word.lower().rstrip(",.!:;'-\"").lstrip("'\"")


for _ in range(3):
    counts = frequencies(map(stem, text.split()))
    top = topk(10, counts.items(), key=lambda item: item[1])

accounts = [(i, f"name{i % 700}", rng.randrange(1000), "MF"[i % 2]) for i in range(30_000)]
by_gender = groupby(lambda account: account[3], accounts)
rich = pipe(accounts, filter(lambda a: a[2] > 150), map(lambda a: (a[1], a[2])), dict)
addresses = [(f"name{i}", f"{i} Main Street") for i in range(700)]
joined = list(join(lambda a: a[1], accounts, 0, addresses))
totals = merge_with(sum, *({a[1]: a[2]} for a in accounts[:10_000]))
averages = valmap(lambda group: sum(a[2] for a in group) / len(group), groupby(1, accounts))
windows = list(sliding_window(3, range(60_000)))
batches = list(partition_all(100, range(60_000)))
distinct = list(unique(stem(word) for word in words))
records = [{"user": {"name": a[1], "balance": a[2]}} for a in accounts]
balances = [get_in(["user", "balance"], record) for record in records]
print(len(counts), top[0], len(by_gender), len(rich), len(joined), len(distinct), sum(balances))
