"""Compute-bound: nested small function calls. Scale = outer iterations."""

import sys


def add(a, b):
    return a + b


def mul(a, b):
    return a * b


def poly(x):
    y = mul(x, x)
    z = add(y, x)
    return add(z, 1)


def main(n):
    acc = 0
    for i in range(n):
        acc = add(acc, poly(i % 100))
    return acc


print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000))
