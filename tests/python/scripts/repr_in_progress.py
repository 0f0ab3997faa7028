"""A line event inside a `__repr__` that the program's own `repr(holder)` called: `holder` is being
rendered by the program at that moment, so `repr(x)` there is `[...]`, and the recorder must show
it so (it registers the containers it renders with CPython only when a `__repr__` may look, unless
the program was already inside one)."""


class E:
    def __repr__(self):
        x = holder
        return "E"


class F:
    def __init__(self, inner):
        self.inner = inner

    def __repr__(self):
        y = [self.inner, holder]
        return f"F({len(y)})"


holder = [E()]
shown = repr(holder)
holder.append(F(holder))
shown = repr(holder)
