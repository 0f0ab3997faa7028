"""Recording benchmark: pyttd against plain Python, the floor, and its predecessor py-tt-debug.

For each workload in `benches/workloads/` (a plain script taking its scale as `argv[1]`) the
harness runs, after one warm-up round at the short scale, interleaved rounds (plain, floor, pyttd,
py-tt-debug, plain, floor, ...) at the scaled scale (py-tt-debug only in the first when that run
takes over `PY_TT_DEBUG_ONE_ROUND_S`):

- plain        `python SCRIPT SCALE`
- floor        `pyttd record --floor SCRIPT SCALE`: no-op native sys.monitoring callbacks on the
               events pyttd records, no trace; the cheapest a sys.monitoring recorder can be
- pyttd        `pyttd record -o OUT SCRIPT SCALE`
- py-tt-debug  `pyttd record --checkpoint-interval 0 --db-path X.db SCRIPT --args SCALE` from
               py-tt-debug (PyPI), installed by this harness into its own venv

and reports per tool the median slowdown against plain of the same round (min-max), events
stored, events lost, bytes on disk per event and peak RSS (of that child alone, `os.wait4`); then
fidelity at the short scale (`fidelity.py`). Results go to JSON and, for a full run, to the
"recorder" section of BENCHMARKS.md, with the targets marked met or not met.

    .venv/bin/python benches/harness.py                     # full run (./dev bench)
    .venv/bin/python benches/harness.py --quick             # CI: short scales, one round
    .venv/bin/python benches/harness.py --only compute,solver --runs 7 --out r.json

`--quick` checks only that every step ran and produced numbers; nothing here ever asserts a
timing.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import json
import os
import platform
import re
import shlex
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import fidelity

BENCHES = Path(__file__).resolve().parent
REPO = BENCHES.parent
WORKLOADS_DIR = BENCHES / "workloads"
RESULTS_DIR = BENCHES / "results"
BENCHMARKS_MD = REPO / "BENCHMARKS.md"
HEADING = "## recorder (benches/harness.py)"
BEGIN, END = "<!-- recorder:begin -->", "<!-- recorder:end -->"

PYTTD = Path(sys.executable).parent / "pyttd"
PY_TT_DEBUG_SPEC = os.environ.get("PY_TT_DEBUG_SPEC", "py-tt-debug")
PY_TT_DEBUG_VENV = Path(
    os.environ.get("PY_TT_DEBUG_VENV", Path.home() / ".cache" / "pyttd-bench" / "py-tt-debug-venv")
)
TOOLS = ("plain", "floor", "pyttd", "py-tt-debug")
RUN_TIMEOUT = 1800.0  # seconds; a run past this is killed and the tool reported as failed

# Targets for pyttd on each scaled workload.
TARGET_VS_PY_TT_DEBUG = 1 / 3  # slowdown at most a third of py-tt-debug's
TARGET_VS_FLOOR = 2.0  # slowdown at most twice the floor's
TARGET_BYTES_PER_EVENT = 16.0
TARGET_MEMORY_MB = 100.0  # peak RSS above plain Python's
MIN_RECORDING_S = 1.0  # pyttd's recording phase on a scaled workload, at least
# py-tt-debug runs one round only when its first run takes longer than this: its slowdown is then
# tens of times pyttd's or more, far beyond what one run's noise could move across a target, and
# its rounds would take most of the harness's time (solver: about 17 minutes a run).
PY_TT_DEBUG_ONE_ROUND_S = 30.0


@dataclass(frozen=True)
class Workload:
    """A script in benches/workloads/ with its two scales (argv[1])."""

    name: str
    short: int  # seconds or less under every tool; the fidelity check and --quick use it
    scaled: int  # pyttd's recording phase takes at least 1 s


WORKLOADS = [
    Workload("tight_loop", 2_000, 3_700_000),
    Workload("compute", 300, 540_000),
    Workload("many_locals", 100, 320_000),
    Workload("io_bound", 100, 8_000),
    Workload("deep_recursion", 2, 3_000),
    Workload("multi_thread", 500, 720_000),
    Workload("json_report", 1, 300),
    Workload("solver", 1, 240),
]


@dataclass
class Run:
    """One child process: what it cost and what it recorded."""

    seconds: float
    rss_mb: float  # peak resident set size of this child (ru_maxrss)
    status: int
    events: int | None = None  # rows of the trace's events table
    lost: int | None = None  # events the tool counted but did not store
    bytes: int | None = None  # trace size on disk
    recording_s: float | None = None  # pyttd's own "in N s"
    error: str | None = None
    stdout: str = field(default="", repr=False)
    stderr: str = field(default="", repr=False)


# -- running children ---------------------------------------------------------------------------


# Runs one command and reports its wall time and rusage. The harness does not fork the measured
# program itself: a child's peak RSS (`ru_maxrss`) starts from that of the process it was forked
# from, and the harness grows to hundreds of MB reading traces. This small launcher spawns it.
_LAUNCHER = """
import json, os, sys, time
result_path, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
with open(result_path, "w") as f:
    json.dump({"seconds": seconds, "status": os.waitstatus_to_exitcode(status), "maxrss_kb": usage.ru_maxrss}, f)
"""


def run_child(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = RUN_TIMEOUT) -> Run:
    """Runs `argv` (argv[0] an absolute path) to completion through the launcher: wall time from
    spawn to reap, peak RSS of that process alone; killed (with the launcher) after `timeout`."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as tmp:
        result_path = Path(tmp) / "result.json"
        launcher = [sys.executable, "-I", "-c", _LAUNCHER, str(result_path), *argv]
        proc = subprocess.Popen(launcher, cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the launcher's session: it and the program
            proc.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        try:
            result = json.loads(result_path.read_text())
        except (OSError, ValueError) as e:
            # No result, or a torn one (the launcher killed, or its disk full, while writing it).
            if proc.returncode == -signal.SIGKILL:
                reason = f"timed out after {timeout:.0f} s"
            else:
                last = (stderr.strip().splitlines() or [f"{type(e).__name__}: {e}"])[-1]
                reason = f"launcher failed: {last[:200]}"
            return Run(seconds=float("nan"), rss_mb=float("nan"), status=-1, error=reason, stdout=stdout, stderr=stderr)
    run = Run(seconds=result["seconds"], rss_mb=result["maxrss_kb"] / 1024, status=result["status"], stdout=stdout, stderr=stderr)
    if run.status != 0:
        run.error = (stderr.strip().splitlines()[-1:] or [f"exit status {run.status}"])[0][:200]
    return run


def child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, **fidelity.CHILD_ENV, "NO_COLOR": "1", **extra}


class PyTtDebug:
    """py-tt-debug, installed from PyPI into its own venv on the harness's interpreter.

    Its native module bundles its own SQLite while the `sqlite3` module of the Python it runs on
    links the system's; two SQLite copies in one process each drop the other's POSIX locks, and
    the database comes out corrupt ("file is not a database" when `pyttd record` updates the
    run row). The bundled library is therefore preloaded, so that both use it.
    """

    def __init__(self, venv: Path = PY_TT_DEBUG_VENV):
        self.venv = venv
        self.python = venv / "bin" / "python"
        self.cli = venv / "bin" / "pyttd"
        self.version = ""
        self.preload: Path | None = None

    def ensure_installed(self) -> None:
        base = Path(sys._base_executable).resolve()  # the interpreter under .venv
        stamp = self.venv / ".pyttd-bench-stamp"
        wanted = f"{base}\n{PY_TT_DEBUG_SPEC}\n"
        if not (self.cli.exists() and stamp.exists() and stamp.read_text() == wanted):
            print(f"installing {PY_TT_DEBUG_SPEC} into {self.venv}", file=sys.stderr)
            subprocess.run([str(base), "-m", "venv", "--clear", str(self.venv)], check=True)
            subprocess.run(
                [str(self.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", PY_TT_DEBUG_SPEC],
                check=True,
            )
            stamp.write_text(wanted)
        self.version = subprocess.run(
            [str(self.python), "-c", "import importlib.metadata as m; print(m.version('py-tt-debug'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        libs = sorted(self.venv.glob("lib/python*/site-packages/py_tt_debug.libs/libsqlite3*.so*"))
        self.preload = libs[0] if libs else None

    def env(self) -> dict[str, str]:
        return child_env(LD_PRELOAD=str(self.preload)) if self.preload else child_env()

    def argv(self, script: Path, scale: int, db: Path) -> list[str]:
        return [str(self.cli), "record", "--checkpoint-interval", "0", "--db-path", str(db), str(script), "--args", str(scale)]


_PYTTD_SUMMARY = re.compile(r"^pyttd: recorded (\d+) events .* in ([0-9.]+)s to ", re.M)
_PY_TT_DEBUG_SUMMARY = re.compile(r"^Recording complete: (\{.*\})$", re.M)


def pyttd_summary(stderr: str) -> tuple[int, float] | None:
    """(events, recording seconds) from the summary line of `pyttd record`."""
    match = _PYTTD_SUMMARY.search(stderr)
    return (int(match[1]), float(match[2])) if match else None


def py_tt_debug_stats(stdout: str) -> dict | None:
    """The stats py-tt-debug prints when its recording completes (`frame_count`, ...)."""
    match = _PY_TT_DEBUG_SUMMARY.search(stdout)
    return ast.literal_eval(match[1]) if match else None


def py_tt_debug_lost(stats: dict, stored: int) -> int:
    """Events py-tt-debug counted but did not store, plus those it says it dropped."""
    return stats.get("frame_count", 0) - stored + stats.get("dropped_frames", 0)


def db_files(db: Path) -> list[Path]:
    """A SQLite database and its WAL files, those that exist."""
    return [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]


class Bench:
    """Runs the four tools on one workload in a scratch directory."""

    def __init__(self, scratch: Path, ptd: PyTtDebug, floor_available: bool):
        self.scratch = scratch
        self.ptd = ptd
        self.floor_available = floor_available

    def run(self, tool: str, script: Path, scale: int, expected_stdout: str | None = None) -> Run:
        trace = self.scratch / "trace.pyttd"
        db = self.scratch / "trace.db"
        if tool == "plain":
            run = run_child([sys.executable, str(script), str(scale)], self.scratch, child_env())
        elif tool == "floor":
            run = run_child([str(PYTTD), "record", "--floor", str(script), str(scale)], self.scratch, child_env())
            if run.error is None and "pyttd: floor" not in run.stderr:
                run.error = "no `pyttd: floor` summary"
        elif tool == "pyttd":
            run = run_child([str(PYTTD), "record", "-o", str(trace), str(script), str(scale)], self.scratch, child_env())
            self._measure_pyttd(run, trace)
        else:
            for path in db_files(db):
                path.unlink()
            run = run_child(self.ptd.argv(script, scale, db), self.scratch, self.ptd.env())
            self._measure_py_tt_debug(run, db)
        if run.error is None and expected_stdout is not None and tool in ("floor", "pyttd"):
            if run.stdout != expected_stdout:
                run.error = "the program's output differs from plain Python's"
        return run

    def _measure_pyttd(self, run: Run, trace: Path) -> None:
        summary = pyttd_summary(run.stderr)
        if summary and trace.exists():
            run.events, run.recording_s = summary
            run.bytes = trace.stat().st_size
            run.lost = 0  # pyttd never drops: its rings apply backpressure
        elif run.error is None:
            run.error = "no `pyttd: recorded` summary or no trace"
        trace.unlink(missing_ok=True)

    def _measure_py_tt_debug(self, run: Run, db: Path) -> None:
        stats = py_tt_debug_stats(run.stdout)
        if stats and db.exists():
            with sqlite3.connect(db) as conn:
                run.events = conn.execute("SELECT count(*) FROM executionframes").fetchone()[0]
            run.bytes = sum(p.stat().st_size for p in db_files(db))
            run.lost = py_tt_debug_lost(stats, run.events)
        elif run.error is None:
            run.error = "no `Recording complete` summary or no database"
        for path in db_files(db):
            path.unlink()

    def fidelity(self, script: Path, scale: int) -> dict[str, dict]:
        """Fidelity of pyttd and py-tt-debug at `scale`, against the settrace oracle."""
        from pyttd import _native

        reference = fidelity.oracle_recording(script, [str(scale)], cwd=self.scratch)
        results: dict[str, dict] = {}
        trace = self.scratch / "fidelity.pyttd"
        run = run_child([str(PYTTD), "record", "-o", str(trace), str(script), str(scale)], self.scratch, child_env())
        if run.error is None:
            results["pyttd"] = fidelity.score(reference, fidelity.pyttd_lines(_native.read_trace(str(trace)))).to_json()
        else:
            results["pyttd"] = {"error": run.error}
        trace.unlink(missing_ok=True)
        db = self.scratch / "fidelity.db"
        run = run_child(self.ptd.argv(script, scale, db), self.scratch, self.ptd.env())
        if run.error is None and db.exists():
            results["py-tt-debug"] = fidelity.score(reference, fidelity.py_tt_debug_lines(db, script.parent)).to_json()
        else:
            results["py-tt-debug"] = {"error": run.error or "no database"}
        for path in db_files(db):
            path.unlink()
        return results


def without_out(args: list[str]) -> list[str]:
    """`args` without `--out PATH`: where the JSON goes does not change what is measured, and the
    reproduce command in BENCHMARKS.md must not name a path of the machine it ran on."""
    kept, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == "--out":
            skip = True
        elif not a.startswith("--out="):
            kept.append(a)
    return kept


def floor_available(scratch: Path) -> bool:
    """Whether this pyttd has `record --floor` (the harness reports n/a otherwise)."""
    probe = scratch / "probe.py"
    probe.write_text("print('ok')\n")
    run = run_child([str(PYTTD), "record", "--floor", str(probe)], scratch, child_env(), timeout=60)
    return run.error is None and "pyttd: floor" in run.stderr


# -- one workload -------------------------------------------------------------------------------


def bench_workload(bench: Bench, workload: Workload, scale: int, runs: int, warmup: bool) -> dict:
    """Interleaved rounds of every tool on one workload; returns its JSON record."""
    script = WORKLOADS_DIR / f"{workload.name}.py"
    tools = [t for t in TOOLS if t != "floor" or bench.floor_available]
    expected = run_child([sys.executable, str(script), str(scale)], bench.scratch, child_env()).stdout
    if warmup:
        for tool in tools:
            bench.run(tool, script, workload.short)
    per_tool: dict[str, list[Run]] = {tool: [] for tool in TOOLS}
    failed: dict[str, str] = {} if bench.floor_available else {"floor": "n/a: `pyttd record --floor` not available"}
    for round_ in range(runs):
        for tool in tools:
            if tool in failed:
                continue
            ptd_runs = per_tool["py-tt-debug"]
            if tool == "py-tt-debug" and ptd_runs and ptd_runs[0].seconds > PY_TT_DEBUG_ONE_ROUND_S:
                continue
            run = bench.run(tool, script, scale, expected)
            print(
                f"  {workload.name} round {round_ + 1}/{runs} {tool:<12} {run.seconds:8.2f} s"
                + (f"  error: {run.error}" if run.error else ""),
                file=sys.stderr,
            )
            if run.error:
                failed[tool] = run.error
            else:
                per_tool[tool].append(run)
    plain = per_tool["plain"]
    result = {"workload": workload.name, "scale": scale, "runs": runs, "tools": {}}
    for tool in TOOLS:
        tool_runs = per_tool[tool]
        summary = summarize(tool_runs, plain)
        summary["error"] = failed.get(tool)
        summary["runs"] = [{k: v for k, v in asdict(r).items() if k not in ("stdout", "stderr")} for r in tool_runs]
        result["tools"][tool] = summary
    print(f"  {workload.name}: fidelity at scale {workload.short}", file=sys.stderr)
    result["fidelity_scale"] = workload.short
    result["fidelity"] = bench.fidelity(script, workload.short)
    result["targets"] = targets(result)
    return result


def summarize(runs: list[Run], plain: list[Run]) -> dict:
    """Medians and ranges of one tool's runs; slowdowns against plain Python of the same round."""
    if not runs:
        return {}
    ratios = [r.seconds / p.seconds for r, p in zip(runs, plain)] if len(plain) >= len(runs) else []
    events = [r.events for r in runs if r.events is not None]
    sizes = [r.bytes / r.events for r in runs if r.bytes is not None and r.events]
    return {
        "seconds": statistics.median(r.seconds for r in runs),
        "slowdown": statistics.median(ratios) if ratios else None,
        "slowdown_min": min(ratios) if ratios else None,
        "slowdown_max": max(ratios) if ratios else None,
        "events": statistics.median(events) if events else None,
        "lost_max": max((r.lost for r in runs if r.lost is not None), default=None),
        "bytes_per_event": statistics.median(sizes) if sizes else None,
        "rss_mb": statistics.median(r.rss_mb for r in runs),
        "recording_s": statistics.median(r.recording_s for r in runs) if runs[0].recording_s is not None else None,
    }


def targets(result: dict) -> dict:
    """pyttd's targets on this workload: True (met), False (not met) or None (not measurable)."""
    tools = result["tools"]
    ours = tools["pyttd"].get("slowdown")

    def ratio_target(other: str, factor: float):
        theirs = tools[other].get("slowdown")
        return None if ours is None or theirs is None else ours <= factor * theirs

    size = tools["pyttd"].get("bytes_per_event")
    overhead = None
    if tools["pyttd"].get("rss_mb") is not None and tools["plain"].get("rss_mb") is not None:
        overhead = tools["pyttd"]["rss_mb"] - tools["plain"]["rss_mb"]
    return {
        "vs_py_tt_debug": ratio_target("py-tt-debug", TARGET_VS_PY_TT_DEBUG),
        "vs_floor": ratio_target("floor", TARGET_VS_FLOOR),
        "bytes_per_event": None if size is None else size <= TARGET_BYTES_PER_EVENT,
        "memory_overhead_mb": overhead,
        "memory": None if overhead is None else overhead <= TARGET_MEMORY_MB,
    }


# -- report -------------------------------------------------------------------------------------


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    # Dirty means changed sources; BENCHMARKS.md itself is rewritten section by section by `./dev
    # bench`, so its own changes do not count.
    commit = subprocess.run(["git", "describe", "--always"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!BENCHMARKS.md"], cwd=REPO, capture_output=True, text=True)
    if changed.stdout.strip():
        commit += "-dirty"
    pyttd_version = subprocess.run([str(PYTTD), "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "date": datetime.date.today().isoformat(),
        "cores": os.cpu_count(),
        "cpu": model,
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "pyttd": pyttd_version,
        "commit": commit,
    }


def _num(value, fmt: str, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{fmt}}{suffix}"


def _mark(value: bool | None) -> str:
    return "n/a" if value is None else ("met" if value else "**not met**")


def _fidelity_cell(entry: dict | None) -> str:
    if not entry:
        return "—"
    if "error" in entry:
        return "n/a"
    return f"{100 * entry['share']:.1f}% ({entry['equal']}/{entry['reference']})"


def render_markdown(report: dict) -> str:
    """The `## recorder` section of BENCHMARKS.md."""
    m = report["machine"]
    lines = [
        BEGIN,
        f"Measured {m['date']} on {m['cores']} cores ({m['cpu'] or 'unknown CPU'}), {m['kernel']}; "
        f"Python {m['python']}, {m['pyttd']} at `{m['commit']}`, py-tt-debug {report['py_tt_debug']}. "
        f"{report['runs']} interleaved rounds per workload{' after a warm-up round' if report['warmup'] else ''}"
        f"{' (quick mode: short scales, figures not comparable)' if report['quick'] else ''}. "
        f"Reproduce with `{report['command']}`.",
        "",
        "Slowdown: the tool's wall time over plain Python's in the same round, median (min–max). "
        "Events: rows stored in the trace; lost: events the tool counted but did not store (worst "
        "run). Peak RSS: of that child process alone. Fidelity (at the short scale, in parentheses "
        "after the workload): the share of line events at which the stored locals equal those a "
        "`sys.settrace` reference read in the same program (`benches/fidelity.py`).",
        "",
        "| workload (scale; fidelity scale) | tool | time | slowdown | events | lost | bytes/event | peak RSS | fidelity |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for w in report["workloads"]:
        label = f"{w['workload']} ({w['scale']}; {w['fidelity_scale']})"
        for tool in TOOLS:
            t = w["tools"][tool]
            if t.get("seconds") is None:
                lines.append(f"| {label} | {tool} | n/a | n/a | | | | | {_fidelity_cell(w['fidelity'].get(tool))} |")
                continue
            slowdown = "—" if tool == "plain" else (
                f"{t['slowdown']:.2f}× ({t['slowdown_min']:.2f}–{t['slowdown_max']:.2f})" if t["slowdown"] else "n/a"
            )
            if tool != "plain" and t["slowdown"] and len(t["runs"]) < w["runs"]:
                slowdown += f", {len(t['runs'])} of {w['runs']} rounds"
            traced = tool in ("pyttd", "py-tt-debug")
            lines.append(
                f"| {label} | {tool} | {t['seconds']:.2f} s | {slowdown} | "
                f"{_num(t['events'], ',.0f') if traced else ''} | {_num(t['lost_max'], ',') if traced else ''} | "
                f"{_num(t['bytes_per_event'], ',.1f') if traced else ''} | {t['rss_mb']:.0f} MB | "
                f"{_fidelity_cell(w['fidelity'].get(tool))} |"
            )
    errors = [(w["workload"], tool, w["tools"][tool].get("error")) for w in report["workloads"] for tool in TOOLS]
    errors = [e for e in errors if e[2]]
    if errors:
        lines += ["", "Failed or unavailable:", ""]
        lines += [f"- {w} / {tool}: {err}" for w, tool, err in errors]
    lines += [
        "",
        "Targets for pyttd on each scaled workload: slowdown ≤ ⅓ of py-tt-debug's, ≤ 2× the floor's; "
        "≤ 16 bytes/event on disk; peak RSS ≤ 100 MB above plain Python's.",
        "",
        "| workload | pyttd slowdown | ≤ ⅓ py-tt-debug | ≤ 2× floor | ≤ 16 bytes/event | memory overhead ≤ 100 MB |",
        "|---|---:|---|---|---|---|",
    ]
    for w in report["workloads"]:
        t, tg, tools = w["tools"]["pyttd"], w["targets"], w["tools"]
        ptd, floor = tools["py-tt-debug"].get("slowdown"), tools["floor"].get("slowdown")
        lines.append(
            f"| {w['workload']} | {_num(t.get('slowdown'), '.2f', '×')} | "
            f"{_mark(tg['vs_py_tt_debug'])} (py-tt-debug {_num(ptd, '.2f', '×')}) | "
            f"{_mark(tg['vs_floor'])} (floor {_num(floor, '.2f', '×')}) | "
            f"{_mark(tg['bytes_per_event'])} ({_num(t.get('bytes_per_event'), '.1f')}) | "
            f"{_mark(tg['memory'])} ({_num(tg['memory_overhead_mb'], '+.0f', ' MB')}) |"
        )
    if not report["quick"]:
        short = [
            f"{w['workload']} ({w['tools']['pyttd']['recording_s']:.2f} s)"
            for w in report["workloads"]
            if (w["tools"]["pyttd"].get("recording_s") or MIN_RECORDING_S) < MIN_RECORDING_S
        ]
        if short:
            lines += [
                "",
                f"Scale check: pyttd's recording phase (its own summary) took under {MIN_RECORDING_S:.0f} s on "
                f"{', '.join(short)}; raise their scaled scale in `benches/harness.py`.",
            ]
    lines += [END, ""]
    return "\n".join(lines)


def write_benchmarks_md(section: str) -> None:
    """Replaces what lies between the markers under `## recorder` (or appends the heading and the
    section); the heading stays outside the markers, so that `./dev bench-format`, which rewrites
    `## format` up to the next `## ` heading, never eats the begin marker."""
    text = BENCHMARKS_MD.read_text()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + f"\n\n{HEADING}\n\n" + section
    BENCHMARKS_MD.write_text(text)


def check_quick(report: dict) -> list[str]:
    """What --quick asserts: every tool ran and produced numbers (no timing threshold)."""
    problems = []
    for w in report["workloads"]:
        for tool in ("plain", "pyttd", "py-tt-debug"):
            t = w["tools"][tool]
            if t.get("error") or t.get("seconds") is None:
                problems.append(f"{w['workload']}: {tool} produced no timing ({t.get('error')})")
        for tool in ("pyttd", "py-tt-debug"):
            t = w["tools"][tool]
            if t and not t.get("events"):
                problems.append(f"{w['workload']}: {tool} stored no events")
            fid = w["fidelity"].get(tool, {})
            if "share" not in fid or not fid["reference"]:
                problems.append(f"{w['workload']}: no fidelity for {tool} ({fid.get('error', 'nothing compared')})")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short scales, one round, no warm-up; BENCHMARKS.md untouched")
    parser.add_argument("--runs", type=int, help="interleaved rounds per workload (default 5; 1 with --quick)")
    parser.add_argument("--only", help="comma-separated workload names")
    parser.add_argument("--out", type=Path, help="raw results as JSON (default benches/results/recorder.json; none with --quick)")
    args = parser.parse_args(argv)
    runs = args.runs or (1 if args.quick else 5)
    selected = WORKLOADS
    if args.only:
        names = args.only.split(",")
        unknown = sorted(set(names) - {w.name for w in WORKLOADS})
        if unknown:
            parser.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(w.name for w in WORKLOADS)}")
        selected = [w for w in WORKLOADS if w.name in names]

    started = time.perf_counter()
    ptd = PyTtDebug()
    ptd.ensure_installed()
    given = sys.argv[1:] if argv is None else argv
    given = without_out(given)
    if set(given) <= {"--quick"}:
        command = shlex.join(["./dev", "bench", *given])
    else:
        command = shlex.join([".venv/bin/python", "benches/harness.py", *given])
    report = {
        "machine": machine(),
        "py_tt_debug": ptd.version,
        "py_tt_debug_sqlite_preload": str(ptd.preload) if ptd.preload else None,
        "quick": args.quick,
        "runs": runs,
        "warmup": not args.quick,
        "command": command,
        "workloads": [],
    }
    with tempfile.TemporaryDirectory(prefix="pyttd-bench-") as tmp:
        scratch = Path(tmp)
        bench = Bench(scratch, ptd, floor_available(scratch))
        if not bench.floor_available:
            print("note: `pyttd record --floor` is not available; the floor is reported as n/a", file=sys.stderr)
        for workload in selected:
            scale = workload.short if args.quick else workload.scaled
            print(f"{workload.name} at scale {scale}", file=sys.stderr)
            report["workloads"].append(bench_workload(bench, workload, scale, runs, warmup=not args.quick))
    report["elapsed_s"] = time.perf_counter() - started

    section = render_markdown(report)
    out = args.out or (None if args.quick else RESULTS_DIR / "recorder.json")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"results: {out}", file=sys.stderr)
    print(section)
    return conclude(report, check_quick(report) if args.quick else None, lambda: write_benchmarks_md(section))


def conclude(report: dict, problems: list[str] | None, write_section) -> int:
    """Ends a run: a quick one reports its problems (exit status 1 if any), a full one writes its
    section of BENCHMARKS.md."""
    elapsed = f"{report['elapsed_s']:.0f} s"
    if problems is not None:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        print(f"quick run {'failed' if problems else 'ok'} in {elapsed}", file=sys.stderr)
        return 1 if problems else 0
    write_section()
    print(f"BENCHMARKS.md updated ({elapsed})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
