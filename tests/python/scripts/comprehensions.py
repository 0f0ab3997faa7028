"""Exercises list, dict and set comprehensions in a function (PEP 709), one shadowing a local."""


def tables(n):
    x = "outer"
    squares = [x * x for x in range(n)]
    index = {word: len(word) for word in ("a", "bb", "ccc")}
    parity = {k % 2 for k in range(n)}
    nested = [[i * j for j in range(2)] for i in range(2)]
    return x, squares, index, parity, nested


print(tables(3))
