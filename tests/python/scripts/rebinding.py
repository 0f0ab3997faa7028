"""Every way a function rebinds its locals, line by line: swaps, unpacking, walrus, match
captures, loop targets, deletions, cleared comprehension variables, try/finally and with."""

import contextlib


@contextlib.contextmanager
def opened(name):
    yield name.upper()


def swaps(a, b):
    a, b = b, a
    first, *rest = [a, b, a + b]
    (x, y), z = (b, a), rest
    x += y; y -= x  # two statements, one line
    return a, b, first, rest, x, y, z


def walrus_and_comprehensions(n):
    total = 0
    squares = [(k := i) * i for i in range(n) if (total := total + i) >= 0]
    evens = {j for j in range(n) if j % 2 == 0}
    last = k if n else None
    return squares, evens, total, last


def matching(command):
    match command.split():
        case [verb]:
            result = verb
        case [verb, obj]:
            result = f"{verb}:{obj}"
        case [verb, *objs] if len(objs) > 1:
            result = (verb, objs)
        case _:
            result = None
    return result


def loops(n):
    found = None
    for i in range(n):
        if i == 3:
            continue
        if i * i > n:
            found = i
            break
    else:
        found = -1
    j = 0
    while j < n:
        j += 2
        if j == 4:
            del found
            found = "reset"
    return found, j


def cleanup(n):
    state = "start"
    try:
        state = "body"
        for i in range(n):
            state = i
        return state
    finally:
        state = "finally"
        extra = state * 2
        del extra


def with_target():
    with opened("file") as handle:
        size = len(handle)
        handle = handle.lower()
    return handle, size


def defaults(a, b=2, *args, c=3, **kw):
    a = a + b + c
    args = args + (a,)
    kw["a"] = a
    return a, args, kw


def main():
    print(swaps(1, 2))
    print(walrus_and_comprehensions(5))
    for command in ["go", "take lamp", "put a b c", ""]:
        print(matching(command))
    print(loops(10))
    print(cleanup(3))
    print(with_target())
    print(defaults(1, 5, 6, 7, d=8))


main()
