# tests/python/test_dap.py depends on the line numbers in this file: keep them stable.


def square(n):
    result = n * n
    return result


total = 0
for i in range(5):
    total += square(i)
print("total", total)
