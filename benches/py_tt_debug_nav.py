"""py-tt-debug's side of the navigation benchmark: the operations of `benches/navigation.rs`,
timed through py-tt-debug's own Python session API (`pyttd.session.Session`, what its DAP
server calls) on a database it recorded.

Runs on py-tt-debug's interpreter (its venv; `nav_compare.py` starts it):

    python py_tt_debug_nav.py --db X.db --script compute.py --line 23 \\
        --conditions "i == 200000" --json out.json

Positions are pseudo-random line events, from the same generator as the Rust side. A step starts
from a position reached with `goto_frame` (not timed, as the Rust side's `goto` is not; it leaves
the stack built and cached, as a real session has it). "Cold" operations run on a session with
empty caches, as `enter_replay` leaves it; the SQLite connection (and its page cache) is shared,
which favours py-tt-debug. Each operation stops taking samples after `--budget` seconds (at least
three samples), since some of py-tt-debug's operations scan the trace from the start.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import re
import time

IDENTIFIER = re.compile(r"^(<\w+>|[A-Za-z_]\w*)$")


def percentile(samples: list[float], q: float) -> float:
    """The sample at rank (n - 1) * q, rounded half up (as the Rust side picks it)."""
    ordered = sorted(samples)
    return ordered[int((len(ordered) - 1) * q + 0.5)]


class GaveUp(logging.Handler):
    """Counts py-tt-debug's "search exhausted" warnings: a conditional search that gave up."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "exhausted" in record.getMessage():
            self.count += 1


class Timer:
    """Collects samples of one operation until the count or the time budget is reached."""

    def __init__(self, count: int, budget_s: float):
        self.count = count
        self.budget_s = budget_s
        self.samples: list[float] = []
        self.started: float | None = None

    def more(self) -> bool:
        if self.started is None:
            self.started = time.perf_counter()
        if len(self.samples) < 3:
            return True
        return len(self.samples) < self.count and time.perf_counter() - self.started < self.budget_s

    def time(self, f, *args):
        t = time.perf_counter()
        out = f(*args)
        self.samples.append((time.perf_counter() - t) * 1e3)
        return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True)
    parser.add_argument("--script", required=True)
    parser.add_argument("--line", type=int, default=23)
    parser.add_argument("--conditions", default="i == 200000")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--cold-samples", type=int, default=200)
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per operation")
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    # Its session logs every locals snapshot it cannot parse (the torn rows are counted instead)
    # and every conditional search that gives up (counted by GaveUp).
    gave_up = GaveUp()
    root = logging.getLogger()
    root.handlers = [gave_up]
    root.setLevel(logging.WARNING)

    from pyttd.models import storage
    from pyttd.models.db import db
    from pyttd.models.timeline import get_timeline_summary
    from pyttd.session import Session

    script = os.path.realpath(args.script)
    opened = time.perf_counter()
    storage.connect_to_db(args.db)
    storage.initialize_schema()
    run = db.fetchone("SELECT * FROM runs ORDER BY timestamp_start DESC LIMIT 1")
    rid = str(run.run_id)
    first_line = db.fetchone(
        "SELECT * FROM executionframes WHERE run_id = ? AND frame_event = 'line' ORDER BY sequence_no LIMIT 1", (rid,)
    )
    base = Session()
    base.enter_replay(run.run_id, first_line.sequence_no)
    open_ms = (time.perf_counter() - opened) * 1e3
    events = db.fetchone("SELECT count(*) AS n FROM executionframes WHERE run_id = ?", (rid,)).n
    first = db.fetchone("SELECT min(sequence_no) AS s FROM executionframes WHERE run_id = ?", (rid,)).s
    last = db.fetchone("SELECT max(sequence_no) AS s FROM executionframes WHERE run_id = ?", (rid,)).s

    # Rows whose function name is not a name or whose locals are not JSON: torn rows.
    torn = 0
    for row in db.fetchall(
        "SELECT function_name, count(*) AS n,"
        " sum(locals_snapshot IS NOT NULL AND NOT json_valid(locals_snapshot)) AS bad"
        " FROM executionframes WHERE run_id = ? GROUP BY function_name",
        (rid,),
    ):
        torn += row.n if IDENTIFIER.match(row.function_name or "") is None else row.bad

    def fresh() -> Session:
        """A session as `enter_replay` leaves it (empty caches), without its setup queries."""
        s = copy.copy(base)
        s._stack_cache = {}
        s._var_ref_cache = {}
        s._bp_hit_counts = {}
        s.current_stack = list(base.current_stack)
        return s

    def show(s: Session) -> tuple[list[dict], list[dict]]:
        """What a client asks at every stop: the stack and the top frame's variables."""
        return s.get_stack_at(s.current_frame_seq), s.get_variables_at(s.current_frame_seq)

    def place(s: Session, seq: int) -> None:
        """Puts the session at `seq` as a navigation there leaves it, shown as a client shows
        every stop (not timed)."""
        s.goto_frame(seq)
        show(s)

    # Pseudo-random line events: the Rust side's generator over this trace's seq range (the
    # database has gaps where py-tt-debug lost events; those seqs are skipped like non-lines).
    state = 0x9E3779B97F4A7C15
    positions: list[int] = []
    attempts = 0
    while last > first and len(positions) < args.samples and attempts < 100 * args.samples:
        attempts += 1
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        seq = first + (state >> 11) % (last - first)
        row = db.fetchone(
            "SELECT frame_event FROM executionframes WHERE run_id = ? AND sequence_no = ?", (rid, seq)
        )
        if row is not None and row.frame_event == "line":
            positions.append(seq)

    operations = []

    def record(name: str, timer: Timer, note: str = "") -> None:
        s = timer.samples
        if not s:
            print(f"{name}: no samples", flush=True)
            return
        operations.append(
            {
                "name": name,
                "samples": len(s),
                "p50_ms": percentile(s, 0.5),
                "p99_ms": percentile(s, 0.99),
                "max_ms": max(s),
                "note": note,
            }
        )
        print(f"{name}: {len(s)} samples", flush=True)

    # Each step alone (its stack update included: every navigation keeps the stack current),
    # and with what a client asks right after any stop: the stack and the top frame's variables.
    session = fresh()
    for name, method in [
        ("step in", Session.step_into),
        ("step over", Session.step_over),
        ("step out", Session.step_out),
        ("step back", Session.step_back),
    ]:
        steps, views = Timer(len(positions), args.budget), Timer(len(positions), args.budget)
        for seq in positions:
            if not steps.more():
                break
            place(session, seq)
            t = time.perf_counter()
            method(session)
            steps.samples.append((time.perf_counter() - t) * 1e3)
            show(session)
            views.samples.append((time.perf_counter() - t) * 1e3)
        record(name, steps)
        record(f"{name} + stack + top frame's variables", views)

    cold = positions[: args.cold_samples]
    gotos = Timer(len(cold), args.budget)
    with_locals = 0
    for seq in cold:
        if gotos.more():
            gotos.time(fresh().goto_frame, seq)
    views, everything = Timer(len(cold), args.budget), Timer(len(cold), args.budget)
    for seq in cold:
        if not views.more():
            break
        s = fresh()
        t = time.perf_counter()
        s.goto_frame(seq)
        stack, top = show(s)
        views.samples.append((time.perf_counter() - t) * 1e3)
        with_locals += bool(top)
        for frame in stack[1:]:
            s.get_variables_at(frame["seq"])
        everything.samples.append((time.perf_counter() - t) * 1e3)
    record("goto an arbitrary seq (cold)", gotos)
    note = f"top frame's locals stored at {with_locals} of {len(views.samples)} steps"
    record("goto + stack + top frame's variables (cold)", views, note)
    record("goto + stack + every frame's locals (cold)", everything)

    timelines = Timer(min(len(cold), 20), args.budget)
    functions = 0
    while timelines.more():
        timelines.time(get_timeline_summary, run.run_id, first, last, 500)
    stats = Timer(min(len(cold), 20), args.budget)
    while stats.more():
        functions = len(stats.time(fresh().get_execution_stats, script))
    record("timeline, 500 buckets over the whole trace (cold)", timelines)
    plural = "" if functions == 1 else "s"
    record("execution stats per function (cold)", stats, f"the script's file, call counts only; {functions} function{plural}")

    for condition in [c.strip() for c in args.conditions.split(";") if c.strip()]:
        name, value = (part.strip() for part in condition.split("=="))
        timer = Timer(5, args.budget)
        right = 0
        stops = []
        gave_up.count = 0
        while timer.more():
            s = fresh()
            s.set_breakpoints([{"file": script, "line": args.line, "condition": condition}])
            place(s, base.last_line_seq)
            t = time.perf_counter()
            stop = s.reverse_continue()
            show(s)
            timer.samples.append((time.perf_counter() - t) * 1e3)
            held = False
            if stop.get("reason") == "breakpoint" and stop.get("line") == args.line:
                frame = db.fetchone(
                    "SELECT locals_snapshot FROM executionframes WHERE run_id = ? AND sequence_no = ?",
                    (rid, stop["seq"]),
                )
                try:
                    snapshot = json.loads(frame.locals_snapshot) if frame and frame.locals_snapshot else {}
                except ValueError:
                    snapshot = {}
                held = isinstance(snapshot, dict) and str(snapshot.get(name)) == value
            right += held
            stops.append(stop.get("reason"))
        n = len(timer.samples)
        if right == n:
            note = f"stopped at line {args.line} with `{condition}`"
        elif gave_up.count:
            note = "**not found**: gave up after 10,000 hits (its limit) and went to the start"
        elif right == 0 and all(r == "start" for r in stops):
            note = "**not found**: no hit with the condition true in its locals; went to the start"
        else:
            reasons = ", ".join(sorted(set(r or "?" for r in stops)))
            note = f"**wrong stop** in {n - right} of {n} (stop reason: {reasons})"
        record(f"reverse-continue to `{condition}` + stack + top frame's variables (cold)", timer, note)

    with open(args.json, "w") as f:
        json.dump({"events": events, "torn_rows": torn, "first_seq": first, "last_seq": last, "open_ms": open_ms, "operations": operations}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
