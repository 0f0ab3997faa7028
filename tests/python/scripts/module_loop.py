"""Exercises a module-level loop: the globals `i` and `total` change as it runs."""

total = 0
for i in range(5):
    total += i
print("total", total)
