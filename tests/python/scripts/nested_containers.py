"""Containers inside containers, changed in place at every depth, one change per line: each change
must show at the next line (such values are compared by their shape, not rendered again)."""


def orders():
    doc = {"version": 1, "orders": [{"id": 1, "items": [{"sku": "a", "qty": 1}]}]}
    doc["orders"][0]["items"][0]["qty"] = 2
    doc["orders"][0]["items"].append({"sku": "b", "qty": 5})
    doc["orders"].append({"id": 2, "items": []})
    doc["orders"][1]["items"].append({"sku": "c", "qty": 1})
    doc["orders"][0]["items"][1] = {"sku": "b", "qty": 6}
    doc["orders"][0]["id"] = 1.5
    doc["version"] = "two"
    pair = (doc["orders"][0], [0, [1, 2]])
    pair[1][1].append(3)
    pair[0]["id"] = None
    del doc["orders"][0]["items"][0]
    doc["orders"][1]["items"][0]["sku"] = "é"
    doc["orders"][1]["items"][0]["sku"] = "e"
    doc["orders"].clear()
    return doc, pair


def replaced(n):
    # A dict freed and another made at once, inside a list: the new one may take the freed one's
    # address.
    rows = [{"i": 0}]
    for i in range(n):
        rows[0] = {"i": i * 1000}
        rows.append([i])
        rows[-1][0] = -i
    return len(rows)


def cycles():
    a = [1]
    a.append(a)
    d = {"self": None}
    d["self"] = d
    a[0] = 2
    d["x"] = [a]
    a.append(3)
    return len(a), len(d)


class P:
    __slots__ = ("x",)

    def __init__(self, x):
        self.x = x

    def __repr__(self):
        return f"P({self.x})"


def objects():
    # Objects with their own repr, as dict keys and in tuples: the containers are not rendered
    # again while nothing changes, but each such object's repr is, and a change shows.
    a, b = P(1), P(2)
    d = {a: 1, b: 2}
    q = [(0, a), (1, b)]
    s = [{1, 2}, frozenset({3})]
    a.x = 10
    b.x = "twenty"
    s[0].add(5)
    d[a] = 3
    q.sort(reverse=True)
    d[(1, P(3))] = [P(4)]
    d[(1, P(3))] = [P(5)]
    w = ["é", "x" * 300, 2**70]
    w[0] = "è"
    w[1] = "x" * 299 + "y"
    w[2] += 1
    return d, q, s, w


def unrolled():
    # The same contents, unrolled, but another text: `[0, [...]]`, then `[0, [0, [...]]]`.
    t = [0]
    t.append(t)
    t[1] = [0, t]
    t[1] = t
    d = {"d": None}
    d["d"] = d
    d["d"] = {"d": d}
    return len(t), len(d)


print(orders(), replaced(5), cycles(), objects(), unrolled())
