"""Exercises values whose repr fails: a __repr__ that raises and one that recurses forever."""


class Raising:
    def __repr__(self):
        raise ValueError("no repr for you")


class Looping:
    def __repr__(self):
        return f"Looping({self!r})"


def hold():
    bad = Raising()
    worse = Looping()
    return type(bad).__name__, type(worse).__name__


print(hold())
