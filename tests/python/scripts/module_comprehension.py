"""Exercises PEP 709 at module and class scope (oracle-unsafe on 3.12: see oracle docs)."""

y = "outer"
ys = [y * 2 for y in range(3)]
zs = [
    y
    for y in range(2)
]


class Table:
    columns = [c.upper() for c in "ab"]


print(y, ys, zs, Table.columns)
