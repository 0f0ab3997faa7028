"""Every way of changing a dict of plain values, one per line: each change must show at the next
line (such dicts are compared by their version tag, not rendered again at every event)."""


def mutate():
    d = {"a": 1, "b": 2.5, "c": "three"}
    d["a"] = 1000
    d["a"] = 1000 + len(d)
    d.update(e=None, f=True)
    del d["b"]
    d.setdefault("g", -7)
    d.pop("c")
    d.popitem()
    d |= {"h": 10**20}
    d.__init__(i=1.0)
    d[("t", 1)] = "tuple keys are not plain"
    del d[("t", 1)]
    d["inner"] = []
    d["inner"].append(1)
    d["inner"].append(2)
    del d["inner"]
    d.clear()
    return d


class Box:
    def __init__(self):
        self.x = 1


def instance_dict():
    # Shares its values with the instance: on 3.13 an attribute store leaves its version tag.
    b = Box()
    d = b.__dict__
    for i in range(3):
        b.x = i * 1000
    b.y = 2
    del b.x
    return d


def rebind(n):
    # A dict freed and another made at once: the new one may take the freed one's address.
    total = 0
    for i in range(n):
        d = {"i": i * 1000, "sq": i * i * 1000}
        total += d["sq"]
        del d
    return total


def big():
    d = {k: k * 1000 for k in range(80)}
    d[79] = -1
    d[0] = -2
    return len(d)


print(mutate(), instance_dict(), rebind(6), big())
