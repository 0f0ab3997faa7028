"""Exercises threads: two named workers sum a range each, are joined; main prints the sums."""

import threading

results = {}


def work(name, n):
    total = 0
    for i in range(n):
        total += i
    results[name] = total


workers = []
for k in (1, 2):
    workers.append(threading.Thread(target=work, args=(f"worker-{k}", 3 * k), name=f"worker-{k}"))
for w in workers:
    w.start()
for w in workers:
    w.join()
print(sorted(results.items()))
