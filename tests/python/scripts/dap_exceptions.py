# tests/python/test_dap.py depends on the line numbers in this file: keep them stable.


def parse(values):
    out = []
    for v in values:
        try:
            if v == 3:
                raise ValueError(f"bad value {v}")
            out.append(v)
        except ValueError:
            out.append(-1)
    return out


def lookup(table, key):
    return table[key]


def find(key):
    return lookup({"present": 1}, key)


print(parse([1, 3, 5]))
find("missing")
