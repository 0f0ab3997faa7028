"""Deep recursion: a depth-500 recursive walk, repeated. Scale = repetitions."""

import sys

DEPTH = 500


def descend(depth, acc):
    if depth == 0:
        return acc
    step = depth % 3
    return descend(depth - 1, acc + step)


def main(n):
    total = 0
    for _ in range(n):
        total += descend(DEPTH, 0)
    return total


print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
