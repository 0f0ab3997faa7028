"""Exercises a caught exception: raised in a callee, handled by `except ... as`, `finally`."""


def parse(text):
    return int(text)


def parse_or_default(text, default):
    try:
        value = parse(text)
    except ValueError as exc:
        value = default
        print("bad input:", exc)
    finally:
        print("parsed", repr(text))
    return value


print(parse_or_default("12", 0), parse_or_default("x", -1))
