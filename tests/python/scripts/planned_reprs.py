"""Objects whose `__repr__` is one f-string of their own attributes (the recorder builds such a
text itself, recorder/src/plan.rs), changed in every way that changes the text: a slot, an
instance attribute shadowing a class attribute, the class attribute, the class's `__repr__` and
its `__code__`, a value the recorder cannot format (a list), a long string, a missing attribute.
Each is also held in a list, a tuple and as a dict key, whose shapes must see the change."""


class P:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __repr__(self):
        return f"P({self.x}, {self.y!r})"


class Q:
    kind = "q"

    def __init__(self, v):
        self.v = v

    def __repr__(self):
        return f"{self.kind}:{self.v!a}"


class R(Q):
    def __repr__(self):
        return f"{self.v}"


def other_repr(self):
    return f"<{self.x}>"


def change():
    p = P(1, "a")
    q = Q("é")
    r = R(2**70)
    held = [p, (q, r)]
    by = {p: 1, "q": q}
    p.x = 2
    p.y = 1.5
    p.y = None
    q.v = True
    q.kind = "own"
    del q.kind
    Q.kind = "class"
    r.v = -3
    p.y = [1]
    p.y = "x" * 300
    del p.y
    p.y = 0
    P.__repr__ = other_repr
    P.__repr__.__code__ = (lambda self: f"new {self.x!r}").__code__
    p.x = "z"
    return held, by


change()
