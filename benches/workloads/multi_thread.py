"""Four threads, each running an arithmetic loop. Scale = iterations per thread.

Each worker hands its result over a queue (whose repr shows no contents), so no thread's locals
depend on how far the others got: the locals at each line are the same in every run.
"""

import queue
import sys
import threading


def work(index, n, results):
    acc = 0
    for i in range(n):
        acc = (acc + i * index) % 1_000_003
    results.put((index, acc))


def main(n):
    results = queue.SimpleQueue()
    threads = [threading.Thread(target=work, args=(k, n, results), name=f"worker-{k}") for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(results.get() for _ in threads)


print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
