"""Exercises generators ended early: `throw` into suspended and unstarted ones, `close`."""


def ticker():
    yield 1
    yield 2


def guarded():
    try:
        yield "ready"
    finally:
        print("cleanup")


suspended = ticker()
next(suspended)
try:
    suspended.throw(KeyError("stop"))
except KeyError:
    print("thrown into a suspended generator")
try:
    ticker().throw(ValueError)
except ValueError:
    print("thrown into an unstarted generator")
guard = guarded()
next(guard)
guard.close()
plain = ticker()
next(plain)
plain.close()
print("closed")
