"""Tight loop: module-level arithmetic loop. Scale = iterations."""

import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000

total = 0
for i in range(N):
    total += i * 2 % 7
print(total)
