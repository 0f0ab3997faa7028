# The DAP tests depend on the line numbers of this script.
def check(flag, ratio, items):
    return len(items)


for k in range(6):
    check(k == 4, k / 2, list(range(k)))
