# The DAP tests depend on the line numbers of this script.
import contextlib


@contextlib.contextmanager
def guard():
    try:
        yield
    finally:
        pass


def inner():
    with guard():
        raise KeyError("deep")


def outer():
    try:
        inner()
    finally:
        cleanup = 1


try:
    outer()
except ZeroDivisionError:
    pass
