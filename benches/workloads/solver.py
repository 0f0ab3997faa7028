"""A realistic job: shortest paths (Dijkstra with heapq) over a grid graph of `Node` objects, one
query per source. Scale = queries."""

import heapq
import random
import sys

SIDE = 8


class Node:
    __slots__ = ("x", "y", "edges")

    def __init__(self, x, y):
        self.x = x
        self.y = y
        self.edges = []

    def __repr__(self):
        return f"Node({self.x}, {self.y})"

    def __lt__(self, other):
        return (self.x, self.y) < (other.x, other.y)


def build_grid(side, rng):
    nodes = {(x, y): Node(x, y) for x in range(side) for y in range(side)}
    for (x, y), node in nodes.items():
        for dx, dy in ((1, 0), (0, 1)):
            other = nodes.get((x + dx, y + dy))
            if other is not None:
                weight = rng.randint(1, 9)
                node.edges.append((other, weight))
                other.edges.append((node, weight))
    return nodes


def shortest(source):
    dist = {source: 0}
    queue = [(0, source)]
    while queue:
        d, node = heapq.heappop(queue)
        if d > dist[node]:
            continue
        for other, weight in node.edges:
            nd = d + weight
            if nd < dist.get(other, 1 << 30):
                dist[other] = nd
                heapq.heappush(queue, (nd, other))
    return dist


def main(n):
    rng = random.Random(7)
    nodes = build_grid(SIDE, rng)
    keys = sorted(nodes)
    checksum = 0
    for q in range(n):
        source = nodes[keys[(q * 37) % len(keys)]]
        dist = shortest(source)
        checksum += max(dist.values())
    return checksum


print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2))
