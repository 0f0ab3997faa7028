"""Open files, whose repr the recorder does not run again while nothing it shows can have
changed: every change that it shows is made here, one per line (the text object's `mode`, the
raw file's `name`, the encoding, a detached buffer, an `__init__` that fails), and an attribute
with children of its own."""

import os
import shutil
import tempfile

# Relative names only: the files' reprs are the same in every run.
os.chdir(tempfile.mkdtemp(prefix="pyttd-open-files-"))


def write(path):
    with open(path, "w", encoding="utf-8") as f:
        f.write("a\n")
        f.mode = "w+"
        f.write("b\n")
        f.buffer.raw.name = "renamed.txt"
        f.write("c\n")
        f.reconfigure(encoding="latin-1")
        f.write("d\n")
        f.notes = ["x"]
        f.notes.append("y")
        f.flush()
    return f


def count(path):
    with open(path, encoding="utf-8") as f:
        return sum(1 for _ in f)


def detach(path):
    f = open(path, encoding="utf-8")
    first = f.readline()
    raw = f.detach()
    raw.close()
    return first


def binary(path):
    with open(path, "rb") as b:
        data = b.read(2)
        b.raw.name = 7
        data += b.read()
    with open(path, "rb", buffering=0) as r:
        size = len(r.read())
    return len(data), size


def names():
    for name in ("it's.txt", 'say "hi".txt', "dätä.txt", "tab\there.txt", "\U0001f600.txt"):
        with open(name, "w", encoding="utf-8") as f:
            f.write(name)
    return len(os.listdir())


def reinit(path):
    f = open(path, encoding="utf-8")
    try:
        f.__init__(f.buffer, newline="x")
    except ValueError:
        pass
    g = open(path, "rb")
    try:
        g.__init__(g.raw, buffer_size=0)
    except ValueError:
        pass
    h = open(path, encoding="utf-8")
    try:
        h.buffer.__init__(h.buffer.raw, buffer_size=0)
    except ValueError:
        pass
    return g.raw.name


closed = write("data.txt")
print(names())
print(count("data.txt"), detach("data.txt"), binary("data.txt"), reinit("data.txt"), closed.closed)
shutil.rmtree(os.getcwd())
