"""Exercises an uncaught exception: the traceback goes to stderr and the exit status is 1."""


def divide(a, b):
    return a / b


def main():
    print("dividing")
    return divide(1, 0)


main()
