"""Exercises deleted names: `del` of a local and a global, and the end of `except ... as e`."""


def scratch():
    temp = [1, 2, 3]
    kept = sum(temp)
    del temp
    try:
        raise RuntimeError("boom")
    except RuntimeError as e:
        message = str(e)
    return kept, message


marker = "global"
del marker
print(scratch())
