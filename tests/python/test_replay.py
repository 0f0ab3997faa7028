"""`pyttd replay TRACE [--goto SEQ]`: the step, the stack (innermost first), the top frame's
locals and any return or exception value, as a terminal user reads them, over real recordings of
tests/python/scripts/*.py.

Steps are found with `pyttd sql` rather than written down, so the tests say which step they
mean ("the first line of a `square` call"); everything printed about that step is exact.
"""

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import PYTTD_SCRIPT, Runner

SCRIPTS = Path(__file__).resolve().parent / "scripts"
NESTED = SCRIPTS / "nested_calls.py"
CAUGHT = SCRIPTS / "caught_exception.py"


@pytest.fixture(scope="module")
def traces(tmp_path_factory) -> Callable[[Path], Path]:
    """`traces(script)`: the trace of that script, recorded on first use."""
    recorded: dict[Path, Path] = {}
    directory = tmp_path_factory.mktemp("replay-traces")

    def trace(script: Path) -> Path:
        if script not in recorded:
            out = directory / f"{script.stem}.pyttd"
            result = subprocess.run(
                [str(PYTTD_SCRIPT), "record", "-o", str(out), str(script)],
                capture_output=True,
                text=True,
                timeout=60,
                cwd=directory,
            )
            assert result.returncode == 0, result.stderr
            recorded[script] = out
        return recorded[script]

    return trace


def sql_int(pyttd: Runner, trace: Path, query: str) -> int:
    """The one integer a query returns."""
    result = pyttd("sql", trace, query, "--format", "csv")
    assert result.returncode == 0, result.stderr
    _, value = result.stdout.splitlines()
    return int(value)


def last_seq(pyttd: Runner, trace: Path) -> int:
    return sql_int(pyttd, trace, "SELECT max(seq) FROM events")


def replay(pyttd: Runner, trace: Path, *args: str) -> str:
    """stdout of a `pyttd replay` that succeeds (and writes nothing on stderr)."""
    result = pyttd("replay", trace, *args)
    assert (result.returncode, result.stderr) == (0, ""), result
    return result.stdout


def test_goto_a_step_inside_nested_calls_prints_the_stack_and_locals(pyttd, traces):
    trace = traces(NESTED)
    # The first line of the second call of square(), square(4), three calls below the module.
    seq = sql_int(
        pyttd,
        trace,
        "SELECT seq FROM events WHERE kind = 'line' AND function = 'square' ORDER BY seq LIMIT 1 OFFSET 1",
    )
    last = last_seq(pyttd, trace)
    assert replay(pyttd, trace, "--goto", str(seq)).splitlines() == [
        f"step {seq} of {last}: line at line 5 (thread MainThread)",
        "stack (innermost first):",
        f"  square ({NESTED}:5)",
        f"  sum_of_squares ({NESTED}:9)",
        f"  report ({NESTED}:13)",
        f"  <module> ({NESTED}:17)",
        "locals of square:",
        "  x = 4",
    ]


def test_goto_a_return_event_prints_the_return_value(pyttd, traces):
    trace = traces(NESTED)
    seq = sql_int(pyttd, trace, "SELECT seq FROM events WHERE kind = 'return' AND function = 'report'")
    last = last_seq(pyttd, trace)
    assert replay(pyttd, trace, "--goto", str(seq)).splitlines() == [
        f"step {seq} of {last}: return at line 14 (thread MainThread)",
        "stack (innermost first):",
        f"  report ({NESTED}:14)",
        f"  <module> ({NESTED}:17)",
        "locals of report:",
        "  a = 3",
        "  b = 4",
        "  total = 25",
        "return: '3^2 + 4^2 = 25'",
    ]


def test_goto_the_step_that_raises_prints_the_exception(pyttd, traces):
    trace = traces(CAUGHT)
    # parse("x") raises where int() fails; the first `exception` event is that raise.
    seq = sql_int(pyttd, trace, "SELECT min(seq) FROM events WHERE kind = 'exception'")
    last = last_seq(pyttd, trace)
    assert replay(pyttd, trace, "--goto", str(seq)).splitlines() == [
        f"step {seq} of {last}: exception at line 5 (thread MainThread)",
        "stack (innermost first):",
        f"  parse ({CAUGHT}:5)",
        f"  parse_or_default ({CAUGHT}:10)",
        f"  <module> ({CAUGHT}:19)",
        "locals of parse:",
        "  text = 'x'",
        "exception: ValueError(\"invalid literal for int() with base 10: 'x'\")",
    ]


def test_without_goto_it_shows_the_first_line(pyttd, traces):
    trace = traces(NESTED)
    first = sql_int(pyttd, trace, "SELECT min(seq) FROM events WHERE kind = 'line'")
    last = last_seq(pyttd, trace)
    shown = replay(pyttd, trace)
    # The module's first line (its docstring), before anything is bound.
    assert shown.splitlines() == [
        f"step {first} of {last}: line at line 1 (thread MainThread)",
        "stack (innermost first):",
        f"  <module> ({NESTED}:1)",
        "locals of <module>:",
        "  (none)",
    ]
    assert shown == replay(pyttd, trace, "--goto", str(first))


@pytest.mark.parametrize("past", [1, 2**64 - 1], ids=["one-past-the-end", "u64-max"])
def test_a_step_past_the_end_is_one_error_line(pyttd, traces, past):
    trace = traces(NESTED)
    last = last_seq(pyttd, trace)
    seq = last + 1 if past == 1 else past
    result = pyttd("replay", trace, "--goto", str(seq))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"error: {trace}: no step {seq}: the recording has steps 0 to {last}\n"


def test_a_missing_trace_is_one_error_line_naming_it(pyttd, tmp_path):
    missing = tmp_path / "no" / "such.pyttd"
    result = pyttd("replay", missing, "--goto", "3")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {missing}: "), lines[0]
    assert lines[0].count(str(missing)) == 1, lines[0]
    assert lines[0].endswith("No such file or directory (os error 2)"), lines[0]


def test_a_file_that_is_not_a_trace_is_one_error_line_naming_it(pyttd):
    result = pyttd("replay", NESTED)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {NESTED}: "), lines[0]
    assert "not a pyttd trace" in lines[0], lines[0]


def test_a_negative_step_is_a_usage_error(pyttd, traces):
    result = pyttd("replay", traces(NESTED), "--goto", "-1")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Usage: pyttd replay" in result.stderr
