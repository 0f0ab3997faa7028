"""Exercises closures: a cell variable rebound through `nonlocal`, and a free variable."""


def make_counter(start):
    count = start

    def increment(step):
        nonlocal count
        count += step
        return count

    return increment


def make_greeter(greeting):
    def greet(name):
        return f"{greeting}, {name}"

    return greet


counter = make_counter(10)
counter(1)
print(counter(5), make_greeter("hello")("world"))
