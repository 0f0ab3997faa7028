"""`pyttd record`: real scripts recorded by the installed console script, the trace read back.

Event tuples are `(kind, qualname, line, depth, call_id)` unless a test says otherwise; the trace
is read with `pyttd._native.read_trace`, a test helper over the format crate's reader.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import PYTTD_SCRIPT
from pyttd import _native

SCRIPTS = Path(__file__).resolve().parent / "scripts"


def write(tmp_path: Path, source: str, name: str = "script.py") -> Path:
    script = tmp_path / name
    script.write_text(textwrap.dedent(source))
    return script


def pyttd_record(script: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`pyttd record SCRIPT ARGS...` in the script's directory (the trace lands there too)."""
    return subprocess.run(
        [str(PYTTD_SCRIPT), "record", str(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=script.parent,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )


def python(script: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=script.parent,
        env={**os.environ, **(env or {})},
    )


def without_summary(stderr: str) -> str:
    """The program's own stderr: everything but pyttd's closing summary line."""
    lines = stderr.splitlines(keepends=True)
    assert lines and lines[-1].startswith("pyttd: recorded "), stderr
    return "".join(lines[:-1])


def record(script: Path, *args: str, status: int = 0) -> dict:
    result = pyttd_record(script, *args)
    assert result.returncode == status, result.stderr
    trace = _native.read_trace(script.with_suffix(".pyttd"))
    assert trace["state"] == "complete"
    check_invariants(trace)
    return trace


def check_invariants(trace: dict) -> None:
    """What holds for every trace: gapless increasing seq, one calls row per opened call id,
    rows for every code and thread id used, and a finished run row counting the events."""
    events = trace["events"]
    assert [e[0] for e in events] == list(range(len(events)))
    calls = {c[0]: c for c in trace["calls"]}
    assert len(calls) == len(trace["calls"])
    for seq, thread, kind, _q, _line, depth, call_id in events:
        assert call_id in calls, (seq, call_id)
        if kind == "call":
            assert calls[call_id][5] == seq and calls[call_id][4] == depth and calls[call_id][2] == thread
    assert {e[1] for e in events} <= {t[0] for t in trace["threads"]}
    if trace["state"] == "complete":
        assert trace["run"] == ("finished", trace["run"][1], len(events))


def simple(trace: dict) -> list[tuple]:
    return [(kind, q, line, depth, call) for _seq, _t, kind, q, line, depth, call in trace["events"]]


def test_loop(tmp_path):
    script = write(
        tmp_path,
        """\
        def f():
            total = 0
            for i in range(3):
                total += i
            return total
        print(f())
        """,
    )
    trace = record(script)
    assert simple(trace) == [
        ("call", "<module>", 0, 0, 1),
        ("line", "<module>", 1, 0, 1),
        ("line", "<module>", 6, 0, 1),
        ("call", "f", 1, 1, 2),
        ("line", "f", 2, 1, 2),
        *[("line", "f", line, 1, 2) for _ in range(3) for line in (3, 4)],
        ("line", "f", 3, 1, 2),
        ("line", "f", 5, 1, 2),
        ("return", "f", 5, 1, 2),
        ("return", "<module>", 6, 0, 1),
    ]
    file = str(script.resolve())
    assert trace["code"] == [(1, file, "<module>", "<module>", 1, "module"), (2, file, "f", "f", 1, "function")]
    assert [t[3] for t in trace["threads"]] == ["MainThread"]
    assert trace["run"] == ("finished", 0, 15)


def test_nested_calls_have_depths_and_parents(tmp_path):
    script = write(
        tmp_path,
        """\
        def c():
            return 1
        def b():
            return c()
        def a():
            return b()
        a()
        """,
    )
    trace = record(script)
    assert simple(trace) == [
        ("call", "<module>", 0, 0, 1),
        ("line", "<module>", 1, 0, 1),
        ("line", "<module>", 3, 0, 1),
        ("line", "<module>", 5, 0, 1),
        ("line", "<module>", 7, 0, 1),
        ("call", "a", 5, 1, 2),
        ("line", "a", 6, 1, 2),
        ("call", "b", 3, 2, 3),
        ("line", "b", 4, 2, 3),
        ("call", "c", 1, 3, 4),
        ("line", "c", 2, 3, 4),
        ("return", "c", 2, 3, 4),
        ("return", "b", 4, 2, 3),
        ("return", "a", 6, 1, 2),
        ("return", "<module>", 7, 0, 1),
    ]
    assert [(c[0], c[1], c[3], c[4]) for c in trace["calls"]] == [
        (1, None, "<module>", 0),
        (2, 1, "a", 1),
        (3, 2, "b", 2),
        (4, 3, "c", 3),
    ]


def test_recursion_gets_a_call_id_per_activation(tmp_path):
    script = write(
        tmp_path,
        """\
        def fact(n):
            if n <= 1:
                return 1
            return n * fact(n - 1)
        fact(3)
        """,
    )
    events = [e for e in simple(record(script)) if e[1] == "fact"]
    assert events == [
        ("call", "fact", 1, 1, 2),
        ("line", "fact", 2, 1, 2),
        ("line", "fact", 4, 1, 2),
        ("call", "fact", 1, 2, 3),
        ("line", "fact", 2, 2, 3),
        ("line", "fact", 4, 2, 3),
        ("call", "fact", 1, 3, 4),
        ("line", "fact", 2, 3, 4),
        ("line", "fact", 3, 3, 4),
        ("return", "fact", 3, 3, 4),
        ("return", "fact", 4, 2, 3),
        ("return", "fact", 4, 1, 2),
    ]


EXCEPTIONS = """\
def inner():
    raise ValueError("boom")

def outer():
    try:
        inner()
    except ValueError:
        pass
    inner()

outer()
"""


def test_caught_and_uncaught_exceptions(tmp_path):
    script = write(tmp_path, EXCEPTIONS)
    trace = record(script, status=1)
    assert simple(trace) == [
        ("call", "<module>", 0, 0, 1),
        ("line", "<module>", 1, 0, 1),
        ("line", "<module>", 4, 0, 1),
        ("line", "<module>", 11, 0, 1),
        ("call", "outer", 4, 1, 2),
        ("line", "outer", 5, 1, 2),
        ("line", "outer", 6, 1, 2),
        ("call", "inner", 1, 2, 3),
        ("line", "inner", 2, 2, 3),
        ("exception", "inner", 2, 2, 3),
        ("unwind", "inner", 2, 2, 3),
        ("exception", "outer", 6, 1, 2),
        ("exception_handled", "outer", 6, 1, 2),
        ("line", "outer", 7, 1, 2),
        ("line", "outer", 8, 1, 2),
        ("line", "outer", 9, 1, 2),
        ("call", "inner", 1, 2, 4),
        ("line", "inner", 2, 2, 4),
        ("exception", "inner", 2, 2, 4),
        ("unwind", "inner", 2, 2, 4),
        ("exception", "outer", 9, 1, 2),
        ("unwind", "outer", 9, 1, 2),
        ("exception", "<module>", 11, 0, 1),
        ("unwind", "<module>", 11, 0, 1),
    ]
    assert trace["run"][1] == 1


def test_generator_keeps_its_call_id_across_resumes(tmp_path):
    script = write(
        tmp_path,
        """\
        def gen():
            x = yield 1
            y = yield x
            return y

        g = gen()
        next(g)
        g.send(10)
        try:
            g.send(20)
        except StopIteration:
            pass
        """,
    )
    assert simple(record(script)) == [
        ("call", "<module>", 0, 0, 1),
        ("line", "<module>", 1, 0, 1),
        ("line", "<module>", 6, 0, 1),
        ("line", "<module>", 7, 0, 1),
        ("call", "gen", 1, 1, 2),
        ("line", "gen", 2, 1, 2),
        ("yield", "gen", 2, 1, 2),
        ("line", "<module>", 8, 0, 1),
        ("resume", "gen", 2, 1, 2),
        ("line", "gen", 3, 1, 2),
        ("yield", "gen", 3, 1, 2),
        ("line", "<module>", 9, 0, 1),
        ("line", "<module>", 10, 0, 1),
        ("resume", "gen", 3, 1, 2),
        ("line", "gen", 4, 1, 2),
        ("return", "gen", 4, 1, 2),
        ("exception", "<module>", 10, 0, 1),
        ("exception_handled", "<module>", 10, 0, 1),
        ("line", "<module>", 11, 0, 1),
        ("line", "<module>", 12, 0, 1),
        ("return", "<module>", 12, 0, 1),
    ]


def test_one_line_for_loop_repeats_its_line(tmp_path):
    script = write(
        tmp_path,
        """\
        def f():
            for i in range(3): x = i
            return x
        f()
        """,
    )
    events = [e for e in simple(record(script)) if e[1] == "f"]
    assert events == [
        ("call", "f", 1, 1, 2),
        *[("line", "f", 2, 1, 2)] * 4,
        ("line", "f", 3, 1, 2),
        ("return", "f", 3, 1, 2),
    ]


def test_threads_every_event_in_one_gapless_order(tmp_path):
    # Each worker records 2n + 5 events: more than twice what a worker thread's ring holds (16384,
    # a quarter of the first thread's), so both wait for the flush thread along the way.
    n = 20_000
    script = write(
        tmp_path,
        f"""\
        import threading

        def work(n):
            total = 0
            for i in range(n):
                total += i
            return total

        ts = [threading.Thread(target=work, args=({n},), name=f"worker-{{k}}") for k in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        """,
    )
    trace = record(script)
    names = {t[0]: t[3] for t in trace["threads"]}
    assert sorted(names.values()) == ["MainThread", "worker-0", "worker-1"]
    assert names[0] == "MainThread"
    for thread_id, name in names.items():
        if name == "MainThread":
            continue
        events = [(kind, q, line, depth) for _s, t, kind, q, line, depth, _c in trace["events"] if t == thread_id]
        assert events == [
            ("call", "work", 3, 0),
            ("line", "work", 4, 0),
            *[("line", "work", line, 0) for _ in range(n) for line in (5, 6)],
            ("line", "work", 5, 0),
            ("line", "work", 7, 0),
            ("return", "work", 7, 0),
        ]
        first = min(e[0] for e in trace["events"] if e[1] == thread_id)
        assert next(t[4] for t in trace["threads"] if t[0] == thread_id) == first
        call_id = next(c[0] for c in trace["calls"] if c[2] == thread_id)
        changes = {
            name: [v[7] for v in trace["values"] if v[1] == call_id and v[2] == name and not v[4]]
            for name in ("i", "total")
        }
        assert changes["i"] == list(range(n))
        assert changes["total"][-1] == n * (n - 1) // 2
    stamps = [e[0] for e in trace["events"]]
    assert stamps == sorted(stamps)


def test_exit_status_is_the_scripts(tmp_path):
    script = write(tmp_path, "import sys\nprint('bye')\nsys.exit(3)\n")
    result = pyttd_record(script)
    assert result.returncode == 3, result.stderr
    assert result.stdout == "bye\n"
    assert _native.read_trace(script.with_suffix(".pyttd"))["run"][1] == 3


def test_main_module_is_the_one_python_script_py_makes(tmp_path):
    # Run by a relative path: `sys.argv[0]` stays as typed, `__file__` is absolute, and the
    # module's other attributes are the interpreter's (runpy's differed: absolute argv[0], no
    # loader, an empty `__package__`).
    write(
        tmp_path,
        """\
        import builtins, sys
        main = sys.modules["__main__"]
        print(sys.argv, __file__, __name__, __package__, __spec__, __cached__, __doc__)
        print(type(__loader__).__name__, __loader__.name, __loader__.path)
        print(main.__dict__ is globals(), __builtins__ is builtins)
        # Recording imports none of the modules pyttd's Python API needs.
        print([m for m in ("dataclasses", "inspect", "pathlib", "pkgutil") if m in sys.modules])
        """,
    )
    run = lambda argv: subprocess.run(  # noqa: E731
        argv, capture_output=True, text=True, timeout=120, cwd=tmp_path, env={**os.environ, "NO_COLOR": "1"}
    )
    expected = run([sys.executable, "script.py", "a"])
    result = run([str(PYTTD_SCRIPT), "record", "script.py", "a"])
    assert expected.returncode == 0, expected.stderr
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected.stdout
    assert expected.stdout.startswith(f"['script.py', 'a'] {tmp_path / 'script.py'} __main__ None None None None\n")


def test_uncaught_exception_prints_what_python_prints(tmp_path):
    script = write(tmp_path, EXCEPTIONS.replace("outer()\n", "print('before')\nouter()\n"))
    expected = python(script)
    result = pyttd_record(script)
    assert expected.returncode == 1
    assert result.returncode == 1
    assert result.stdout == expected.stdout
    assert without_summary(result.stderr) == expected.stderr
    assert "Traceback (most recent call last)" in expected.stderr


def test_script_sees_what_python_script_py_sees(tmp_path):
    script = write(
        tmp_path,
        """\
        import os, sys
        print(__name__, os.path.basename(__file__), sys.argv[1:], os.path.basename(sys.path[0]))
        print(os.environ.get("PYTTD_RECORDING"))
        """,
    )
    result = pyttd_record(script, "a", "-o", "x", "--c")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"__main__ script.py ['a', '-o', 'x', '--c'] {tmp_path.resolve().name}\n1\n"
    assert not (tmp_path / "x").exists()


def test_only_code_under_the_scripts_directory_is_recorded(tmp_path):
    script = write(
        tmp_path,
        """\
        import json, threading
        def f(x):
            return json.dumps(x)
        f([1, 2])
        t = threading.Thread(target=f, args=({},))
        t.start(); t.join()
        """,
    )
    trace = record(script)
    assert {c[1] for c in trace["code"]} == {str(script.resolve())}
    assert {e[3] for e in trace["events"]} == {"<module>", "f"}


def test_missing_script_is_one_error_line(tmp_path):
    result = pyttd_record(tmp_path / "nope.py")
    assert result.returncode == 1
    assert result.stderr == f"error: {tmp_path / 'nope.py'}: No such file or directory\n"


def test_output_option_and_summary(tmp_path):
    script = write(tmp_path, "x = 1\n")
    out = tmp_path / "sub" / "t.pyttd"
    out.parent.mkdir()
    result = subprocess.run(
        [str(PYTTD_SCRIPT), "record", "-o", str(out), str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("pyttd: recorded 3 events (")
    assert result.stderr.rstrip().endswith(f"to {out}")
    assert _native.read_trace(out)["run"] == ("finished", 0, 3)


def test_a_million_iterations_lose_nothing(tmp_path):
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
    lines = Counter((q, line) for _s, _t, kind, q, line, _d, _c in trace["events"] if kind == "line")
    assert lines == {("<module>", 1): 1, ("<module>", 6): 1, ("f", 2): 1, ("f", 3): n + 1, ("f", 4): n, ("f", 5): 1}
    assert len(trace["events"]) == 2 * n + 9


def test_sigkill_leaves_a_recovered_trace(tmp_path):
    script = write(tmp_path, "n = 0\nwhile True:\n    n += 1\n")
    trace_path = script.with_suffix(".pyttd")
    proc = subprocess.Popen(
        [str(PYTTD_SCRIPT), "record", str(script)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (trace_path.exists() and trace_path.stat().st_size > 200_000):
            assert proc.poll() is None, "pyttd record exited early"
            assert time.monotonic() < deadline, "the trace never grew"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    trace = _native.read_trace(trace_path)
    assert trace["state"] == "recovered"
    assert trace["run"] == ("running", None, 0)
    assert len(trace["events"]) > 1000
    check_invariants(trace)
    assert {(e[2], e[3]) for e in trace["events"][3:]} == {("line", "<module>")}


# The settrace oracle (tests/python/oracle), where it exists: per-thread (kind, function, line,
# depth) sequences must be equal. `exception_handled` has no settrace equivalent.
ORACLE_SCRIPTS = sorted(p.name for p in SCRIPTS.glob("*.py") if not p.name.startswith("_")) if SCRIPTS.is_dir() else []


@pytest.mark.parametrize("name", ORACLE_SCRIPTS)
def test_matches_the_settrace_oracle(name, tmp_path):
    oracle = pytest.importorskip("oracle")
    script = SCRIPTS / name
    args = ("one", "two") if name == "argv_exit.py" else ()
    expected = oracle.record(script, args)
    out = tmp_path / "trace.pyttd"
    result = subprocess.run(
        [str(PYTTD_SCRIPT), "record", "-o", str(out), str(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=script.parent,
        env={**os.environ, **oracle.CHILD_ENV},
    )
    assert result.returncode == expected.exit_status, result.stderr
    assert result.stdout == expected.stdout
    trace = _native.read_trace(out)
    check_invariants(trace)
    names: dict[int, str] = {}
    for thread_id, _ident, _native_id, name_, _first in trace["threads"]:
        base, k = name_, 1
        while name_ in names.values():
            k += 1
            name_ = f"{base}#{k}"
        names[thread_id] = name_
    ours: dict[str, list[tuple]] = {}
    for _s, t, kind, q, line, depth, _c in trace["events"]:
        if kind != "exception_handled":
            ours.setdefault(names[t], []).append((kind, q, line, depth))
    theirs = {
        thread: [(e.kind, e.function, e.line, e.depth) for e in events]
        for thread, events in expected.threads.items()
        if events
    }
    assert ours == theirs


OUTPUT_SCRIPT = """\
import sys
import threading

def shout(word):
    print(word.upper(), flush=True)
    return word

print("hello", "wörld", 1.5)
shout("quiet")
sys.stdout.write("no newline")
sys.stdout.writelines([" a", " b\\n"])
print("to stderr", file=sys.stderr)
sys.stdout.buffer.write(b"raw bytes\\n")
sys.stdout.flush()
t = threading.Thread(target=shout, args=("thread",))
t.start()
t.join()
print("end", end="")
"""


def test_recording_adds_no_warnings_under_python_warning_flags(tmp_path):
    """With the warnings Python leaves off by default turned on (`PYTHONDEVMODE`,
    `PYTHONWARNDEFAULTENCODING`), the program's output is the same recorded or not: pyttd's own
    setup warns about nothing."""
    script = write(tmp_path, """print("hi")\n""")
    env = {"PYTHONWARNDEFAULTENCODING": "1", "PYTHONDEVMODE": "1"}
    plain = python(script, env=env)
    recorded = pyttd_record(script, env=env)
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout == plain.stdout == "hi\n"
    assert without_summary(recorded.stderr) == plain.stderr == ""


def test_output_is_stored_and_still_shown_byte_for_byte(tmp_path):
    script = write(tmp_path, OUTPUT_SCRIPT)
    plain = subprocess.run([sys.executable, str(script)], capture_output=True, timeout=60, cwd=tmp_path)
    recorded = subprocess.run([str(PYTTD_SCRIPT), "record", str(script)], capture_output=True, timeout=60, cwd=tmp_path)
    assert recorded.returncode == plain.returncode == 0
    assert recorded.stdout == plain.stdout
    assert without_summary(recorded.stderr.decode()) == plain.stderr.decode()

    trace = _native.read_trace(script.with_suffix(".pyttd"))
    check_invariants(trace)
    output = trace["output"]
    # Text writes only: `sys.stdout.buffer` bytes are not captured.
    stdout = "".join(text for _seq, _thread, stream, text in output if stream == "stdout")
    assert stdout == plain.stdout.decode().replace("raw bytes\n", "")
    assert [text for _s, _t, stream, text in output if stream == "stderr"] == ["to stderr", "\n"]
    # In write order, seq non-decreasing; each seq is the latest event before the write (SPEC §6
    # `output`). That event may belong to another thread: a worker's `print` is two writes, and the
    # GIL can pass to the main thread between them. Before the worker starts, it is exactly the
    # line that wrote.
    seqs = [row[0] for row in output]
    assert seqs == sorted(seqs)
    events = {e[0]: e for e in trace["events"]}
    assert all(seq in events for seq in seqs)
    for seq, thread, _stream, text in output[: output.index(next(r for r in output if r[3] == "THREAD"))]:
        event = events[seq]
        assert event[1] == thread, (text, event)
        assert event[2] == "line", (text, event)
    first = output[0]
    assert first[3] == "hello" and events[first[0]][3:5] == ("<module>", 8)
    quiet = next(row for row in output if row[3] == "QUIET")
    assert events[quiet[0]][3:5] == ("shout", 5)
    thread_rows = [row for row in output if row[3] == "THREAD"]
    assert len(thread_rows) == 1 and thread_rows[0][1] != 0


def test_record_module_like_python_dash_m(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "app.py").write_text(
        textwrap.dedent(
            """\
            import sys

            def main():
                print(__name__, sys.argv, sys.path[0])
                return 7

            if __name__ == "__main__":
                raise SystemExit(main())
            """
        )
    )
    env = {**os.environ, "NO_COLOR": "1"}
    plain = subprocess.run(
        [sys.executable, "-m", "pkg.app", "x", "--y", "-o", "z"], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env
    )
    recorded = subprocess.run(
        [str(PYTTD_SCRIPT), "record", "-m", "pkg.app", "x", "--y", "-o", "z"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert plain.returncode == recorded.returncode == 7, recorded.stderr
    assert recorded.stdout == plain.stdout
    assert f"{pkg / 'app.py'}" in recorded.stdout
    trace = _native.read_trace(tmp_path / "pkg.app.pyttd")
    assert trace["state"] == "complete"
    check_invariants(trace)
    assert trace["run"][:2] == ("finished", 7)
    assert ("call", "main", 3) in {(e[2], e[3], e[4]) for e in trace["events"]}
    assert {c[1] for c in trace["code"]} == {str((pkg / "__init__.py").resolve()), str((pkg / "app.py").resolve())}


def test_max_events_stops_recording_but_not_the_program(tmp_path):
    script = write(
        tmp_path,
        """\
        def f(n):
            total = 0
            for i in range(n):
                total += i
            return total
        print(f(1000))
        """,
    )
    out = tmp_path / "m.pyttd"
    result = subprocess.run(
        [str(PYTTD_SCRIPT), "record", "--max-events", "100", "-o", str(out), str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "499500\n"
    assert result.stderr.startswith("pyttd: recorded 100 events (stopped at --max-events) (")
    trace = _native.read_trace(out)
    assert trace["state"] == "complete"
    check_invariants(trace)
    assert trace["run"] == ("finished", 0, 100)
    assert '"max_events": 100' in trace["settings"]
    assert [e[0] for e in trace["events"]] == list(range(100))
    # Every values row belongs to a recorded event; the output after the limit names the last one.
    assert all(r[0] < 100 for r in trace["values"])
    assert trace["output"] == [(99, 0, "stdout", "499500"), (99, 0, "stdout", "\n")]


def test_include_file_and_exclude_file_choose_the_recorded_files(tmp_path):
    app = tmp_path / "app"
    (app / "vendor").mkdir(parents=True)
    (app / "vendor" / "skipped.py").write_text("def skipped():\n    return 1\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "ext.py").write_text("def ext():\n    return 2\n")
    script = write(
        app,
        f"""\
        import sys
        sys.path.append({str(outside)!r})
        from vendor.skipped import skipped
        from ext import ext
        print(skipped() + ext())
        """,
    )
    result = subprocess.run(
        [
            str(PYTTD_SCRIPT),
            "record",
            "--include-file",
            ".",
            "--include-file",
            str(outside / "*.py"),
            "--exclude-file",
            "vendor",
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=app,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "3\n"
    trace = _native.read_trace(script.with_suffix(".pyttd"))
    check_invariants(trace)
    files = {c[1] for c in trace["code"]}
    assert files == {str(script.resolve()), str((outside / "ext.py").resolve())}
    assert "ext" in {c[3] for c in trace["calls"]}


def test_include_and_exclude_choose_the_recorded_functions(tmp_path):
    script = write(
        tmp_path,
        """\
        class Parser:
            def parse(self, text):
                return helper(text)

        def helper(text):
            return text.upper()

        def process_one(x):
            return Parser().parse(x)

        def process_slow(x):
            return x

        print(process_one("a"), process_slow("b"))
        """,
    )
    out = tmp_path / "f.pyttd"
    result = subprocess.run(
        [
            str(PYTTD_SCRIPT),
            "record",
            "-o",
            str(out),
            "--include",
            "process_*",
            "--include",
            "Parser.*",
            "--exclude",
            "*_slow",
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "A b\n"
    trace = _native.read_trace(out)
    check_invariants(trace)
    assert sorted(c[3] for c in trace["code"]) == ["Parser.parse", "process_one"]
    # Only the chosen functions' events; depth counts recorded frames only.
    assert [(e[2], e[3], e[5]) for e in trace["events"] if e[2] in ("call", "return")] == [
        ("call", "process_one", 0),
        ("call", "Parser.parse", 1),
        ("return", "Parser.parse", 1),
        ("return", "process_one", 0),
    ]


def test_a_bad_function_pattern_is_one_error_line(tmp_path):
    script = write(tmp_path, "print('never runs')\n")
    result = subprocess.run(
        [str(PYTTD_SCRIPT), "record", "--include", "[oops", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith('error: ') and '"[oops"' in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert not (tmp_path / "script.pyttd").exists()


def test_floor_runs_the_program_under_no_op_callbacks_and_writes_nothing(tmp_path):
    script = write(
        tmp_path,
        """\
        import sys
        total = sum(i * i for i in range(1000))
        print(total)
        sys.exit(3)
        """,
    )
    result = subprocess.run(
        [str(PYTTD_SCRIPT), "record", "--floor", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 3
    assert result.stdout == "332833500\n"
    assert result.stderr.startswith("pyttd: floor run (no-op callbacks, nothing recorded) in ")
    assert list(tmp_path.iterdir()) == [script]


def test_os_exit_finishes_the_trace_with_its_status(tmp_path):
    script = write(
        tmp_path,
        """\
        import os
        def f(n):
            total = n * 2
            return total
        x = f(20)
        print("before", x, flush=True)
        os._exit(7)
        print("never")
        """,
    )
    out = tmp_path / "exit.pyttd"
    result = subprocess.run(
        [str(PYTTD_SCRIPT), "record", "-o", str(out), str(script)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 7
    assert result.stdout == "before 40\n"
    assert result.stderr.startswith("pyttd: recorded ") and result.stderr.endswith("(os._exit)\n")
    trace = _native.read_trace(out)
    assert trace["state"] == "complete"
    check_invariants(trace)
    assert trace["run"][:2] == ("finished", 7)
    # Everything up to the os._exit line is there.
    assert [(e[2], e[4]) for e in trace["events"] if e[3] == "<module>"][-1] == ("line", 7)
    assert [r[7] for r in trace["values"] if r[2] == "x"] == [40]


def test_a_forked_child_runs_unrecorded_and_the_parent_records_on(tmp_path):
    script = write(
        tmp_path,
        """\
        import os
        def work(n):
            s = 0
            for i in range(n):
                s += i
            return s
        pid = os.fork()
        if pid == 0:
            print("child", work(100_000), flush=True)  # more events than a ring holds
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print("parent", work(3), os.waitstatus_to_exitcode(status), flush=True)
        """,
    )
    out = tmp_path / "fork.pyttd"
    result = subprocess.run(
        [str(PYTTD_SCRIPT), "record", "-o", str(out), str(script)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "child 4999950000\nparent 3 0\n"
    trace = _native.read_trace(out)
    assert trace["state"] == "complete"
    check_invariants(trace)
    # Only the parent's calls of work.
    assert [r[7] for r in trace["values"] if r[3] == "return" and r[7] is not None][-1:] == [3]
    assert sum(1 for e in trace["events"] if e[2] == "call" and e[3] == "work") == 1
