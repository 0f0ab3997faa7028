"""Render the "query" section of BENCHMARKS.md from criterion's own output.

Usage: python benches/query_report.py CRITERION_DIR RSS_LINES SIZES > section.md

CRITERION_DIR is `$CARGO_TARGET_DIR/criterion` after `cargo bench -p pyttd-query --bench query`;
RSS_LINES is a file of the `rss query=... peak_before=... peak_after=...` lines the bench prints
in its RSS mode; SIZES the comma-separated trace sizes benchmarked. Standard library only.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from format_report import cpu_model, fmt_time, load  # noqa: E402

# (question, target per size label, [(column, criterion function)])
QUESTIONS = [
    (
        "timeline, 1000 buckets over the whole trace",
        {"10M": "≤ 50 ms", "100M": "≤ 300 ms"},
        [
            ("DataFusion", "timeline_1000_datafusion"),
            ("every event", "timeline_1000_direct"),
            ("block index", "timeline_1000_index"),
            ("SQLite", "timeline_1000_sqlite"),
        ],
    ),
    (
        "reverse breakpoint scan with a value predicate (`n == N`), end → middle",
        {"10M": "≤ 100 ms"},
        [
            ("DataFusion", "reverse_breakpoint_value_datafusion"),
            ("block index", "reverse_breakpoint_value_index"),
            ("SQLite", "reverse_breakpoint_value_sqlite"),
        ],
    ),
    (
        "execution stats per function",
        {},
        [
            ("DataFusion", "function_stats_datafusion"),
            ("every event", "function_stats_direct"),
            ("SQLite", "function_stats_sqlite"),
        ],
    ),
    (
        "opening the block index (once per trace)",
        {},
        [("block index", "index_build")],
    ),
]
COLUMNS = ["DataFusion", "every event", "block index", "SQLite"]


def median(criterion: Path, group: str, function: str) -> float | None:
    # Plain functions have no parameter directory; `load` wants one, so go one level up.
    r = load(criterion, group, function, ".")
    return r["median_ns"] if r else None


def main() -> int:
    criterion, rss_file, sizes = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    labels = [f"{int(s) // 1_000_000}M" for s in sizes.split(",")]
    out = []
    say = out.append
    say("## query (Query layer issue)")
    say("")
    say(
        f"Measured {datetime.date.today().isoformat()} on {os.cpu_count()} cores ({cpu_model()}), "
        f"{platform.system()} {platform.release()}; `cargo bench -p pyttd-query --bench query` "
        f"(criterion, release profile) on synthetic traces of {', '.join(labels)} events "
        "written through the real writer (`query/benches/common/synth.rs`); SQLite holds the "
        "same run in py-tt-debug's row schema with its indexes (`query/benches/common/sqlite.rs`). "
        "Medians. \"every event\" reads the events table; \"block index\" reads the block "
        "summaries of format 1.1 (`EventIndex`, built once per trace: last row). The ratio column "
        "is SQLite's time over pyttd's best. "
        "Regenerate with `./dev bench-query`."
    )
    say("")
    say("| question | events | target | " + " | ".join(COLUMNS) + " | SQLite ÷ best pyttd |")
    say("|---|---:|---|" + "---:|" * (len(COLUMNS) + 1))
    for question, targets, hows in QUESTIONS:
        for label in labels:
            group = f"query_{label}"
            times = {how: median(criterion, group, fn) for how, fn in hows}
            if not any(times.values()):
                continue
            ours = [t for how, t in times.items() if how != "SQLite" and t]
            best = min(ours) if ours else None
            sqlite = times.get("SQLite")
            ratio = f"{sqlite / best:,.0f}×" if sqlite and best else "—"
            cells = [fmt_time(times[c]) if times.get(c) else "—" for c in COLUMNS]
            say(f"| {question} | {label} | {targets.get(label, '—')} | " + " | ".join(cells) + f" | {ratio} |")
    rss = [line.split() for line in rss_file.read_text().splitlines() if line.startswith("rss ")]
    if rss:
        say("")
        say("Peak resident set of one timeline query (1000 buckets) in a fresh process, the trace")
        say("opened first (the mapped file's touched pages count). Target: ≤ 1 GB on 100M events.")
        say("")
        say("| query | events | peak RSS after opening | peak RSS after the query |")
        say("|---|---:|---:|---:|")
        for fields in rss:
            kv = dict(f.split("=", 1) for f in fields[1:])
            mib = lambda b: f"{int(b) / 2**20:.0f} MiB"  # noqa: E731
            say(
                f"| {kv['query']} | {int(kv['events']) // 1_000_000}M | {mib(kv['peak_before'])} "
                f"| {mib(kv['peak_after'])} |"
            )
    say("")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
