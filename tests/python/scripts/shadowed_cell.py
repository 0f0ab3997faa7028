"""Exercises a comprehension shadowing a cell variable (oracle-unsafe on 3.13: f_locals crashes)."""


def shadow():
    g = lambda: k
    k = 1
    r = [k * 10 for k in [5, 6]]
    return r, g()


print(shadow())
