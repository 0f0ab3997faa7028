"""The Python API: `start_recording`/`stop_recording`, `recording()`, `@ttdbg`, `arm`/`disarm`,
`toggle_on_signal`. Each program runs in its own interpreter (a child process), as a user's would.

Event tuples are `(kind, qualname, line, depth)`.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import PYTTD_SCRIPT
from pyttd import _native


def run_program(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )


def events(path: Path) -> list[tuple[str, str, int, int]]:
    return [(e[2], e[3], e[4], e[5]) for e in _native.read_events(path)]


INNER = """\
import pyttd

def inner(n):
    s = 0
    for i in range(n):
        s += i
    return s
"""


def test_start_and_stop_record_between_them_with_the_running_stack_as_context(tmp_path):
    result = run_program(
        tmp_path,
        INNER
        + """
def outer():
    a = 1
    pyttd.start_recording("out.pyttd")
    b = inner(2)
    stats = pyttd.stop_recording()
    return stats

stats = outer()
print(stats.path, stats.events, stats.flushes >= 1, stats.bytes == __import__("os").path.getsize("out.pyttd"))
""",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "out.pyttd 13 True True\n"
    trace = _native.read_trace(tmp_path / "out.pyttd")
    assert trace["state"] == "complete"
    assert events(tmp_path / "out.pyttd") == [
        # The running stack, outermost first, each at the line it is executing.
        ("call", "<module>", 16, 0),
        ("call", "outer", 11, 1),
        ("line", "outer", 12, 1),
        ("call", "inner", 3, 2),
        ("line", "inner", 4, 2),
        ("line", "inner", 5, 2),
        ("line", "inner", 6, 2),
        ("line", "inner", 5, 2),
        ("line", "inner", 6, 2),
        ("line", "inner", 5, 2),
        ("line", "inner", 7, 2),
        ("return", "inner", 7, 2),
        ("line", "outer", 13, 1),
    ]
    # `a` was bound before recording started: the opening call's snapshot has it.
    outer_call = [r for r in trace["values"] if r[0] == 1]
    assert [(r[2], r[4], r[7]) for r in outer_call] == [("a", True, 1)]


def test_recording_context_manager_stores_output_and_stats(tmp_path):
    result = run_program(
        tmp_path,
        INNER
        + """
with pyttd.recording("ctx.pyttd", max_events=1000) as rec:
    print("inside", inner(3))
print("after", rec.stats.events, pyttd.is_recording())
""",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "inside 3\nafter 14 False\n"
    trace = _native.read_trace(tmp_path / "ctx.pyttd")
    assert trace["run"] == ("finished", 0, 14)
    assert [o[3] for o in trace["output"]] == ["inside", " ", "3", "\n"]
    # The `with` line, inner's call... and the `with` line again as the block exits.
    evs = events(tmp_path / "ctx.pyttd")
    assert evs[0] == ("call", "<module>", 9, 0)
    assert evs[-1] == ("line", "<module>", 9, 0)


def test_ttdbg_records_each_call_of_the_function(tmp_path):
    result = run_program(
        tmp_path,
        INNER
        + """
@pyttd.ttdbg
def double(k):
    return inner(k) * 2

@pyttd.ttdbg(path="named.pyttd")
def named():
    return double(1)  # already recording: double just runs

print(double(2), named(), pyttd.is_recording())
""",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "2 0 False\n"
    assert [e for e in events(tmp_path / "double.pyttd") if e[0] != "line"] == [
        ("call", "<module>", 17, 0),
        ("call", "double", 9, 1),
        ("call", "inner", 3, 2),
        ("return", "inner", 7, 2),
        ("return", "double", 11, 1),
    ]
    named = [e[1] for e in events(tmp_path / "named.pyttd") if e[0] == "call"]
    assert named == ["<module>", "named", "double", "inner"]


def test_errors_are_python_exceptions(tmp_path):
    result = run_program(
        tmp_path,
        """\
        import pyttd
        print(pyttd.stop_recording())
        try:
            pyttd.start_recording("x.pyttd", include=["[bad"])
        except ValueError as e:
            print("ValueError", e)
        pyttd.start_recording("a.pyttd")
        try:
            pyttd.start_recording("b.pyttd")
        except RuntimeError as e:
            print("RuntimeError", e)
        print(pyttd.arm(), pyttd.disarm().events > 0, pyttd.disarm())
        try:
            pyttd.start_recording("no/such/dir/c.pyttd")
        except OSError as e:
            print("OSError", "no/such/dir/c.pyttd" in str(e))
        """,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "None"
    assert lines[1].startswith('ValueError function pattern "[bad"')
    assert lines[2] == "RuntimeError pyttd is already recording (call pyttd.stop_recording() first)"
    assert lines[3] == "False True None"
    assert lines[4] == "OSError True"
    assert not (tmp_path / "b.pyttd").exists()


def test_a_recording_running_at_exit_is_finished(tmp_path):
    result = run_program(
        tmp_path,
        """\
        import pyttd
        pyttd.arm("left.pyttd")
        x = 41
        x += 1
        """,
    )
    assert result.returncode == 0, result.stderr
    trace = _native.read_trace(tmp_path / "left.pyttd")
    assert trace["state"] == "complete"
    assert trace["run"][0] == "finished"
    assert [(e[0], e[2]) for e in events(tmp_path / "left.pyttd")] == [
        ("call", 2),
        ("line", 3),
        ("line", 4),
        ("return", 4),
    ]


def test_signal_toggles_the_recording(tmp_path):
    result = run_program(
        tmp_path,
        """\
        import os, signal
        import pyttd
        pyttd.toggle_on_signal(signal.SIGUSR1, "sig.pyttd")
        a = 1
        os.kill(os.getpid(), signal.SIGUSR1)
        b = 2
        c = 3
        os.kill(os.getpid(), signal.SIGUSR1)
        d = 4
        print(pyttd.is_recording())
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "False\n"
    assert result.stderr.splitlines() == [
        "pyttd: recording to sig.pyttd",
        "pyttd: recorded 4 events to sig.pyttd",
    ]
    assert [(e[0], e[2]) for e in events(tmp_path / "sig.pyttd")] == [
        ("call", 5),
        ("line", 6),
        ("line", 7),
        ("line", 8),
    ]


def test_the_api_refuses_to_start_inside_pyttd_record(tmp_path):
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent(
            """\
            import pyttd
            try:
                pyttd.start_recording("inner.pyttd")
            except RuntimeError as e:
                print("RuntimeError", e)
            """
        )
    )
    result = subprocess.run(
        [str(PYTTD_SCRIPT), "record", str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "RuntimeError pyttd is already recording (call pyttd.stop_recording() first)\n"


def test_stop_from_another_thread_while_a_repr_releases_the_gil(tmp_path):
    # The main thread's callback is inside `repr()` (sleeping, GIL released) when another
    # thread stops the recording: stop waits for it; nothing crashes, the trace is whole.
    result = run_program(
        tmp_path,
        """\
        import threading, time
        import pyttd

        class Slow:
            def __repr__(self):
                started.set()
                time.sleep(0.3)
                return "Slow()"

        started = threading.Event()
        def stopper():
            started.wait()
            print("stopped", pyttd.stop_recording().events > 0)

        t = threading.Thread(target=stopper)
        pyttd.start_recording("slow.pyttd")
        t.start()
        s = Slow()
        x = 1
        t.join()
        print("done", x)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "stopped True\ndone 1\n"
    trace = _native.read_trace(tmp_path / "slow.pyttd")
    assert trace["state"] == "complete"
    slow = [r for r in trace["values"] if r[2] == "s"]
    assert [r[9] for r in slow] == ["Slow()"]
