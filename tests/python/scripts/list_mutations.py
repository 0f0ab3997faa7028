"""Every way of changing a list or tuple of plain values, one per line: each change must show at
the next line (such sequences are compared element by element, not rendered again at every
event)."""


def mutate():
    xs = [1, 2.5, "three", None, True]
    xs.append(1000)
    xs[0] = 1001
    xs[0] = None; xs[0] = 2.0 * len(xs)  # noqa: E702 (the float may take a freed one's place)
    xs[0] = xs[0] * 2.0
    xs.extend(["four", 10**20])
    xs.insert(0, -1)
    xs.pop()
    xs.remove("three")
    xs.reverse()
    xs[1:3] = ["a", "b", "c"]
    xs.sort(key=str)
    xs[2] = "caf\u00e9"
    xs[2] = "cafe"
    xs.append({"not": "plain"})
    xs.pop()
    del xs[:]
    return xs


def nested():
    pairs = [(1, 2), (3, 4)]
    pairs[0] = (1, 5)
    pairs.append((7,))
    grid = [[0] * 3 for _ in range(3)]
    grid[1][2] = 5
    grid[0].append(1)
    grid[2].clear()
    box = ([1], [2.5])
    box[0].append(3)
    box[1][0] = "x"
    deep = [[[1]]]
    deep[0][0].append(2)
    return pairs, grid, box, deep


def tuples(n):
    # A tuple freed and another made at once: the new one may take the freed one's place.
    total = 0
    for i in range(n):
        t = (i * 1000, float(i), str(i))
        total += t[0]
    return total


def long():
    xs = list(range(300))
    xs[200] = -1  # past what the text and the children show
    xs[5] = -5
    xs.append(7)
    return len(xs)


print(mutate(), nested(), tuples(6), long())
