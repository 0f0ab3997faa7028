# tests/python/test_dap.py depends on the line numbers in this file: keep them stable.


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y


points = [Point(1, 2), Point(3, 4)]
for i in range(4):
    p = points[i % 2]
    q = p
done = True
