"""Recorded values: every frame's locals rebuilt from the `values` table (SPEC section 6) must be
what the settrace oracle saw at every line event of every thread, plus exact expectations.

Locals are rebuilt incrementally per call id: rows are applied in file order, a `deleted` row
removes the name; wherever a frame has snapshot rows at a seq, they must list exactly the state
rebuilt so far (so the changes and the snapshots agree).
"""

import copy
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import PYTTD_SCRIPT
from pyttd import _native

SCRIPTS = Path(__file__).resolve().parent / "scripts"
CAP = 256
# Thread reprs hold the thread's state and ident (`<Thread(w, started 1402…)>`). The recorded run
# and the oracle's run are two processes scheduled differently, so a worker can be `started` in one
# and `stopped` in the other at the same line: both are normalised away.
_THREAD_IDENT = re.compile(r"(<Thread\([^,]*, )(?:initial|started|stopped)(?: daemon)?(?: \d+)?")


def write(tmp_path: Path, source: str, name: str = "script.py") -> Path:
    script = tmp_path / name
    script.write_text(textwrap.dedent(source))
    return script


def record(
    script: Path,
    *args: str,
    env: dict[str, str] | None = None,
    out: Path | None = None,
    options: tuple[str, ...] = (),
) -> dict:
    """Records `script` with `args` (`options`: of `pyttd record`); the trace, and the run as
    `result`."""
    out = out or script.with_suffix(".pyttd")
    result = subprocess.run(
        [str(PYTTD_SCRIPT), "record", "-o", str(out), *options, str(script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=script.parent,
        env={**os.environ, **(env or {})},
    )
    trace = _native.read_trace(out)
    trace["result"] = result
    return trace


def render(row: tuple) -> tuple[str, bool]:
    """A `values` row as `repr()` text, and whether that text is only a prefix."""
    _seq, _call, _name, _role, _snap, tag, _type, int_value, float_value, text, truncated, _len = row
    if tag == "none":
        return "None", False
    if tag == "bool":
        return repr(bool(int_value)), False
    if tag == "int":
        return (str(int_value) if int_value is not None else text), False
    if tag == "float":
        return repr(float_value), False
    if tag == "str":
        r = repr(text)
        return (r[:-1], True) if truncated else (r, False)
    if tag == "repr":
        return text, truncated
    raise AssertionError(f"unexpected tag in {row}")


class Rebuilt:
    """Locals of every frame at every event, from the `values` rows."""

    def __init__(self, trace: dict):
        self.by_seq: dict[int, list[tuple]] = {}
        for row in trace["values"]:
            self.by_seq.setdefault(row[0], []).append(row)
        seqs = [r[0] for r in trace["values"]]
        assert seqs == sorted(seqs), "values rows must be in non-decreasing seq order"
        self.state: dict[int, dict[str, tuple[str, bool]]] = {}

    def apply(self, seq: int) -> dict[int, list[tuple]]:
        """Applies the local rows of `seq`; returns its other rows (return, exception) by call id."""
        snapshots: dict[int, dict[str, tuple[str, bool]]] = {}
        others: dict[int, list[tuple]] = {}
        for row in self.by_seq.get(seq, ()):
            call, name, role, snapshot, tag = row[1], row[2], row[3], row[4], row[5]
            if role != "local":
                others.setdefault(call, []).append(row)
                continue
            frame = self.state.setdefault(call, {})
            if tag == "deleted":
                assert not snapshot, row
                assert name in frame, f"deleted an unbound name: {row}"
                del frame[name]
            else:
                frame[name] = render(row)
                if snapshot:
                    snapshots.setdefault(call, {})[name] = frame[name]
        for call, snap in snapshots.items():
            assert snap == self.state[call], f"seq {seq}: the snapshot of call {call} is not the rebuilt state"
        return others


def same(ours: tuple[str, bool], theirs: str) -> bool:
    from oracle import normalize_addresses

    text, partial = ours
    text, theirs = (_THREAD_IDENT.sub(r"\1STATE", normalize_addresses(t)) for t in (text, theirs))
    if partial or len(theirs) >= CAP:
        n = min(len(text), len(theirs))
        return text[:n] == theirs[:n]
    return text == theirs


def assert_locals(where: str, state: dict[str, tuple[str, bool]], expected: dict[str, str]) -> None:
    """The locals rebuilt at one line event against the oracle's at that event."""
    assert sorted(state) == sorted(expected), f"{where}: names {sorted(state)} != {sorted(expected)}"
    for k, v in expected.items():
        assert same(state[k], v), f"{where}: {k} = {state[k]} but the oracle saw {v!r}"


ORACLE_SCRIPTS = sorted(p.name for p in SCRIPTS.glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("name", ORACLE_SCRIPTS)
def test_locals_match_the_settrace_oracle(name, tmp_path):
    oracle = pytest.importorskip("oracle")
    script = SCRIPTS / name
    args = ("one", "two") if name == "argv_exit.py" else ()
    expected = oracle.record(script, args)
    trace = record(script, *args, env=oracle.CHILD_ENV, out=tmp_path / "trace.pyttd")
    assert trace["result"].returncode == expected.exit_status, trace["result"].stderr
    names: dict[int, str] = {}
    for thread_id, _ident, _native_id, name_, _first in trace["threads"]:
        base, k = name_, 1
        while name_ in names.values():
            k += 1
            name_ = f"{base}#{k}"
        names[thread_id] = name_
    rebuilt = Rebuilt(trace)
    ours: dict[str, list[tuple]] = {}
    for seq, t, kind, q, line, _depth, call in trace["events"]:
        rebuilt.apply(seq)
        if kind == "line":
            ours.setdefault(names[t], []).append((q, line, dict(rebuilt.state.get(call, {}))))
    compared = 0
    for thread, events in expected.threads.items():
        theirs = [e for e in events if e.kind == "line"]
        mine = ours.get(thread, [])
        assert [(q, line) for q, line, _ in mine] == [(e.function, e.line) for e in theirs], thread
        for i, (e, (_q, _line, state)) in enumerate(zip(theirs, mine, strict=True)):
            if e.locals is None:
                continue
            assert_locals(f"{thread} line event {i} ({e.function}:{e.line})", state, e.locals)
            compared += 1
    if any(e.kind == "line" for evs in expected.threads.values() for e in evs):
        assert compared > 0


def locals_at_lines(trace: dict, qualname: str) -> list[tuple[int, dict[str, tuple[str, bool]]]]:
    """(line, locals) at each line event of frames running `qualname`."""
    rebuilt = Rebuilt(trace)
    out = []
    for seq, _t, kind, q, line, _depth, call in trace["events"]:
        rebuilt.apply(seq)
        if kind == "line" and q == qualname:
            out.append((line, {k: v[0] for k, v in rebuilt.state.get(call, {}).items()}))
    return out


def test_a_million_iterations_have_the_exact_i(tmp_path):
    n = 1_000_000
    script = write(
        tmp_path,
        f"""\
        def f():
            k = 0
            for i in range({n}):
                k += 1
            return k
        f()
        """,
    )
    trace = record(script)
    assert trace["result"].returncode == 0, trace["result"].stderr
    rebuilt = Rebuilt(trace)
    line4 = 0
    seen = {}
    picks = {7, 123_457, 999_999}
    for seq, _t, kind, q, line, _d, call in trace["events"]:
        rebuilt.apply(seq)
        if kind == "line" and q == "f" and line == 4:
            if line4 in picks:
                seen[line4] = {k: v[0] for k, v in rebuilt.state[call].items()}
            line4 += 1
    assert line4 == n
    # Before line 4 of iteration j runs, i == j and k == j.
    assert seen == {j: {"i": str(j), "k": str(j)} for j in picks}
    # Bounded rebuild: a snapshot of f at least every 256 of its events (the one at its call
    # event has no rows: nothing is bound yet).
    f_call = next(c[0] for c in trace["calls"] if c[3] == "f")
    f_events = [e[0] for e in trace["events"] if e[6] == f_call]
    snaps = sorted({f_events[0]} | {r[0] for r in trace["values"] if r[1] == f_call and r[4]})
    index = {s: i for i, s in enumerate(f_events)}
    gaps = [index[b] - index[a] for a, b in zip(snaps, snaps[1:])]
    assert len(snaps) > n // 128 and max(gaps) <= 256


def test_deletion_and_in_place_mutation(tmp_path):
    script = write(
        tmp_path,
        """\
        def f():
            x = 1
            xs = [1]
            xs.append(2)
            del x
            return xs
        f()
        """,
    )
    steps = locals_at_lines(record(script), "f")
    assert steps == [
        (2, {}),
        (3, {"x": "1"}),
        (4, {"x": "1", "xs": "[1]"}),
        (5, {"x": "1", "xs": "[1, 2]"}),
        (6, {"xs": "[1, 2]"}),
    ]


def test_locals_rebound_from_outside_their_frame_are_seen_at_the_next_line(tmp_path):
    # A line reads only the slots it may rebind itself (stores.rs); other code changes a frame's
    # locals through its frame object (`f_locals` writes, CPython's LocalsToFast on 3.12), a
    # shared cell, or a container's contents.
    script = write(
        tmp_path,
        """\
        import ctypes, sys

        def poke(name, value):
            frame = sys._getframe(1)
            frame.f_locals[name] = value
            if sys.version_info < (3, 13):
                ctypes.pythonapi.PyFrame_LocalsToFast(ctypes.py_object(frame), ctypes.c_int(0))

        def f():
            x = 1
            y = 2
            xs = [1]
            def bump():
                nonlocal y
                y += 10
            poke("x", 99)
            bump()
            xs.append(2)
            print(x, y, xs)
            return x

        f()
        """,
    )
    trace = record(script)
    assert trace["result"].stdout == "99 12 [1, 2]\n", trace["result"].stderr
    steps = dict(locals_at_lines(trace, "f"))
    shown = {line: {k: steps[line][k] for k in ("x", "y", "xs")} for line in (16, 17, 18, 19)}
    assert shown == {
        16: {"x": "1", "y": "2", "xs": "[1]"},
        17: {"x": "99", "y": "2", "xs": "[1]"},
        18: {"x": "99", "y": "12", "xs": "[1]"},
        19: {"x": "99", "y": "12", "xs": "[1, 2]"},
    }


def test_code_specialized_before_the_recording_started_shows_exact_locals(tmp_path):
    # Run twice before recording, `message + suffix` becomes an instruction that stores
    # `message` itself and skips the store (and line 4's event) that follows it.
    script = write(
        tmp_path,
        """\
        import pyttd

        def greet(message, suffix):
            message = (
                message + suffix
            )
            done = True
            return message

        greet("hello", "!")
        greet("hello", "!")
        with pyttd.recording("trace.pyttd"):
            greet("hello", "!")
        """,
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    steps = locals_at_lines(_native.read_trace(tmp_path / "trace.pyttd"), "greet")
    assert [line for line, _ in steps if line in (7, 8)] == [7, 8]
    for line, state in steps:
        if line in (7, 8):
            assert state["message"] == "'hello!'", (line, state)


def test_module_names_through_deletions_and_a_non_str_key(tmp_path):
    """A module's namespace is read from its dict's entry table: deleted entries are skipped, a
    name bound again shows again, and a non-str key (which turns the table into the general
    kind, with hashes) is not a variable but does not hide the names after it."""
    script = write(
        tmp_path,
        """\
        a = 1
        b = 2
        del a
        globals()[7] = "seven"
        c = 3
        a = 4
        del b
        print(a + c)
        """,
    )
    steps = locals_at_lines(record(script), "<module>")
    assert steps == [
        (1, {}),
        (2, {"a": "1"}),
        (3, {"a": "1", "b": "2"}),
        (4, {"b": "2"}),
        (5, {"b": "2"}),
        (6, {"b": "2", "c": "3"}),
        (7, {"a": "4", "b": "2", "c": "3"}),
        (8, {"a": "4", "c": "3"}),
    ]


def test_a_user_repr_runs_once_per_object_per_event(tmp_path):
    """An object shown in several places at one event (a local; in a dict's text, as its key and
    in the list it maps to; as a child row's key) has its `__repr__` run once for that event, and
    every place shows that text; a change to the object shows at the next event."""
    script = write(
        tmp_path,
        """\
        import sys

        class K:
            calls = 0

            def __init__(self):
                self.n = 0

            def __repr__(self):
                K.calls += 1
                return f"K{self.n}"

        def f():
            k = K()
            d = {k: [k, k]}
            k.n = 1
            d[2] = 3
            return K.calls

        print(f())
        """,
    )
    trace = record(script)
    assert trace["result"].returncode == 0, trace["result"].stderr
    f_call = next(c[0] for c in trace["calls"] if c[3] == "f")
    f_events = [e for e in trace["events"] if e[6] == f_call]
    # One run per event of f at most, where every place showing k used to run it again.
    assert int(trace["result"].stdout) <= len(f_events)
    steps = locals_at_lines(trace, "f")
    assert steps == [
        (14, {}),
        (15, {"k": "K0"}),
        (16, {"k": "K0", "d": "{K0: [K0, K0]}"}),
        (17, {"k": "K1", "d": "{K1: [K1, K1]}"}),
        (18, {"k": "K1", "d": "{K1: [K1, K1], 2: 3}"}),
    ]
    row, children = children_of(trace, "d")
    assert children == {"K1": ("[K1, K1]", {}), "2": (3, {})}


def test_a_repr_that_meets_its_container_is_taken_again_inside_it(tmp_path):
    """`k`'s repr shows `k.n`, which is a list holding `k`: Python shows `[...]` for the list where
    it is already being rendered, so `repr(k)` on its own and `k` inside `repr(v)` differ. The
    per-event repr memo must not give `v` the text `k` had on its own."""
    script = write(
        tmp_path,
        """\
        class K:
            def __init__(self, n):
                self.n = n

            def __repr__(self):
                return f"K<{self.n!r}>"

        def f():
            k = K(0)
            v = [k]
            k.n = v
            w = (k, v, {1: k})
            return len(w)

        f()
        """,
    )
    trace = record(script)
    assert trace["result"].returncode == 0, trace["result"].stderr
    steps = locals_at_lines(trace, "f")
    assert steps[-1] == (
        13,
        {
            "k": "K<[K<[...]>]>",
            "v": "[K<[...]>]",
            "w": "(K<[K<[...]>]>, [K<[...]>], {1: K<[K<[...]>]>})",
        },
    )
    assert steps[-2] == (12, {"k": "K<[K<[...]>]>", "v": "[K<[...]>]"})


def test_a_repr_with_dots_past_the_cap_is_not_trusted_unchanged(tmp_path):
    """`v[0]`'s repr on its own is longer than the text cap before its `[...]`, so the cut text
    shows no `...`; inside `v` it is short, and shows the tail that changes. The element must not
    be checked by its cut text alone (it was, and `v` stayed at its first value)."""
    script = write(
        tmp_path,
        """\
        class K:
            def __init__(self):
                self.head = "h" * 240
                self.n = None
                self.tail = "a"

            def __repr__(self):
                return f"K<{self.head}{self.n!r}, {self.tail}>"

        def f():
            v = [K()]
            v[0].n = v
            v[0].tail = "b"
            v[0].tail = "c"
            return len(v)

        f()
        """,
    )
    trace = record(script)
    assert trace["result"].returncode == 0, trace["result"].stderr
    head = "h" * 240
    shown = [(line, s["v"]) for line, s in locals_at_lines(trace, "f") if "v" in s]
    assert shown[-3:] == [
        (13, f"[K<{head}[...], a>]"),
        (14, f"[K<{head}[...], b>]"),
        (15, f"[K<{head}[...], c>]"),
    ]


def test_module_class_and_function_reprs_follow_renames(tmp_path):
    """These reprs are not re-rendered while CPython's version stamps stay the same; a rename
    changes the stamp, and the new text shows at the very next line. (On 3.13 assigning a
    class's `__qualname__` keeps its version tag.)"""
    script = write(
        tmp_path,
        """\
        import types
        def f():
            m = types.ModuleType("alpha")
            class C:
                __slots__ = ()
            o = C()
            def g():
                pass
            m.__name__ = "beta"
            C.__qualname__ = "D"
            g.__qualname__ = "h"
            C.__module__ = "pkg"
            return m
        f()
        """,
    )
    steps = dict(locals_at_lines(record(script), "f"))
    assert steps[9]["m"] == "<module 'alpha'>"
    assert steps[10]["m"] == "<module 'beta'>"
    assert steps[10]["C"] == "<class '__main__.f.<locals>.C'>"
    assert steps[11]["C"] == "<class '__main__.D'>"
    # `object.__repr__` of an instance (no children to show): the type's tag is its stamp.
    assert re.fullmatch(r"<__main__\.f\.<locals>\.C object at 0x[0-9a-f]+>", steps[10]["o"])
    assert steps[11]["o"] == steps[10]["o"].replace("f.<locals>.C", "D")
    assert re.fullmatch(r"<function f\.<locals>\.g at 0x[0-9a-f]+>", steps[11]["g"])
    assert steps[12]["g"] == steps[11]["g"].replace("f.<locals>.g", "h")
    assert steps[12]["C"] == "<class '__main__.D'>"
    assert steps[13]["C"] == "<class 'pkg.D'>"
    assert steps[13]["o"] == steps[11]["o"].replace("__main__.D", "pkg.D")


def test_values_of_every_kind(tmp_path):
    script = write(
        tmp_path,
        """\
        class Raising:
            def __repr__(self):
                raise ValueError("no")
        class Looping:
            def __repr__(self):
                return f"L({self!r})"
        def f():
            a = None
            b = True
            c = -2**63
            d = 2**64
            e = 1.5
            g = float("nan")
            h = "x" * 300
            i = "a\\ud800"
            j = Raising()
            k = Looping()
            m = list(range(100_000))
            n = {"k": (1,), "s": {2}, "f": frozenset(), "e": set(), "t": ()}
            o = [Raising()]
            p = 10 ** 5000
            return 0
        f()
        """,
    )
    trace = record(script)
    rows = {r[2]: r for r in trace["values"] if r[3] == "local" and r[2]}
    assert rows["a"][5] == "none"
    assert (rows["b"][5], rows["b"][7]) == ("bool", 1)
    assert (rows["c"][5], rows["c"][7]) == ("int", -(2**63))
    assert (rows["d"][5], rows["d"][7], rows["d"][9]) == ("int", None, str(2**64))
    assert (rows["e"][5], rows["e"][8]) == ("float", 1.5)
    assert rows["g"][5] == "float" and math.isnan(rows["g"][8])
    assert (rows["h"][5], rows["h"][9], rows["h"][10]) == ("str", "x" * 256, True)
    assert (rows["i"][5], rows["i"][6], rows["i"][9]) == ("repr", "str", repr("a\ud800"))
    assert (rows["j"][5], rows["j"][9]) == ("repr", "<repr failed: ValueError>")
    assert rows["k"][9] == "<repr failed: RecursionError>"
    assert rows["m"][9] == repr(list(range(100_000)))[:256] and rows["m"][10] and rows["m"][11] == 100_000
    assert rows["n"][9] == repr({"k": (1,), "s": {2}, "f": frozenset(), "e": set(), "t": ()})
    assert rows["o"][9] == "<repr failed: ValueError>"
    assert (rows["p"][5], rows["p"][9]) == ("repr", "<repr failed: ValueError>")
    assert trace["result"].returncode == 0


def test_ints_around_the_one_digit_boundary_are_told_apart(tmp_path):
    """One-digit ints are read straight from the object; each change below flips only the sign,
    the size or the digits past the first, and must be recorded."""
    values = [0, 5, -5, 2**30 - 1, 2**30, -(2**30), -(2**30) + 1, 2**30 + 5, 5, -(2**62), 1 - 2**30]
    script = write(
        tmp_path,
        f"""\
        def f(values):
            for v in values:
                x = v * 1
            return 0
        f({values!r})
        """,
    )
    trace = record(script)
    xs = [r[7] for r in trace["values"] if r[2] == "x" and r[3] == "local"]
    assert xs == values


def test_return_and_exception_rows(tmp_path):
    script = write(
        tmp_path,
        """\
        def g():
            yield 5
        def f():
            try:
                raise KeyError("k", 1)
            except KeyError:
                pass
            return list(g())
        f()
        """,
    )
    trace = record(script)
    events = {e[0]: e for e in trace["events"]}
    returns = [(events[r[0]][2], events[r[0]][3], r[9] if r[5] == "repr" else r[7]) for r in trace["values"] if r[3] == "return"]
    assert ("yield", "g", 5) in returns
    assert ("return", "f", "[5]") in returns
    exc_rows = [r for r in trace["values"] if r[3] == "exception"]
    assert [(r[2], r[9]) for r in exc_rows][0] == ("", "KeyError('k', 1)")
    assert trace["exceptions"][0][3:] == ("KeyError", "('k', 1)")
    assert trace["exceptions"][0][0] == exc_rows[0][0]


def test_module_level_comprehension_variables(tmp_path):
    # Where the oracle cannot look on 3.12 (hidden slots, DESIGN.md 2.5): the comprehension's
    # variable over the global of the same name while it runs, the global again afterwards.
    script = write(
        tmp_path,
        """\
        y = "outer"
        ys = [
            y * 2
            for y in range(3)
        ]
        z = y
        """,
    )
    steps = locals_at_lines(record(script), "<module>")
    assert [s["y"] for line, s in steps if line == 3] == ["0", "1", "2"]
    assert steps[-1] == (6, {"y": "'outer'", "ys": "[0, 2, 4]"})


def children_of(trace: dict, name: str, seq: int | None = None) -> tuple[dict, dict]:
    """The latest `values` row of local `name` (at or before `seq`) and its children as a tree:
    `{key: (text_or_int, {grandchildren...})}`."""
    rows = [
        (r, oid)
        for r, oid in zip(trace["values"], trace["value_object_ids"])
        if r[2] == name and r[3] == "local" and (seq is None or r[0] <= seq)
    ]
    row, oid = rows[-1]
    by_parent: dict = {}
    for c in trace["children"]:
        by_parent.setdefault(c[1], []).append(c)

    def tree(parent):
        out = {}
        for c in sorted(by_parent.get(parent, []), key=lambda c: c[2]):
            shown = c[6] if c[4] in ("int", "bool") else (c[4] if c[4] == "redacted" else c[8])
            out[c[3]] = (shown, tree(c[11]) if c[11] is not None else {})
        return out

    return row, (tree(oid) if oid is not None else {})


def test_children_of_containers_and_objects(tmp_path):
    script = tmp_path / "kids.py"
    script.write_text(
        textwrap.dedent(
            """\
            from collections import namedtuple

            Point = namedtuple("Point", "x y")

            class Account:
                def __init__(self):
                    self.owner = "ann"
                    self.password = "hunter2"
                    self.tags = ["a", "b"]

            class Slotted:
                __slots__ = ("a", "b")
                def __init__(self):
                    self.a = 1

            def main():
                rows = [{"id": 1, "name": "x"}, {"id": 2, "name": "y"}]
                acct = Account()
                s = Slotted()
                p = Point(3, 4)
                big = list(range(100))
                big[70] = -1
                return len(rows)

            main()
            """
        )
    )
    out = tmp_path / "kids.pyttd"
    result = subprocess.run(
        [str(PYTTD_SCRIPT), "record", "-o", str(out), "--expand-width", "80", "--expand-depth", "2", str(script)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    trace = _native.read_trace(out)
    _, rows = children_of(trace, "rows")
    assert rows == {
        "[0]": ("{'id': 1, 'name': 'x'}", {"'id'": (1, {}), "'name'": ("x", {})}),
        "[1]": ("{'id': 2, 'name': 'y'}", {"'id'": (2, {}), "'name'": ("y", {})}),
    }
    _, acct = children_of(trace, "acct")
    assert acct == {
        "owner": ("ann", {}),
        "password": ("redacted", {}),
        "tags": ("['a', 'b']", {"[0]": ("a", {}), "[1]": ("b", {})}),
    }
    assert "hunter2" not in repr(trace["children"])
    assert children_of(trace, "s")[1] == {"a": (1, {})}
    assert children_of(trace, "p")[1] == {"x": (3, {}), "y": (4, {})}
    # Width 80: the first 80 elements. Element 70 changes beyond the repr's 256-character cap:
    # the change is still recorded (a new row whose children show it).
    big_rows = [r for r in trace["values"] if r[2] == "big"]
    assert len(big_rows) == 2 and big_rows[0][9] == big_rows[1][9] and big_rows[0][10]
    _, last = children_of(trace, "big")
    assert len(last) == 80 and last["[70]"] == (-1, {}) and last["[69]"] == (69, {})
    _, before = children_of(trace, "big", big_rows[0][0])
    assert before["[70]"] == (70, {})


def test_attribute_changes_only_the_children_show_are_recorded(tmp_path):
    """An object whose text does not show an attribute is still recorded again when that
    attribute changes, or one is added or renamed, through slots (a non-ASCII name too) or its
    dict."""
    script = tmp_path / "attrs.py"
    script.write_text(
        textwrap.dedent(
            """\
            class S:
                __slots__ = ("x", "é", "tail")
                def __init__(self):
                    self.x = 1
                    self.é = 2
                def __repr__(self):
                    return f"S({self.x})"

            class D:
                def __init__(self):
                    self.a = 1
                def __repr__(self):
                    return "D"

            def main():
                s = S()
                d = D()
                s.é = 3
                d.a = 2
                d.ñ = 4
                s.tail = 5
                e = D()
                del e.a; e.z = 1
                return 0

            main()
            """
        ),
        encoding="utf-8",
    )
    out = tmp_path / "attrs.pyttd"
    result = subprocess.run(
        [str(PYTTD_SCRIPT), "record", "-o", str(out), str(script)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    trace = _native.read_trace(out)

    def history(name):
        seqs = [r[0] for r in trace["values"] if r[2] == name and r[3] == "local"]
        return [children_of(trace, name, seq)[1] for seq in seqs]

    assert history("s") == [
        {"x": (1, {}), "é": (2, {})},
        {"x": (1, {}), "é": (3, {})},
        {"x": (1, {}), "é": (3, {}), "tail": (5, {})},
    ]
    assert history("d") == [
        {"a": (1, {})},
        {"a": (2, {})},
        {"a": (2, {}), "ñ": (4, {})},
    ]
    # Another name, the same value: a change.
    assert history("e") == [{"a": (1, {})}, {"z": (1, {})}]


def test_an_object_held_again_shows_what_it_holds_now(tmp_path):
    """An object a local held before (rebound since, or its frame returned) and that changed
    while no local held it is shown as it is now when a local holds it again, children
    included; one that did not change, as before (values.rs, `Recent`)."""
    script = tmp_path / "again.py"
    script.write_text(
        textwrap.dedent(
            """\
            class Node:
                __slots__ = ("x", "tail")
                def __init__(self, x):
                    self.x = x
                def __repr__(self):
                    return f"Node({self.x})"

            def show(m):
                return m.x

            def main():
                nodes = [Node(1), Node(2)]
                for n in nodes:
                    show(n)
                n = None
                nodes[0].x = 5
                nodes[1].tail = [7]
                for n in nodes:
                    show(n)
                for n in nodes:
                    show(n)
                rows = [{"a": 1}, {"a": 2}]
                for r in rows:
                    pass
                r = None
                rows[0]["a"] = 5
                rows[1]["b"] = [7]
                for r in rows:
                    pass
                return 0

            main()
            """
        )
    )
    trace = record(script)
    assert trace["result"].returncode == 0, trace["result"].stderr

    def history(name):
        rows = [r for r in trace["values"] if r[2] == name and r[3] == "local"]
        return [(r[9], children_of(trace, name, r[0])[1]) for r in rows]

    first = ("Node(5)", {"x": (5, {})})
    second = ("Node(2)", {"x": (2, {}), "tail": ("[7]", {})})
    before = [("Node(1)", {"x": (1, {})}), ("Node(2)", {"x": (2, {})})]
    assert history("n") == [*before, (None, {}), first, second, first, second]
    # One row per call: each call's argument is recorded when the call opens.
    assert history("m") == [*before, first, second, first, second]
    # Dicts too (a list, tuple or dict renders from the shape a rebound local had, when another
    # local did not keep one for the new value).
    assert history("r") == [
        ("{'a': 1}", {"'a'": (1, {})}),
        ("{'a': 2}", {"'a'": (2, {})}),
        (None, {}),
        ("{'a': 5}", {"'a'": (5, {})}),
        ("{'a': 2, 'b': [7]}", {"'a'": (2, {}), "'b'": ("[7]", {})}),
    ]


def test_expand_depth_zero_records_no_children(tmp_path):
    script = tmp_path / "flat.py"
    script.write_text("def f():\n    xs = [[1], [2]]\n    return xs\nf()\n")
    out = tmp_path / "flat.pyttd"
    result = subprocess.run(
        [str(PYTTD_SCRIPT), "record", "-o", str(out), "--expand-depth", "0", str(script)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    trace = _native.read_trace(out)
    assert trace["children"] == []
    assert [r[9] for r in trace["values"] if r[2] == "xs"] == ["[[1], [2]]"]


def test_changes_past_the_text_show_in_the_children(tmp_path):
    """A container's text stops at 256 characters, its children's texts each start afresh: a
    change that only a child's text shows is recorded (a new row, whose children show it), and
    so is one that no text shows but a child row does."""
    script = write(
        tmp_path,
        """\
        def f():
            grid = [[0] * 40 for _ in range(4)]
            grid[0][39] = 1
            grid[3][0] = 2
            grid[3][39] = 3
            table = {"k%d" % i: {"v": [i] * 20} for i in range(12)}
            table["k11"]["v"][19] = -1
            table["k0"]["v"][19] = -2
            big = [list(range(100)), 0]
            big[0][90] = -3
            return 0
        f()
        """,
    )
    trace = record(script)
    assert trace["result"].returncode == 0, trace["result"].stderr

    def rows(name: str) -> list[tuple]:
        return [r for r in trace["values"] if r[2] == name and r[3] == "local"]

    assert len(rows("grid")) == 4
    _, grid = children_of(trace, "grid")
    assert grid["[0]"][0].endswith(", 1]") and grid["[3]"][0] == repr([2] + [0] * 38 + [3])
    assert [r[9] for r in rows("grid")][2:] == [rows("grid")[1][9]] * 2
    assert len(rows("table")) == 3
    _, table = children_of(trace, "table")
    assert table["'k11'"][0] == repr({"v": [11] * 19 + [-1]})
    assert table["'k0'"][0] == repr({"v": [0] * 19 + [-2]})
    # The text shows `big[0]` up to 256 characters, the child `[0]` as well: element 90 is past
    # both, and one level of children does not reach it.
    assert len(rows("big")) == 1


_KEEPS_ROWS = """\
class P:
    def __init__(self, n):
        self.n = n
    def __repr__(self):
        return f"P({self.n})"

def f():
    xs = [[0], [1], [2]]
    xs.append([3])
    xs[1].append(9); xs.append([4])
    xs[0] = [0]; xs[2] = [8]
    xs.pop(0)
    d = {"a": 1, "b": 1, "c": [1]}
    d["c"].append(2); d["z"] = 0
    del d["a"]
    d["b"] = [1]; d["c"] = [1, 2]
    ps = [P(1), P(2)]
    ps[0].n = 5; ps.append(P(3))
    kd = {P(1): "x", P(2): "y"}
    next(iter(kd)).n = 7; kd[P(9)] = "z"
    del kd[next(iter(kd))]
    return 0

f()
"""


def test_a_changed_container_keeps_only_the_rows_of_its_unchanged_children(tmp_path):
    """A list, tuple or dict that changed is rendered again, and its children with it, except
    those whose element still renders as its row shows (expand.rs, `render_reusing`). Each
    change below puts a changed child next to an unchanged one, or an unchanged-looking one at
    the place of another: an element changed in place while the list grows, an element
    replaced, the list shifted, a dict's keys shifted by a deletion onto a key with the same
    value, objects with planned reprs changed in place as elements and as keys. The children
    after every change are the live objects' (computed here by the same steps)."""
    script = write(tmp_path, _KEEPS_ROWS)
    trace = record(script)
    assert trace["result"].returncode == 0, trace["result"].stderr
    namespace: dict = {}
    exec(_KEEPS_ROWS.replace("\nf()\n", "\n"), namespace)
    P = namespace["P"]
    xs = [[0], [1], [2]]
    xs_states = [copy.deepcopy(xs)]
    for step in (
        lambda: xs.append([3]),
        lambda: (xs[1].append(9), xs.append([4])),
        lambda: (xs.__setitem__(0, [0]), xs.__setitem__(2, [8])),
        lambda: xs.pop(0),
    ):
        step()
        xs_states.append(copy.deepcopy(xs))
    d = {"a": 1, "b": 1, "c": [1]}
    d_states = [copy.deepcopy(d)]
    for step in (
        lambda: (d["c"].append(2), d.__setitem__("z", 0)),
        lambda: d.pop("a"),
        lambda: (d.__setitem__("b", [1]), d.__setitem__("c", [1, 2])),
    ):
        step()
        d_states.append(copy.deepcopy(d))
    ps = [P(1), P(2)]
    ps_states = [repr(ps)]
    ps[0].n = 5
    ps.append(P(3))
    ps_states.append(repr(ps))
    kd = {P(1): "x", P(2): "y"}
    kd_states = [repr(kd)]
    next(iter(kd)).n = 7
    kd[P(9)] = "z"
    kd_states.append(repr(kd))
    del kd[next(iter(kd))]
    kd_states.append(repr(kd))

    def shown(value):
        return value if isinstance(value, int) else (value if isinstance(value, str) else repr(value))

    def recorded(name: str) -> list[dict]:
        seqs = [r[0] for r in trace["values"] if r[2] == name and r[3] == "local"]
        return [{k: v[0] for k, v in children_of(trace, name, seq)[1].items()} for seq in seqs]

    assert recorded("xs") == [{f"[{i}]": repr(x) for i, x in enumerate(state)} for state in xs_states]
    assert recorded("d") == [{repr(k): shown(v) for k, v in state.items()} for state in d_states]
    assert [r[9] for r in trace["values"] if r[2] == "ps"] == ps_states
    assert recorded("ps")[-1] == {"[0]": "P(5)", "[1]": "P(2)", "[2]": "P(3)"}
    assert [r[9] for r in trace["values"] if r[2] == "kd"] == kd_states
    assert recorded("kd")[1] == {"P(7)": "x", "P(2)": "y", "P(9)": "z"}
    assert recorded("kd")[2] == {"P(2)": "y", "P(9)": "z"}


def test_a_list_cut_within_unchanged_elements_keeps_its_text(tmp_path):
    """A list or tuple whose text was cut at 256 characters within elements that all still
    render as they did keeps that text when it changes elsewhere (expand.rs, `render_reusing`):
    grown past its text, or changed past it. Each change below is on one side of the cut or the
    other, or moves the cut; every row's text, cut flag and length are the live list's."""
    script = write(
        tmp_path,
        """\
        def f():
            xs = [[i] * 30 for i in range(3)]
            xs.append([9])
            xs[0].append(7)
            xs[2][29] = 5
            xs[2][0] = 6
            xs.pop()
            xs.pop()
            xs.append([1] * 40)
            t = tuple(xs)
            t = t + (1,)
            return xs
        f()
        """,
    )
    trace = record(script)
    assert trace["result"].returncode == 0, trace["result"].stderr
    xs = [[i] * 30 for i in range(3)]
    states = [copy.deepcopy(xs)]
    for step in (
        lambda: xs.append([9]),
        lambda: xs[0].append(7),
        lambda: xs[2].__setitem__(29, 5),
        lambda: xs[2].__setitem__(0, 6),
        lambda: xs.pop(),
        lambda: xs.pop(),
        lambda: xs.append([1] * 40),
    ):
        step()
        states.append(copy.deepcopy(xs))

    def shown(value) -> tuple:
        text = repr(value)
        return text[:256], len(text) > 256, len(value)

    def rows(name: str) -> list[tuple]:
        return [(r[9], r[10], r[11]) for r in trace["values"] if r[2] == name and r[3] == "local"]

    assert rows("xs") == [shown(state) for state in states]
    t = tuple(xs)
    assert rows("t") == [shown(t), shown(t + (1,))]
    _, children = children_of(trace, "xs")
    assert children["[1]"][0] == repr([1] * 30) and children["[2]"][0] == repr([1] * 40)


def test_a_kept_child_row_agrees_with_its_container_s_text(tmp_path):
    """A child row is kept across a change only while no `__repr__` has run in the event
    (expand.rs, `render_reusing`): here `E.__repr__`, run for `xs`'s text, sets `p.x` back to
    the value the kept row shows, after the text showed `P(1)`. The row must show `P(1)` too."""
    script = write(
        tmp_path,
        """\
        class P:
            def __init__(self, x):
                self.x = x
            def __repr__(self):
                return f"P({self.x})"

        class E:
            def __repr__(self):
                p.x = 99
                return "E"

        p = P(99)
        e = E()

        def f():
            xs = [p, 0]
            p.x = 1; xs[1] = e
            return 0

        f()
        """,
    )
    trace = record(script)
    assert trace["result"].returncode == 0, trace["result"].stderr
    rows = [r for r in trace["values"] if r[2] == "xs" and r[3] == "local"]
    # (At the next line `xs` shows `p` as `E.__repr__` left it.)
    assert [r[9] for r in rows] == ["[P(99), 0]", "[P(1), E]", "[P(99), E]"]
    _, children = children_of(trace, "xs", rows[1][0])
    assert children == {"[0]": ("P(1)", {}), "[1]": ("E", {})}


def test_an_object_shown_with_its_attributes_is_checked_by_them(tmp_path):
    """An object shown with its attributes as children is not rendered again at every event:
    its shape (shape.rs, `Container::Instance`) checks its text (by what its planned repr reads,
    or by rendering it) and each attribute (scalars by value, containers by their own shapes).
    Every kind of change must still give a new row: an attribute set, a container attribute
    changed in place (text unchanged), an attribute added or deleted, the class's `__repr__`
    replaced, a secret attribute given a value of another type (shown only by its type)."""
    script = write(
        tmp_path,
        """\
        class Node:
            __slots__ = ("x", "edges")
            def __init__(self, x):
                self.x = x
                self.edges = []
            def __repr__(self):
                return f"Node({self.x})"

        class Bag:
            def __init__(self):
                self.a = 1

        class Vault:
            def __init__(self):
                self.password = 1

        def f():
            n = Node(1)
            n.edges.append(2)
            n.x = 3
            n.edges[0] = [4]
            n.edges[0].append(5)
            n.x = 3
            b = Bag()
            b.c = [1]
            b.c.append(2)
            del b.a
            b.a = "a"
            Bag.__repr__ = lambda self: "bag"
            v = Vault()
            v.password = "hunter2"
            v.password = None
            v.password = None
            return 0

        f()
        """,
    )
    trace = record(script)
    assert trace["result"].returncode == 0, trace["result"].stderr

    def states(name: str) -> list[tuple[str, dict]]:
        rows = [r for r in trace["values"] if r[2] == name and r[3] == "local"]
        return [(r[9], {k: v[0] for k, v in children_of(trace, name, r[0])[1].items()}) for r in rows]

    assert states("n") == [
        ("Node(1)", {"x": 1, "edges": "[]"}),
        ("Node(1)", {"x": 1, "edges": "[2]"}),
        ("Node(3)", {"x": 3, "edges": "[2]"}),
        ("Node(3)", {"x": 3, "edges": "[[4]]"}),
        ("Node(3)", {"x": 3, "edges": "[[4, 5]]"}),
    ]
    bags = states("b")
    assert [children for _, children in bags] == [
        {"a": 1},
        {"a": 1, "c": "[1]"},
        {"a": 1, "c": "[1, 2]"},
        {"c": "[1, 2]"},
        {"c": "[1, 2]", "a": "a"},
        {"c": "[1, 2]", "a": "a"},
    ]
    assert all(re.fullmatch(r"<__main__\.Bag object at 0x[0-9a-f]+>", text) for text, _ in bags[:-1])
    assert bags[-1][0] == "bag"
    vault = [r for r in trace["values"] if r[2] == "v" and r[3] == "local"]
    types = [c[5] for c in trace["children"] if c[3] == "password"]
    assert len(vault) == 3 and types == ["int", "str", "NoneType"], (vault, types)
    assert "hunter2" not in repr(trace["values"]) + repr(trace["children"])


@pytest.mark.parametrize("width", [32, 2])
def test_an_object_shown_by_object_repr_is_checked_by_its_address_and_type(tmp_path, width):
    """An object shown by `object.__repr__` has no state in its text: its shape checks the text
    by its address and its type's module and name (shape.rs, `Node::Stamped`), and its
    attributes by their nodes. Its class renamed must give the new text, also when its
    attributes are past the children's width; an attribute changed, a new row; a secret one,
    never its value."""
    script = write(
        tmp_path,
        """\
        class Plain:
            def __init__(self):
                self.a = 1
                self.b = 2

        def f():
            o = Plain()
            o.a = 3
            Plain.__qualname__ = "Renamed"
            o.c = 4
            o.token = "tk-9z8y"
            return 0

        f()
        """,
    )
    trace = record(script, options=("--expand-width", str(width)))
    assert trace["result"].returncode == 0, trace["result"].stderr
    rows = [r for r in trace["values"] if r[2] == "o" and r[3] == "local"]
    texts = [re.sub(r"0x[0-9a-f]+", "ADDR", r[9]) for r in rows]
    plain, renamed = "<__main__.Plain object at ADDR>", "<__main__.Renamed object at ADDR>"
    # With width 2, `c` and `token` are past the children: no row shows them.
    assert texts == [plain, plain, renamed] + ([renamed, renamed] if width > 2 else [])
    children = [{k: v[0] for k, v in children_of(trace, "o", r[0])[1].items()} for r in rows]
    assert children[1] == {"a": 3, "b": 2}
    if width > 2:
        assert children[-1] == {"a": 3, "b": 2, "c": 4, "token": "redacted"}
    assert "tk-9z8y" not in repr(trace["values"]) + repr(trace["children"])


def test_a_slot_descriptor_borrowed_from_another_class_is_not_read_as_a_slot(tmp_path):
    """A planned repr reads a `__slots__` attribute from its slot (plan.rs, `slot_offset`), but
    only for a member descriptor of the object's own class or a base: `B.x = A.__dict__["x"]`
    holds A's offset, and `B().x` raises `TypeError` rather than read B's memory there."""
    script = write(
        tmp_path,
        """\
        class A:
            __slots__ = ("a0", "a1", "a2", "x")

        class B:
            __slots__ = ("p", "q", "r", "w")
            def __repr__(self):
                return f"B({self.x})"

        B.x = A.__dict__["x"]

        def f():
            b = B()
            b.p = 1; b.q = 2; b.r = 3; b.w = "hidden"
            items = [b]
            b.w = "changed"
            return 0

        f()
        """,
    )
    trace = record(script)
    assert trace["result"].returncode == 0, trace["result"].stderr
    shown = {r[9] for r in trace["values"] if r[2] in ("b", "items")}
    assert shown == {"<repr failed: TypeError>"}
    assert "hidden" not in repr(trace["values"]) + repr(trace["children"]).replace("'hidden'", "")


@pytest.mark.parametrize("meddler", ["key", "metaclass"])
def test_python_run_by_the_recorder_outside_a_repr_leaves_no_stale_shape(tmp_path, meddler):
    """Python code can run while the recorder renders, outside any `__repr__`: a class dict key's
    `__eq__` when `object.__repr__` looks up `__module__` (a key with a colliding hash), or a
    metaclass's `__getattr__` when redaction looks for `_fields`. Here it changes `P0` after
    `a` showed it: `c`'s shape, taken at that event, must not hold the text from before, so
    from the next line both show `P(1)` (recorder/src/shape.rs, `Walk::planned`)."""
    meddlers = {
        "key": """\
            class K:
                def __hash__(self): return hash("__module__")
                def __eq__(self, other):
                    if ARM:
                        ARM.clear()
                        P0.x = 1
                    return False

            T = type("T", (), {K(): 1, "__module__": "m"})
            T0 = T()
            """,
        "metaclass": """\
            class M(type):
                def __getattr__(cls, name):
                    if ARM:
                        ARM.clear()
                        P0.x = 1
                    raise AttributeError(name)

            class T(metaclass=M):
                def __init__(self):
                    self.n = 5
                def __repr__(self):
                    return f"T({self.n})"

            T0 = T()
            """,
    }
    script = write(
        tmp_path,
        textwrap.dedent(
            """\
            class P:
                def __init__(self, x):
                    self.x = x
                def __repr__(self):
                    return f"P({self.x})"

            ARM = []
            P0 = P(0)
            """
        )
        + textwrap.dedent(meddlers[meddler])
        + """
def f():
    ARM.append(1)
    T.v = 1
    a, b, c = P0, [T0], [P0]
    x = 1
    y = 2
    return 0

f()
""",
    )
    trace = record(script)
    assert trace["result"].returncode == 0, trace["result"].stderr
    last = {}
    for r in trace["values"]:
        if r[2] in ("a", "c") and r[3] == "local":
            last[r[2]] = r[9]
    assert last == {"a": "P(1)", "c": "[P(1)]"}


def test_a_repr_that_changes_its_own_container(tmp_path):
    """Checking whether a container changed renders the objects in it that have their own repr,
    and such a repr may change the container while it is being checked: the recording goes on,
    and the last recorded text is the container's text at the end."""
    script = write(
        tmp_path,
        """\
        class Meddler:
            def __init__(self, box):
                self.box = box
            def __repr__(self):
                if len(self.box) < 8:
                    self.box.append(len(self.box))
                return "M"
        def f():
            box = [0]
            box.insert(0, Meddler(box))
            box.append("a")
            box.append("b")
            return repr(box)
        print(f())
        """,
    )
    trace = record(script)
    assert trace["result"].returncode == 0, trace["result"].stderr
    texts = [r[9] for r in trace["values"] if r[2] == "box" and r[3] == "local"]
    assert texts[0] == "[0]"
    assert texts[-1] == trace["result"].stdout.strip()


def test_shapes_found_wanting_by_review(tmp_path):
    """Three ways a container's shape once fell short of what its text and children show: a
    secret key's value (shown as `<redacted>`, not its length) used up the text the walk
    reckoned with; a tuple key, shown again as a child's key with text of its own, was walked
    only within the dict's text; and a `str` subclass key naming a secret had its value written
    to the children table."""
    script = write(
        tmp_path,
        """\
        class Node:
            def __init__(self, label):
                self.label = label
            def __repr__(self):
                return f"Node({self.label})"

        class S(str):
            pass

        def secret_value():
            items = [1, 2, 3]
            rows = [{"password": "hunter2-" * 50, "items": items}]
            items.append(4)
            return len(rows)

        def tuple_key():
            a = Node("a")
            t = {"k" * 300: 0, (1, a): 1}
            a.label = "changed"
            return len(t)

        def str_subclass_key():
            d = {S("password"): "hunter2"}
            return len(d)

        print(secret_value(), tuple_key(), str_subclass_key())
        """,
    )
    trace = record(script)
    assert trace["result"].returncode == 0, trace["result"].stderr
    assert trace["result"].stdout == "1 2 1\n"
    rows = [r[9] for r in trace["values"] if r[2] == "rows"]
    assert rows == ["[{'password': <redacted>, 'items': [1, 2, 3]}]", "[{'password': <redacted>, 'items': [1, 2, 3, 4]}]"]
    assert len([r for r in trace["values"] if r[2] == "t"]) == 2
    assert "(1, Node(changed))" in children_of(trace, "t")[1]
    assert not [c for c in trace["children"] if "hunter2" in repr(c)]


def test_a_repr_that_frees_the_list_being_walked(tmp_path):
    """An element's `repr()` empties the list that holds its list, and the freed memory is
    taken at once: the walk of the inner list must hold it (this crashed the recorder)."""
    script = write(
        tmp_path,
        """\
        import array
        VALS = [0x4141414141414141] * 3
        junk = None

        class Evil:
            def __repr__(self):
                global junk
                outer.clear()
                junk = array.array("q", VALS)
                return "E"

        outer = [[Evil(), 1, 2]]
        done = 1
        """,
    )
    trace = record(script)
    assert trace["result"].returncode == 0, trace["result"].stderr
    assert [r[9] for r in trace["values"] if r[2] == "outer"][-1] == "[]"


def test_a_string_cut_by_the_cap_inside_a_container_keeps_its_quotes(tmp_path):
    """The room left for the last string a container's text shows may be a character or two:
    its quotes still follow the whole string, as `repr()`'s do."""
    script = write(
        tmp_path,
        """\
        def f():
            for pad in range(8):
                x = ["a" * pad] + ["it's"] * 40
            return x
        f()
        """,
    )
    trace = record(script)
    xs = [(r[9], r[10]) for r in trace["values"] if r[2] == "x"]
    assert xs == [(repr(["a" * pad] + ["it's"] * 40)[:256], True) for pad in range(8)]


PLAIN_REPRS = '''
import dataclasses, reprlib

class Slots:
    __slots__ = ("x", "y")
    def __init__(self, x, y):
        self.x, self.y = x, y
    def __repr__(self):
        return f"Slots({self.x}, {self.y!r})"

class Conversions:
    kind = "class attribute"
    def __init__(self, **kw):
        self.__dict__.update(kw)
    def __repr__(self):
        """A docstring is not code."""
        return f"<{self.kind}|{self.s!s}|{self.a!a}|{self.r!r}|{self.f}|{self.b}|{self.n}|{self.big}>"

class One:
    def __init__(self, v):
        self.v = v
    def __repr__(self):
        return f"{self.v}"

class Global:
    def __repr__(self):
        return f"{type(self).__name__}()"

class Method:
    name = "m"
    def __repr__(self):
        return f"{self.name.upper()}"

class Spec:
    x = 5
    def __repr__(self):
        return f"{self.x:>4}"

class Property:
    @property
    def x(self):
        return 1
    def __repr__(self):
        return f"{self.x}"

class Fallback:
    def __getattr__(self, name):
        return 2
    def __repr__(self):
        return f"{self.x}"

class Percent:
    x = 3
    def __repr__(self):
        return "%s" % self.x

class Recursive:
    x = 4
    @reprlib.recursive_repr()
    def __repr__(self):
        return f"{self.x}"

@dataclasses.dataclass
class Data:
    x: int
'''


def test_plain_f_string_reprs_are_built_without_running_them():
    """The recorder builds the text of a `__repr__` that is one f-string of the object's own
    attributes itself (recorder/src/plan.rs), exactly as `repr()` gives it; anything else (a
    global, a call, a format spec, a descriptor, `__getattr__`, a decorator, a value it cannot
    format) leaves it to the real `repr()`."""
    ns: dict = {}
    exec(PLAIN_REPRS, ns)
    conversions = dict(s="naïve 'q'", a="é\n", r="it's", f=0.1, b=True, n=None, big=-(2**70))
    planned = [
        ns["Slots"](1, "a"),
        ns["Slots"](-7, 2.5e-07),
        ns["Slots"](None, False),
        ns["Conversions"](**conversions),
        ns["Conversions"](**conversions, kind="instance attribute"),
        ns["One"]("text"),
        ns["One"](float("nan")),
    ]
    for obj in planned:
        assert _native.planned_repr(obj) == repr(obj)
    odd = ns["One"]("\ud800")
    run = [
        ns["Global"](),
        ns["Method"](),
        ns["Spec"](),
        ns["Property"](),
        ns["Fallback"](),
        ns["Percent"](),
        ns["Recursive"](),
        ns["Data"](1),
        ns["One"]([1, 2]),
        odd,
        1,
        "str",
        [ns["One"](1)],
    ]
    for obj in run:
        assert _native.planned_repr(obj) is None, type(obj).__name__
    slots = ns["Slots"](1, 2)
    del slots.y
    assert _native.planned_repr(slots) is None
    # The class changed: its next repr follows the new code.
    ns["One"].__repr__ = lambda self: f"one={self.v!r}"
    assert _native.planned_repr(ns["One"]("x")) == "one='x'"
    ns["One"].__repr__.__code__ = (lambda self: f"code={self.v}").__code__
    assert _native.planned_repr(ns["One"]("x")) is None


def test_a_planned_repr_changed_by_another_repr_is_not_kept_stale(tmp_path):
    """`P.__repr__` is followed without running it, and the shapes of `p` and `held` check `p`
    by what that repr reads (recorder/src/plan.rs). At line 27 `b`'s own `__repr__`, run while
    `b` is checked, changes `p`: `p` was confirmed unchanged before that, and `held`, checked
    after it, shows `p` as `repr(held)` would then. From line 28 both must show `p`'s new text,
    never the one that no longer holds."""
    script = write(
        tmp_path,
        """\
        class P:
            def __init__(self):
                self.x = 0

            def __repr__(self):
                return f"P({self.x})"


        class Bump:
            armed = False

            def __init__(self, p):
                self.p = p

            def __repr__(self):
                if self.armed:
                    self.armed = False
                    self.p.x += 1
                return "Bump"


        def f():
            p = P()
            b = Bump(p)
            held = [p, b]
            b.armed = True
            n = 1
            n = 2
            return held


        f()
        """,
    )
    trace = record(script)
    assert trace["result"].returncode == 0, trace["result"].stderr
    shown = [(line, v.get("p"), v.get("held")) for line, v in locals_at_lines(trace, "f")]
    assert shown[-3:] == [
        (27, "P(0)", "[P(1), Bump]"),
        (28, "P(1)", "[P(1), Bump]"),
        (29, "P(1)", "[P(1), Bump]"),
    ]


def test_a_new_code_for_the_same_repr_is_seen_on_every_thread(tmp_path):
    """Assigning `__repr__.__code__` keeps the class's version tag. `xs`'s shape, taken on the
    main thread, checks its element by what the old code read; the generator resumes on another
    thread, whose plan for `Node` is made from the new code, and must not be taken for the old
    one."""
    script = write(
        tmp_path,
        """\
        import threading

        class Node:
            def __init__(self, x):
                self.x = x
            def __repr__(self):
                return f"Node({self.x})"

        def other(self):
            return f"Pt<{self.x}>"

        def gen():
            xs = [Node(1)]
            yield 1
            n = 0
            yield 2

        g = gen()
        next(g)
        Node.__repr__.__code__ = other.__code__
        t = threading.Thread(target=next, args=(g,))
        t.start()
        t.join()
        """,
    )
    trace = record(script)
    assert trace["result"].returncode == 0, trace["result"].stderr
    shown = [(line, v.get("xs")) for line, v in locals_at_lines(trace, "gen")]
    assert shown == [(13, None), (14, "[Node(1)]"), (15, "[Pt<1>]"), (16, "[Pt<1>]")]


def test_a_plan_runs_no_key_eq_and_holds_no_function(tmp_path):
    """Following a plan looks attribute names up in dicts. A key that is not an exact `str`
    could run its `__eq__` there, so a class or an instance holding one is left to the real
    `repr()`; and a plan keeps nothing of the function alive (its module's objects are freed
    when the program drops them)."""
    ns: dict = {}
    exec(
        textwrap.dedent(
            """\
            calls = []

            class Key(str):
                def __hash__(self):
                    return hash("x")
                def __eq__(self, other):
                    calls.append(other)
                    return False

            class Node:
                def __repr__(self):
                    return f"Node({self.x})"

            Odd = type("Odd", (), {"__repr__": Node.__repr__, Key("k"): 0, "x": 2})
            """
        ),
        ns,
    )
    node = ns["Node"]()
    node.x = 1
    assert _native.planned_repr(node) == "Node(1)"
    node.__dict__[ns["Key"]("k")] = 0  # (its hash meets "x"'s: the insertion runs `__eq__`)
    odd = ns["Odd"]()
    ns["calls"].clear()
    assert _native.planned_repr(node) is None
    assert _native.planned_repr(odd) is None
    assert ns["calls"] == []

    script = write(
        tmp_path,
        """\
        import gc, weakref

        class Resource:
            def __del__(self):
                print("finalized")

        SRC = "class N:\\n    def __init__(self): self.x = 1\\n    def __repr__(self): return f'N({self.x})'\\n"

        def make():
            ns = {"res": Resource()}
            exec(SRC, ns)
            return ns["N"](), weakref.ref(ns["res"])

        def f():
            n, alive = make()
            s = "shown"
            del n
            gc.collect()
            print("alive", alive() is not None)

        f()
        """,
        name="lifetime.py",
    )
    trace = record(script)
    assert trace["result"].returncode == 0, trace["result"].stderr
    assert trace["result"].stdout == "finalized\nalive False\n"
    assert "N(1)" in [r[9] for r in trace["values"] if r[2] == "n"]


def test_a_planned_repr_leaves_the_program_s_strings_as_they_are(tmp_path):
    """Reading a non-ASCII `str` attribute as UTF-8 would store a UTF-8 copy in the program's
    string (`sys.getsizeof` grows): the plan reads the string's own representation."""
    script = write(
        tmp_path,
        """\
        import sys

        class Node:
            def __init__(self, name):
                self.name = name
            def __repr__(self):
                return f"Node({self.name})"

        def f():
            n = Node("".join(["caf", "é"]))
            shown = sys.getsizeof(n.name)
            print(shown == sys.getsizeof("".join(["caf", "é"])))

        f()
        """,
    )
    trace = record(script)
    assert trace["result"].stdout == "True\n", trace["result"].stderr
    assert "Node(café)" in [r[9] for r in trace["values"] if r[2] == "n"]


def test_open_files_show_every_change_of_their_repr_and_attributes(tmp_path):
    """A file object's repr is not run again while its stamp holds (openfiles.rs): each change
    it shows still appears at the very next line, and so does a change inside an attribute with
    children of its own (its text unchanged)."""
    script = tmp_path / "open_files.py"
    script.write_text((SCRIPTS / "open_files.py").read_text(encoding="utf-8"), encoding="utf-8")
    trace = record(script)
    assert trace["result"].returncode == 0, trace["result"].stderr
    # Lines of `write`, counted from its `def`.
    lines = script.read_text(encoding="utf-8").splitlines()
    d = lines.index("def write(path):") + 1
    f = [(line - d, names.get("f")) for line, names in locals_at_lines(trace, "write")]
    text = "<_io.TextIOWrapper name='{}' mode='{}' encoding='{}'>".format
    # Each change shows at the next line; the `with` line comes again at its exit.
    assert f == [
        (1, None),
        *[(line, text("data.txt", "w", "utf-8")) for line in (2, 3)],
        *[(line, text("data.txt", "w+", "utf-8")) for line in (4, 5)],
        *[(line, text("renamed.txt", "w+", "utf-8")) for line in (6, 7)],
        *[(line, text("renamed.txt", "w+", "latin-1")) for line in (8, 9, 10, 11, 1, 12)],
    ]
    # Recorded at the lines after each change (the return value's rows show it again).
    at = {seq: line - d for seq, _t, kind, q, line, _d, _c in trace["events"] if kind == "line" and q == "write"}
    notes = [(at.get(row[0]), row[8]) for row in trace["children"] if row[3] == "notes"]
    assert notes[:2] == [(10, "['x']"), (11, "['x', 'y']")]
    detached = [names.get("f") for _line, names in locals_at_lines(trace, "detach")]
    assert detached[-3:] == [
        "<_io.TextIOWrapper name='data.txt' mode='r' encoding='utf-8'>",
        "<_io.TextIOWrapper mode='r' encoding='utf-8'>",
        "<_io.TextIOWrapper mode='r' encoding='utf-8'>",
    ]
    b = [names.get("b") for _line, names in locals_at_lines(trace, "binary")]
    assert "<_io.BufferedReader name='data.txt'>" in b
    assert b[-1] == "<_io.BufferedReader name=7>"
    # Left uninitialized by an `__init__` that failed: the real repr, which raises or drops the name.
    last = locals_at_lines(trace, "reinit")[-1][1]
    assert last["f"] == "<repr failed: ValueError>"
    assert last["g"] == "<_io.BufferedReader>"
    assert last["h"] == "<_io.TextIOWrapper mode='r' encoding='utf-8'>"


def test_file_reprs_built_without_running_them_equal_python(tmp_path, monkeypatch):
    """The recorder builds `repr()` of the file objects `open()` returns (openfiles.rs): the same
    text as Python's, and the real repr wherever it could differ (non-ASCII names, detached or
    uninitialized objects, a name of another type)."""
    monkeypatch.chdir(tmp_path)
    built = []
    for name in ("plain.txt", "it's.txt", 'say "hi".txt', "tab\there.txt", "back\\slash.txt"):
        for mode in ("w", "a", "r", "r+", "wb", "rb", "r+b", "ab"):
            with open(name, mode) as f:
                built.append(f)
                assert _native.file_repr(f) == repr(f), (name, mode)
    fd = os.open("plain.txt", os.O_RDONLY)
    with open(fd, encoding="ascii") as f:
        assert _native.file_repr(f) == repr(f) == f"<_io.TextIOWrapper name={fd} mode='r' encoding='ascii'>"
    with open("plain.txt", "rb") as f:
        f.raw.name = b"bytes"
        assert _native.file_repr(f) is None
    with open("dätä.txt", "w", encoding="utf-8") as f:
        assert _native.file_repr(f) is None
    with open("plain.txt", "rb", buffering=0) as f:
        assert _native.file_repr(f) is None, "FileIO: its repr shows whether it is closed"
    f = open("plain.txt", encoding="utf-8")
    f.detach().close()
    assert _native.file_repr(f) is None
    g = open("plain.txt", "rb")
    with pytest.raises(ValueError):
        g.__init__(g.raw, buffer_size=0)
    assert _native.file_repr(g) is None and repr(g) == "<_io.BufferedReader>"
    g.raw.close()
