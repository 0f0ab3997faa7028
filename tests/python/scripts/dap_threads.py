# tests/python/test_dap.py depends on the line numbers in this file: keep them stable.

import threading


def work(n):
    total = 0
    for k in range(n):
        total += k
    return total


threads = []
for name in ("worker-1", "worker-2"):
    threads.append(threading.Thread(target=work, args=(3,), name=name))
for t in threads:
    t.start()
for t in threads:
    t.join()
print("done")
