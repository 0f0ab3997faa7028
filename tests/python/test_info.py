"""`pyttd info` on the golden traces of format-spec/fixtures/v1, through the installed script."""

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "format-spec" / "fixtures" / "v1"


def table_rows(stdout: str) -> dict[str, int]:
    """`table -> rows` from the per-table lines of `pyttd info`."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("table "))
    return {line.split()[0]: int(line.split()[1]) for line in lines[start + 1 :] if line.strip()}


def test_info_counts_every_row_of_a_complete_trace(pyttd):
    expected = json.loads((FIXTURES / "basic.json").read_text())
    result = pyttd("info", FIXTURES / "basic.pyttd")
    assert result.returncode == 0, result.stderr
    assert "state     complete" in result.stdout.splitlines()
    rows = table_rows(result.stdout)
    assert rows["events"] == len(expected["tables"]["events"]["rows"])
    assert rows["values"] == len(expected["tables"]["values"]["rows"])


def test_info_reports_a_crashed_recording_as_not_closed(pyttd):
    result = pyttd("info", FIXTURES / "crashed.pyttd")
    assert result.returncode == 0, result.stderr
    state = next(line for line in result.stdout.splitlines() if line.startswith("state"))
    assert state.startswith("state     not closed cleanly: "), state
    assert "recovered" in state


def test_info_on_a_missing_file_names_it(pyttd, tmp_path):
    missing = tmp_path / "nope.pyttd"
    result = pyttd("info", missing)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"error: {missing}: No such file or directory (os error 2)\n"


def test_info_on_a_python_file_says_it_is_not_a_trace(pyttd, tmp_path):
    script = tmp_path / "app.py"
    script.write_text("print('hello')\n" * 10)
    result = pyttd("info", script)
    assert result.returncode == 1
    assert result.stderr == f"error: {script}: not a pyttd trace (bad magic bytes at offset 0)\n"
