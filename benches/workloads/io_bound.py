"""I/O-bound: short sleeps and small file writes, read back. Scale = iterations.

The files go to a fresh directory `io_bound.tmp` under the current directory (removed at the
end), so that no local holds a random temporary path: the locals are the same in every run.
"""

import os
import shutil
import sys
import time

DIRECTORY = "io_bound.tmp"


def write_chunk(i):
    path = os.path.join(DIRECTORY, f"chunk-{i % 8}.txt")
    line = f"{i},{i * i},{i % 7}\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line * 4)
    return len(line) * 4


def main(n):
    shutil.rmtree(DIRECTORY, ignore_errors=True)
    os.mkdir(DIRECTORY)
    written = 0
    for i in range(n):
        written += write_chunk(i)
        if i % 10 == 0:
            time.sleep(0.001)
    total = 0
    for name in sorted(os.listdir(DIRECTORY)):
        with open(os.path.join(DIRECTORY, name), encoding="utf-8") as f:
            total += sum(1 for _ in f)
    shutil.rmtree(DIRECTORY)
    return written, total


print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2_000))
