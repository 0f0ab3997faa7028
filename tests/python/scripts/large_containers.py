"""Exercises large values: a list of 100000 ints and a dict of 10000 items, whose reprs get cut."""


def build():
    numbers = list(range(100_000))
    table = dict(zip(range(10_000), map(str, range(10_000))))
    return len(numbers), len(table)


print(build())
