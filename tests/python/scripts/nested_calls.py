"""Exercises nested calls: three levels of functions passing arguments down and results back."""


def square(x):
    return x * x


def sum_of_squares(a, b):
    return square(a) + square(b)


def report(a, b):
    total = sum_of_squares(a, b)
    return f"{a}^2 + {b}^2 = {total}"


print(report(3, 4))
