# tests/python/test_dap.py depends on the line numbers in this file: keep them stable.


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y


def mutate():
    x = 1
    x = 1
    x = 2
    x = x * 10
    items = []
    items.append(1)
    items.append(2)
    cfg = {"a": 1, "b": [1, 2]}
    p = Point(3, 4)
    return x, len(items), cfg["a"], p.y


mutate()
