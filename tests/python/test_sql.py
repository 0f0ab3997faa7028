"""`pyttd sql`, `pyttd export` and `pyttd.open` on a recorded script: exact rows, Parquet read
back by pyarrow and duckdb equal to `pyttd sql`, Perfetto JSON structure, and errors."""

import json
import textwrap
from pathlib import Path

import duckdb
import polars
import pyarrow
import pyarrow.parquet
import pytest

import pyttd

SCRIPT = """\
def area(w, h):
    result = w * h
    return result

def check(n):
    if n < 0:
        raise ValueError("negative")
    return n

total = 0
for side in (2, 3):
    total += area(side, side + 1)
try:
    check(-1)
except ValueError:
    pass
print("total", total)
"""


@pytest.fixture(scope="module")
def trace(tmp_path_factory) -> Path:
    import subprocess

    from conftest import PYTTD_SCRIPT

    d = tmp_path_factory.mktemp("sql")
    script = d / "app.py"
    script.write_text(textwrap.dedent(SCRIPT))
    out = d / "app.pyttd"
    r = subprocess.run([str(PYTTD_SCRIPT), "record", "-o", str(out), str(script)], capture_output=True, text=True, cwd=d)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "total 18\n"
    return out


def sql_json(pyttd, trace: Path, query: str) -> list[dict]:
    r = pyttd("sql", trace, query, "--format", "json")
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def test_calls_have_arguments_results_and_exceptions(pyttd, trace):
    rows = sql_json(pyttd, trace, "SELECT function, depth, args, return_value, exception FROM calls ORDER BY call_seq")
    assert rows == [
        {"function": "<module>", "depth": 0, "return_value": "None"},
        {"function": "area", "depth": 1, "args": "h=3, w=2", "return_value": "6"},
        {"function": "area", "depth": 1, "args": "h=4, w=3", "return_value": "12"},
        {"function": "check", "depth": 1, "args": "n=-1", "exception": "ValueError: ('negative',)"},
    ]


def test_events_and_variable_changes(pyttd, trace):
    lines = sql_json(pyttd, trace, "SELECT line FROM events WHERE kind = 'line' AND function = 'area' ORDER BY seq")
    assert [r["line"] for r in lines] == [2, 3, 2, 3]
    totals = sql_json(
        pyttd,
        trace,
        "SELECT v.value FROM variable_changes v JOIN calls c ON v.call_id = c.call_id "
        "WHERE c.function = '<module>' AND v.name = 'total' ORDER BY v.seq",
    )
    assert [r["value"] for r in totals] == ["0", "6", "18"]
    # The locals of area's second call just before `return result`.
    seq = sql_json(
        pyttd,
        trace,
        "SELECT max(seq) AS seq FROM events WHERE function = 'area' AND kind = 'line' AND line = 3",
    )[0]["seq"]
    locals_ = sql_json(pyttd, trace, f"SELECT name, value, type FROM locals_at({seq})")
    assert locals_ == [
        {"name": "h", "value": "4", "type": "int"},
        {"name": "result", "value": "12", "type": "int"},
        {"name": "w", "value": "3", "type": "int"},
    ]
    out = sql_json(pyttd, trace, "SELECT stream, text FROM output ORDER BY seq")
    assert {r["stream"] for r in out} == {"stdout"}
    assert "".join(r["text"] for r in out) == "total 18\n"


def test_table_csv_and_listing(pyttd, trace):
    r = pyttd("sql", trace, "SELECT function, count(*) AS n FROM calls GROUP BY function ORDER BY function")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "function | n",
        "---------+--",
        "<module> | 1",
        "area     | 2",
        "check    | 1",
        "(3 rows)",
    ]
    r = pyttd("sql", trace, "SELECT name FROM threads", "--format", "csv")
    assert r.stdout == "name\nMainThread\n"
    r = pyttd("sql", trace)
    assert r.returncode == 0
    listing = r.stdout.splitlines()
    for table in ("events", "calls", "variable_changes", "exceptions", "threads", "output", "code", "run"):
        assert table in listing
    assert "  function           TEXT" in listing


def test_bad_sql_and_writes_exit_2_with_one_line(pyttd, trace):
    r = pyttd("sql", trace, "SELECT nope FROM events")
    assert r.returncode == 2
    assert r.stderr.startswith("error: bad SQL:") and r.stderr.count("\n") == 1, r.stderr
    r = pyttd("sql", trace, "SELEC 1")
    assert r.returncode == 2 and "bad SQL" in r.stderr
    r = pyttd("sql", trace, "CREATE TABLE x AS SELECT 1")
    assert r.returncode == 2 and "read-only" in r.stderr, r.stderr


def test_missing_and_corrupt_traces(pyttd, trace, tmp_path):
    r = pyttd("sql", tmp_path / "nope.pyttd", "SELECT 1")
    assert r.returncode == 1 and "nope.pyttd" in r.stderr and r.stderr.count("\n") == 1
    bad = tmp_path / "bad.pyttd"
    bad.write_bytes(b"not a trace at all" * 10)
    r = pyttd("sql", bad, "SELECT 1")
    assert r.returncode == 1 and "bad.pyttd" in r.stderr and r.stderr.count("\n") == 1


def test_parquet_export_reads_back_in_pyarrow_and_duckdb(pyttd, trace, tmp_path):
    out = tmp_path / "ds"
    r = pyttd("export", trace, "--format", "parquet", "-o", out)
    assert r.returncode == 0, r.stderr
    calls = pyarrow.parquet.read_table(out / "calls").sort_by("call_seq")
    ours = sql_json(pyttd, trace, "SELECT function, args, return_value FROM calls ORDER BY call_seq")
    assert [
        {k: v for k, v in row.items() if k in ("function", "args", "return_value") and v is not None}
        for row in calls.to_pylist()
    ] == ours
    run_ids = set(calls.column("run_id").to_pylist())
    assert len(run_ids) == 1
    con = duckdb.connect()
    n = con.execute(
        f"SELECT count(*) FROM read_parquet('{out}/events/*/*.parquet', hive_partitioning = true) WHERE kind = 'line'"
    ).fetchone()[0]
    assert n == sql_json(pyttd, trace, "SELECT count(*) AS n FROM events WHERE kind = 'line'")[0]["n"]
    got = con.execute(
        f"SELECT name, value FROM read_parquet('{out}/variable_changes/*/*.parquet') WHERE name = 'total' ORDER BY seq"
    ).fetchall()
    assert got == [("total", "0"), ("total", "6"), ("total", "18")]


def test_perfetto_export_is_chrome_trace_json(pyttd, trace, tmp_path):
    out = tmp_path / "t.json"
    r = pyttd("export", trace, "--format", "perfetto", "-o", out)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    events = doc["traceEvents"]
    meta = [e for e in events if e["ph"] == "M" and e["name"] == "thread_name"]
    assert [m["args"]["name"] for m in meta] == ["MainThread"]
    complete = [e for e in events if e["ph"] == "X"]
    assert [e["name"] for e in complete] == ["<module>", "area", "area", "check"]
    for e in complete:
        assert {"ts", "dur", "pid", "tid"} <= e.keys() and e["dur"] >= 0
    module, *children = complete
    for c in children:
        assert module["ts"] <= c["ts"] and c["ts"] + c["dur"] <= module["ts"] + module["dur"]


def test_python_api_speaks_arrow(trace):
    t = pyttd.open(trace)
    result = t.sql("SELECT function, count(*) AS n FROM calls GROUP BY function ORDER BY function")
    assert result.num_rows == 3 and result.columns == ["function", "n"]
    table = pyarrow.table(result)
    assert table.to_pylist() == [
        {"function": "<module>", "n": 1},
        {"function": "area", "n": 2},
        {"function": "check", "n": 1},
    ]
    assert polars.from_arrow(pyarrow.table(t.sql("SELECT count(*) AS n FROM events"))).item() > 20
    # duckdb reads the result's Arrow stream itself (and a result can be read more than once).
    assert duckdb.sql("SELECT sum(n) AS s FROM result").fetchall() == [(4,)]
    df = t.sql("SELECT name, value FROM variable_changes WHERE name = 'total' ORDER BY seq").to_pandas()
    assert df["value"].tolist() == ["0", "6", "18"]
    assert "calls" in t.tables()
    with pytest.raises(ValueError, match="bad SQL"):
        t.sql("SELECT FROM WHERE")
    with pytest.raises(OSError, match="nope.pyttd"):
        pyttd.open(trace.parent / "nope.pyttd")


def test_python_api_attaches_traces(trace):
    t = pyttd.open(trace)
    t.attach("again", trace)
    rows = t.sql(
        "SELECT count(*) AS n FROM calls a JOIN again.calls b ON a.call_id = b.call_id AND a.args = b.args"
    ).to_pylist()
    assert rows == [{"n": 3}]
    assert "again.events" in t.tables()
    with pytest.raises(ValueError, match="taken"):
        t.attach("again", trace)
    with pytest.raises(OSError, match="nope.pyttd"):
        t.attach("other", trace.parent / "nope.pyttd")
