"""Exercises loops: one-line `for` and `while` (backward jumps within a line), nested loops."""


def one_line_for(n):
    for i in range(n): x = i * 2
    return x


def one_line_while(limit):
    n = 0
    while n < limit: n += 1
    return n


def nested(rows, cols):
    cells = 0
    for r in range(rows):
        for c in range(cols):
            cells += 1
    return cells


print(one_line_for(3), one_line_while(3), nested(2, 3))
