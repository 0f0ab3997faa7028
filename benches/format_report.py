"""Render the "format" section of BENCHMARKS.md from criterion's own output.

Usage: python benches/format_report.py CRITERION_DIR FOOTPRINT_TABLE > section.md

CRITERION_DIR is `$CARGO_TARGET_DIR/criterion` after `cargo bench -p pyttd-format --bench format`;
FOOTPRINT_TABLE is the Markdown table printed by the `footprint` example. Only the standard
library is used, so it runs with any Python 3.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path


def load(criterion: Path, group: str, function: str, value: str) -> dict | None:
    base = criterion / group / function / value / "new"
    try:
        estimates = json.loads((base / "estimates.json").read_text())
        meta = json.loads((base / "benchmark.json").read_text())
    except FileNotFoundError:
        return None
    median = estimates["median"]
    return {
        "median_ns": median["point_estimate"],
        "lo_ns": median["confidence_interval"]["lower_bound"],
        "hi_ns": median["confidence_interval"]["upper_bound"],
        "elements": (meta.get("throughput") or {}).get("Elements"),
    }


def fmt_time(ns: float) -> str:
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} µs"
    if ns < 1e9:
        return f"{ns / 1e6:.1f} ms"
    return f"{ns / 1e9:.2f} s"


def rate(r: dict) -> float:
    """Elements per second at the median."""
    return r["elements"] / (r["median_ns"] / 1e9)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> int:
    criterion, footprint = Path(sys.argv[1]), Path(sys.argv[2])
    codecs = ["none", "lz4", "zstd1"]
    out = []
    say = out.append
    say("## format (Foundation issue)")
    say("")
    say(
        f"Measured {datetime.date.today().isoformat()} on {os.cpu_count()} cores ({cpu_model()}), "
        f"{platform.system()} {platform.release()}; `cargo bench -p pyttd-format --bench format` "
        "(criterion, release profile) and "
        "`cargo run --release -p pyttd-format --example footprint`. Regenerate with `./dev bench-format`."
    )
    say("")
    say("| measurement | target | " + " | ".join(codecs) + " |")
    say("|---|---|" + "---:|" * len(codecs))

    def row(label: str, target: str, cells: list[str]) -> None:
        say(f"| {label} | {target} | " + " | ".join(cells) + " |")

    append = [load(criterion, "append", "events", c) for c in codecs]
    row(
        "append synthetic events, one core",
        "≥ 20 M events/s",
        [f"{rate(r) / 1e6:.1f} M/s" if r else "—" for r in append],
    )
    for label, fn, target in [
        ("event by seq, warm (1M-event window of a 10M trace)", "warm_1M_window", "≤ 2 µs median"),
        ("event by seq, anywhere in a 10M trace (cold segment)", "random_10M", "—"),
    ]:
        cells = [load(criterion, "event_at", fn, c) for c in codecs]
        row(label, target, [fmt_time(r["median_ns"]) if r else "—" for r in cells])
    scans = [load(criterion, "scan", "seq_line_depth", c) for c in codecs]
    row(
        "scan seq+line+depth of 10M events, one core",
        "≥ 200 M rows/s",
        [f"{rate(r) / 1e6:.0f} M rows/s" if r else "—" for r in scans],
    )
    scans2 = [load(criterion, "scan_2_threads", "seq_line_depth", c) for c in codecs]
    if any(scans2):
        row(
            "scan seq+line+depth of 10M events, two threads",
            "≥ 200 M rows/s",
            [f"{rate(r) / 1e6:.0f} M rows/s" if r else "—" for r in scans2],
        )
    say("")
    say("On-disk size of a realistic mix (calls, lines each changing an int local, returns), bytes per")
    say("event in total and by table. Target: ≤ 16 bytes/event.")
    say("")
    say(footprint.read_text().strip())
    say("")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
