"""Many locals: 20+ int locals per call. Scale = calls."""

import sys


def many(seed):
    a0 = seed
    a1 = a0 + 1
    a2 = a1 + 2
    a3 = a2 + 3
    a4 = a3 + 4
    a5 = a4 + 5
    a6 = a5 + 6
    a7 = a6 + 7
    a8 = a7 + 8
    a9 = a8 + 9
    b0 = a9 * 2
    b1 = b0 - a0
    b2 = b1 - a1
    b3 = b2 - a2
    b4 = b3 - a3
    b5 = b4 - a4
    b6 = b5 - a5
    b7 = b6 - a6
    b8 = b7 - a7
    b9 = b8 - a8
    c0 = b9 + a9
    c1 = c0 % 97
    return c1


def main(n):
    total = 0
    for i in range(n):
        total += many(i)
    return total


print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5_000))
