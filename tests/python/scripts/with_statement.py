"""Exercises `with`: a context-manager class around a clean body and suppressing a KeyError."""


class Tracker:
    def __init__(self, label):
        self.label = label
        self.log = []

    def __enter__(self):
        self.log.append("enter")
        return self

    def __exit__(self, exc_type, exc, tb):
        self.log.append(f"exit {exc_type.__name__ if exc_type else None}")
        return exc_type is KeyError


with Tracker("first") as t1:
    t1.log.append("body")
with Tracker("second") as t2:
    raise KeyError("suppressed")
print(t1.log, t2.log)
