"""Exercises recursion: `countdown` calls itself until it is 20 frames below the module."""


def countdown(n):
    if n == 0:
        return 0
    return 1 + countdown(n - 1)


print("depth", countdown(19))
