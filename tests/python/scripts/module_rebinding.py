"""Exercises module names changed by something other than the module's own lines: a function's
`global` statement, `globals()` writes (under the name's own key and under an equal key made at
run time), `exec` into the module's namespace, another thread, `globals().update`, in-place
mutation, deletion, and comprehension variables that shadow a module name (PEP 709)."""

import threading

count = 0
items = []
label = "start"


def bump():
    global count
    count += 1


def relabel(new):
    globals()["label"] = new


def relabel_by_made_key(new):
    globals()["lab" + "el"] = new


def grow():
    items.append(len(items))


for step in range(3):
    bump()
    relabel("step" + str(step))
    grow()
    exec("count = count * 2", globals())
    extra = step
    del extra
    relabel_by_made_key("made" + str(step))
worker = threading.Thread(target=bump)
worker.start()
worker.join()
step = [step * 10 for step in range(2)]
items = [items for items in "ab"]
shadowed = "outer"
count = sum([shadowed for shadowed in range(3)])
label = shadowed
globals()["dyn" + "amic"] = 5
dynamic += 1
globals().update({"count": 100, "label": "updated"})
del dynamic
globals().pop("worker")
print(count, label, items, step, shadowed)
