"""Navigation and query benchmark, pyttd and py-tt-debug side by side on traces recorded from
the same workloads (`./dev bench-nav`; `./dev bench` runs it after the recorder harness).

For each trace below, both tools record the workload (pyttd: `pyttd record`; py-tt-debug: its
CLI, as `harness.py` runs it), then the same operations are timed on each:

- pyttd        `benches/navigation.rs` (release build, `cargo bench --bench navigation`) through
               the `Session` the DAP server uses
- py-tt-debug  `benches/py_tt_debug_nav.py` on py-tt-debug's interpreter, through the session
               API its DAP server uses

The table gives p50 and p99 per tool, the ratio of the p50s, and pyttd's targets (Navigation
issue). A tool's trace may not hold what the operation looks for (py-tt-debug loses events and
samples locals); the notes say what each stop found.

    .venv/bin/python benches/nav_compare.py            # full run; updates BENCHMARKS.md
    .venv/bin/python benches/nav_compare.py --quick    # CI: small traces, few samples
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness import (
    BENCHMARKS_MD,
    PYTTD,
    REPO,
    WORKLOADS_DIR,
    PyTtDebug,
    child_env,
    conclude,
    db_files,
    machine,
    py_tt_debug_lost,
    py_tt_debug_stats,
    pyttd_summary,
    run_child,
)

HEADING = "## navigation (benches/nav_compare.py)"


@dataclass
class Tier:
    workload: str
    scale: int
    line: int  # the breakpoint line (the loop body)
    conditions: list[str]  # `NAME == INT`: one near the end of the run, one far from it


TIERS = [
    Tier("compute", 54_000, 23, ["i == 52000", "i == 20000"]),  # 1.03M events
    Tier("tight_loop", 500_000, 9, ["i == 498000", "i == 200000"]),  # 1.0M events
    Tier("compute", 540_000, 23, ["i == 538000", "i == 200000"]),  # 10.26M events
]
QUICK_TIERS = [
    Tier("compute", 2_000, 23, ["i == 1900", "i == 500"]),
    Tier("tight_loop", 5_000, 9, ["i == 4900", "i == 1000"]),
]



def record(tier: Tier, scratch: Path, ptd: PyTtDebug) -> dict:
    """Records the tier's workload with both tools; returns what each stored and where."""
    script = WORKLOADS_DIR / f"{tier.workload}.py"
    trace = scratch / f"{tier.workload}-{tier.scale}.pyttd"
    db = scratch / f"{tier.workload}-{tier.scale}.db"
    out: dict = {"workload": tier.workload, "scale": tier.scale, "script": str(script)}
    run = run_child([str(PYTTD), "record", "-o", str(trace), str(script), str(tier.scale)], scratch, child_env())
    summary = pyttd_summary(run.stderr)
    if run.error or not summary:
        raise SystemExit(f"error: pyttd could not record {script.name} {tier.scale}: {run.error or run.stderr[-300:]}")
    out["pyttd"] = {"trace": str(trace), "events": summary[0], "bytes": trace.stat().st_size, "seconds": run.seconds}
    run = run_child(ptd.argv(script, tier.scale, db), scratch, ptd.env())
    stats = py_tt_debug_stats(run.stdout)
    if run.error or not stats or not db.exists():
        out["py-tt-debug"] = {"error": run.error or "no `Recording complete` summary or no database"}
    else:
        out["py-tt-debug"] = {
            "db": str(db),
            "stats": stats,
            "bytes": sum(p.stat().st_size for p in db_files(db)),
            "seconds": run.seconds,
        }
    return out


def cargo_env() -> dict[str, str]:
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    paths = ":".join(p for p in (libdir, os.environ.get("LD_LIBRARY_PATH")) if p)
    # pyo3 builds against this interpreter (as `./dev` has it), and the binary loads its libpython.
    return {**os.environ, "PYO3_PYTHON": sys.executable, "LD_LIBRARY_PATH": paths}


def pyttd_side(tier: Tier, recorded: dict, quick: bool, scratch: Path) -> dict:
    out = scratch / "pyttd-nav.json"
    env = {
        **cargo_env(),
        "PYTTD_NAV_TRACE": recorded["pyttd"]["trace"],
        "PYTTD_NAV_SOURCE": recorded["script"],
        "PYTTD_NAV_LINE": str(tier.line),
        "PYTTD_NAV_CONDITIONS": ";".join(tier.conditions),
        "PYTTD_NAV_JSON": str(out),
    }
    if quick:
        env.update(PYTTD_NAV_SAMPLES="50", PYTTD_NAV_COLD_SAMPLES="10")
    # Quick: the test profile (the build `cargo test` already made); full: release.
    command = ["cargo", "test" if quick else "bench", "-q", "--bench", "navigation"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"error: {shlex.join(command)} failed:\n{done.stderr[-2000:]}")
    return json.loads(out.read_text())


def py_tt_debug_side(tier: Tier, recorded: dict, ptd: PyTtDebug, quick: bool, scratch: Path) -> dict:
    if "error" in recorded["py-tt-debug"]:
        return {"error": recorded["py-tt-debug"]["error"]}
    out = scratch / "py-tt-debug-nav.json"
    command = [
        str(ptd.python),
        str(Path(__file__).with_name("py_tt_debug_nav.py")),
        "--db", recorded["py-tt-debug"]["db"],
        "--script", recorded["script"],
        "--line", str(tier.line),
        "--conditions", ";".join(tier.conditions),
        "--json", str(out),
    ]  # fmt: skip
    if quick:
        command += ["--samples", "50", "--cold-samples", "10", "--budget", "2"]
    done = subprocess.run(command, cwd=scratch, env=ptd.env(), capture_output=True, text=True)
    if done.returncode != 0 or not out.exists():
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1][:200]}
    return json.loads(out.read_text())


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f} ms" if value < 10 else f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def _ratio(theirs: float, ours: float) -> str:
    if ours <= 0:
        return "—"
    r = theirs / ours
    return f"{r:.2g}×" if r < 10 else f"{r:,.0f}×"


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def render_tier(tier: dict) -> str:
    pyttd, ptd = tier["pyttd"], tier["py-tt-debug"]
    rec_p, rec_d = tier["recorded"]["pyttd"], tier["recorded"]["py-tt-debug"]
    lines = [f"### `{tier['workload']}.py {tier['scale']}`", ""]
    lines.append(
        f"- pyttd: {rec_p['events']:,} events, {_mib(rec_p['bytes'])}; session open (index build) "
        f"{_ms(pyttd['open_ms'])}."
    )
    if "error" in ptd:
        lines.append(f"- py-tt-debug: failed: {ptd['error']}")
    else:
        counted = rec_d["stats"].get("frame_count", 0)
        lost = py_tt_debug_lost(rec_d["stats"], ptd["events"])
        lines.append(
            f"- py-tt-debug: {ptd['events']:,} rows stored of {counted:,} events counted "
            f"(lost {lost:,}), {_mib(rec_d['bytes'])}; {ptd['torn_rows']:,} rows torn (function name "
            f"not a name, or locals not JSON); session open {_ms(ptd['open_ms'])}."
        )
    lines += [
        "",
        "| operation | pyttd p50 | pyttd p99 | py-tt-debug p50 | py-tt-debug p99 | p50 ratio | target (pyttd) | met | notes |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    theirs = {op["name"]: op for op in ptd.get("operations", [])}
    for op in pyttd["operations"]:
        other = theirs.get(op["name"])
        p99 = lambda o: o["p99_ms"] if o["samples"] >= 100 else None  # noqa: E731
        notes = [f"pyttd: {op['note']}"] if op["note"] else []
        if other is None:
            ratio, d50, d99 = "—", "—", "—"
            if "error" not in ptd:
                notes.append("py-tt-debug: no such operation")
        else:
            ratio = _ratio(other["p50_ms"], op["p50_ms"])
            if "**" in other["note"] or "**" in op["note"]:
                ratio = "—"  # one side did not find what was asked: not the same work
            d50, d99 = _ms(other["p50_ms"]), _ms(p99(other))
            if other["samples"] < 100:
                d99 = f"max {_ms(other['max_ms'])}"
            if other["note"]:
                notes.append(f"py-tt-debug: {other['note']}")
            if other["samples"] < op["samples"]:
                notes.append(f"py-tt-debug: {other['samples']} samples (time budget or positions found)")
        p_99 = _ms(p99(op)) if p99(op) is not None else f"max {_ms(op['max_ms'])}"
        lines.append(
            f"| {op['name']} | {_ms(op['p50_ms'])} | {p_99} | {d50} | {d99} | {ratio} | {op['target']} | {op['met']} | "
            f"{'; '.join(notes)} |"
        )
    return "\n".join(lines)


def render_markdown(report: dict) -> str:
    m = report["machine"]
    quick = "**Quick mode** (an unoptimised build, 50 steps, 10 cold samples): numbers only.\n\n" if report["quick"] else ""
    head = f"""{HEADING}

{quick}Measured {m['date']} on {m['cores']} cores ({m['cpu']}), {m['kernel']}; Python {m['python']}, {m['pyttd']} at `{m['commit']}`, py-tt-debug {report['py_tt_debug']}. Reproduce with `{report['command']}`.

Both tools record the same workload; then each operation is timed on each tool's own trace:
pyttd through `Session` (what its DAP server calls; `benches/navigation.rs`, release build),
py-tt-debug through its `Session` (what its DAP server calls; `benches/py_tt_debug_nav.py`).

- **Steps** start from 2,000 pseudo-random line events, reached by a goto and shown (stack and
  top frame's variables, as a client shows every stop), none of it timed; on py-tt-debug the goto
  is `goto_frame`, which leaves its stack built and cached. A py-tt-debug step always brings its
  stack up to date, a pyttd step only moves, so the row that compares the same work is
  "+ stack + top frame's variables": what a client asks after every stop.
- **Cold** operations start from a session with empty caches (pyttd: a freshly opened trace,
  opening not timed; py-tt-debug: a session as `enter_replay` leaves it, on a warm SQLite
  connection). py-tt-debug's goto builds the stack as well.
- **Reverse-continue** starts at the end of the trace (pyttd: its last event; py-tt-debug: its
  last line event), with one breakpoint on the loop body and a condition near the end of the run
  and one far from it; the time includes the stack and top frame's variables at the stop.
  py-tt-debug gives up a conditional search after 10,000 hits and evaluates conditions on the
  locals it sampled; where a side did not find the stop, no ratio is given.
- **Stats** differ: pyttd's cover every recorded file with total and self time per function,
  py-tt-debug's the one file with call counts.
- **Torn rows**: in py-tt-debug's traces of `compute.py` most stored rows are damaged: a
  `function_name` that is a fragment of some locals JSON (`"}}`, `oly`) and a `locals_snapshot`
  that is not JSON. The harness counts them; they occur with and without its SQLite preload.
  Its operations still run on them, which is why its stats list thousands of "functions".
- Ratios are py-tt-debug's p50 over pyttd's; a p99 needs 100 samples (otherwise the max is
  shown).
"""
    return head + "\n" + "\n\n".join(render_tier(t) for t in report["tiers"]) + "\n"


def write_benchmarks_md(section: str) -> None:
    """Replaces the navigation section (up to the next `## ` heading), or appends it."""
    text = BENCHMARKS_MD.read_text()
    pattern = re.compile(r"^## navigation \(.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section.rstrip("\n") + "\n\n", text).rstrip("\n") + "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    BENCHMARKS_MD.write_text(text)


def check_quick(report: dict) -> list[str]:
    """What --quick asserts: both sides ran every operation and produced numbers."""
    problems = []
    for t in report["tiers"]:
        name = f"{t['workload']} {t['scale']}"
        ops = t["pyttd"]["operations"]
        if len(ops) < 10 or any(op["samples"] == 0 for op in ops):
            problems.append(f"{name}: pyttd measured {len(ops)} operations")
        if any("wrong stop" in op["note"] for op in ops):
            problems.append(f"{name}: pyttd stopped at the wrong place")
        theirs = t["py-tt-debug"]
        if "error" in theirs or len(theirs.get("operations", [])) < 9:
            problems.append(f"{name}: py-tt-debug: {theirs.get('error', 'operations missing')}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small traces, few samples; BENCHMARKS.md untouched")
    parser.add_argument("--out", type=Path, help="raw results as JSON (default benches/results/navigation.json)")
    parser.add_argument("--render", type=Path, metavar="JSON", help="only render a results file into BENCHMARKS.md")
    args = parser.parse_args(argv)
    if args.render:
        write_benchmarks_md(render_markdown(json.loads(args.render.read_text())))
        return 0
    started = time.perf_counter()
    ptd = PyTtDebug()
    ptd.ensure_installed()
    given = sys.argv[1:] if argv is None else argv
    report = {
        "machine": machine(),
        "quick": args.quick,
        "py_tt_debug": ptd.version,
        "command": shlex.join(["./dev", "bench-nav", *given]),
        "tiers": [],
    }
    with tempfile.TemporaryDirectory(prefix="pyttd-nav-") as tmp:
        scratch = Path(tmp)
        for tier in QUICK_TIERS if args.quick else TIERS:
            print(f"recording {tier.workload}.py {tier.scale} with both tools", file=sys.stderr)
            recorded = record(tier, scratch, ptd)
            print("  pyttd side", file=sys.stderr)
            pyttd = pyttd_side(tier, recorded, args.quick, scratch)
            print("  py-tt-debug side", file=sys.stderr)
            theirs = py_tt_debug_side(tier, recorded, ptd, args.quick, scratch)
            report["tiers"].append(
                {"workload": tier.workload, "scale": tier.scale, "recorded": recorded, "pyttd": pyttd, "py-tt-debug": theirs}
            )
            for path in scratch.iterdir():
                path.unlink()
    report["elapsed_s"] = time.perf_counter() - started
    section = render_markdown(report)
    print(section)
    out = args.out or (None if args.quick else REPO / "benches" / "results" / "navigation.json")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1) + "\n")
    return conclude(report, check_quick(report) if args.quick else None, lambda: write_benchmarks_md(section))


if __name__ == "__main__":
    sys.exit(main())
