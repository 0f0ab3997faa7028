"""Exercises generators: `send`, a generator's `return`, `yield from`, a generator expression."""


def accumulator():
    total = 0
    while True:
        value = yield total
        if value is None:
            return total
        total += value


def counted(n):
    yield from range(n)


acc = accumulator()
next(acc)
acc.send(5)
acc.send(7)
try:
    acc.send(None)
except StopIteration as stop:
    print("accumulated", stop.value)
print("squares", sum(x * x for x in counted(4)))
