"""Fidelity: the share of line events at which a recorder's stored locals equal the real ones.

The real locals come from the settrace oracle of the test suite (`tests/python/oracle`): it runs
the script once more and reads every frame's locals with `repr()` before each line runs. A
recorder's trace is turned into the same shape, per thread a list of `Line`s, and the two are
lined up event by event:

- pyttd: locals are rebuilt from the `values` table as `tests/python/test_values.py` does (rows
  applied in seq order per call id, a `deleted` row removes the name, snapshot rows restate
  every local), and read at each `line` event.
- py-tt-debug: `executionframes.locals_snapshot` of each `line` row, a JSON object
  name -> repr (containers: an object whose `__repr__` is the repr); NULL where its sampler
  skipped the event. `__return__` and dunder names are dropped (the oracle lists a module's
  namespace without them).

A line event counts as equal when the names are the same and every value renders the same, up to
object addresses, thread states, and a common prefix where either side cut a long repr (the
oracle at 256 characters, pyttd at 256, py-tt-debug at 256 plus `...`).

    reference = oracle_recording(script, ["100"], cwd)
    score(reference, pyttd_lines(_native.read_trace(path))).share   # 1.0 when every line matches
"""

from __future__ import annotations

import difflib
import json
import re
import sqlite3
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))
import oracle  # noqa: E402  (the test suite's settrace reference recorder)

# Environment of every recorded run, so that set and dict reprs match the oracle's.
CHILD_ENV = oracle.CHILD_ENV
CAP = 256  # characters of repr() the oracle keeps
# `<Thread(w, started 1402…)>`: two runs schedule threads differently (as in test_values.py).
_THREAD_STATE = re.compile(r"(<Thread\([^,]*, )(?:initial|started|stopped)(?: daemon)?(?: \d+)?")

Value = tuple[str, bool]  # repr text, and whether it is only a prefix of the full repr
# One line event: (function qualname, line, locals; None where the recorder stored none).
Line = tuple[str, int, "dict[str, Value] | None"]


@dataclass
class Fidelity:
    """How a recorder's line events compare with the oracle's."""

    reference: int = 0  # line events at which the oracle read the locals
    aligned: int = 0  # of those, matched to a line event of the recorder (same function and line)
    with_locals: int = 0  # of those, where the recorder stored locals
    equal: int = 0  # of those, where the stored locals equal the oracle's

    @property
    def share(self) -> float:
        return self.equal / self.reference if self.reference else float("nan")

    def add(self, other: Fidelity) -> None:
        for name in ("reference", "aligned", "with_locals", "equal"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_json(self) -> dict:
        return {**asdict(self), "share": self.share}


def oracle_recording(script: Path, argv: list[str], cwd: Path) -> oracle.Recording:
    """The settrace reference run of `script argv...` in `cwd` (where the recorders run it too)."""
    return oracle.record(script, argv, cwd=cwd, timeout=600)


def reference_lines(recording: oracle.Recording) -> list[list[tuple[str, int, dict[str, str] | None]]]:
    """Per thread, the oracle's line events as (function, line, locals or None if unobserved)."""
    return [[(e.function, e.line, e.locals) for e in events if e.kind == "line"] for events in recording.threads.values()]


# -- pyttd -------------------------------------------------------------------------------------


def _render_pyttd(row: tuple) -> Value:
    """A `values` row as repr text (see `render` in tests/python/test_values.py)."""
    _seq, _call, _name, _role, _snap, tag, _type, int_value, float_value, text, truncated, _len = row
    if tag == "none":
        return "None", False
    if tag == "bool":
        return repr(bool(int_value)), False
    if tag == "int":
        return (str(int_value) if int_value is not None else text), False
    if tag == "float":
        return repr(float_value), False
    if tag == "str":
        r = repr(text)
        return (r[:-1], True) if truncated else (r, False)
    return text or "", bool(truncated)


def pyttd_lines(trace: dict) -> list[list[Line]]:
    """Per thread (in order of first event), pyttd's line events with locals rebuilt from `values`."""
    values = trace["values"]
    state: dict[int, dict[str, Value]] = {}
    threads: dict[int, list[Line]] = {}
    v = 0
    for seq, thread, kind, qualname, line, _depth, call in trace["events"]:
        while v < len(values) and values[v][0] <= seq:
            row = values[v]
            v += 1
            if row[3] != "local":
                continue
            frame = state.setdefault(row[1], {})
            if row[5] == "deleted":
                frame.pop(row[2], None)
            else:
                frame[row[2]] = _render_pyttd(row)
        lines = threads.setdefault(thread, [])
        if kind == "line":
            lines.append((qualname, line, dict(state.get(call, {}))))
    return [lines for lines in threads.values() if lines]


# -- py-tt-debug -------------------------------------------------------------------------------


def _render_py_tt_debug(value) -> Value:
    """One entry of a `locals_snapshot`: a repr, or a container object carrying `__repr__`."""
    text = value.get("__repr__", "") if isinstance(value, dict) else str(value)
    if len(text) > CAP and text.endswith("..."):
        return text[:-3], True
    return text, False


def py_tt_debug_lines(db: Path, root: Path) -> list[list[Line]]:
    """Per thread, py-tt-debug's line events of files under `root`, from its SQLite trace.

    py-tt-debug keys threads by `threading.get_ident()`, which the OS reuses once a thread has
    ended, so one `thread_id` can hold several threads one after the other; a thread's events are
    split where its outermost frame returned and a new one is called.
    """
    root_prefix = str(root.resolve()) + "/"
    threads: dict[tuple[int, int], list[Line]] = {}
    open_frames: dict[int, int] = {}
    segment: dict[int, int] = {}
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT thread_id, frame_event, function_name, line_no, locals_snapshot, filename"
            " FROM executionframes ORDER BY sequence_no"
        )
        for ident, event, function, line, snapshot, filename in rows:
            if not filename.startswith(root_prefix):
                continue
            depth = open_frames.get(ident, 0)
            if event == "call":
                if depth == 0 and ident in segment:  # a new thread under a reused ident
                    segment[ident] += 1
                segment.setdefault(ident, 0)
                open_frames[ident] = depth + 1
            elif event == "return":
                open_frames[ident] = max(depth - 1, 0)
            if event != "line":
                continue
            local_values = None
            if snapshot is not None:
                try:
                    parsed = json.loads(snapshot)
                except ValueError:
                    parsed = None
                if not isinstance(parsed, dict):
                    # Not a JSON object (seen once: two objects run together): the step's
                    # locals are shown wrong, and scored so.
                    parsed = {"<py-tt-debug snapshot is not a JSON object>": str(snapshot)[:80]}
                local_values = {
                    name: _render_py_tt_debug(value)
                    for name, value in parsed.items()
                    if not (name.startswith("__") and name.endswith("__"))
                }
            key = (ident, segment.get(ident, 0))
            threads.setdefault(key, []).append((function, line, local_values))
    return list(threads.values())


# -- comparison --------------------------------------------------------------------------------


def _normalize(text: str) -> str:
    return _THREAD_STATE.sub(r"\1STATE", oracle.normalize_addresses(text))


def _same_value(ours: Value, theirs: str) -> bool:
    text, partial = ours
    text, theirs = _normalize(text), _normalize(theirs)
    if partial or len(theirs) >= CAP:
        n = min(len(text), len(theirs))
        return text[:n] == theirs[:n]
    return text == theirs


def _same_locals(ours: dict[str, Value], theirs: dict[str, str]) -> bool:
    return ours.keys() == theirs.keys() and all(_same_value(ours[k], v) for k, v in theirs.items())


def _aligned_pairs(ref: list, ours: list) -> list[tuple[int, int]]:
    """Index pairs of line events with the same (function, line), in order."""
    a = [(f, line) for f, line, _ in ref]
    b = [(f, line) for f, line, _ in ours]
    n = min(len(a), len(b))
    if a[:n] == b[:n]:  # the common case, and a recorder that lost its tail: no diff needed
        return [(i, i) for i in range(n)]
    pairs = []
    for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        pairs.extend((block.a + k, block.b + k) for k in range(block.size))
    return pairs


def _score_thread(ref: list, ours: list) -> Fidelity:
    result = Fidelity(reference=sum(1 for *_, loc in ref if loc is not None))
    for i, j in _aligned_pairs(ref, ours):
        expected, stored = ref[i][2], ours[j][2]
        if expected is None:
            continue
        result.aligned += 1
        if stored is not None:
            result.with_locals += 1
            result.equal += _same_locals(stored, expected)
    return result


def score(recording: oracle.Recording, threads: list[list[Line]]) -> Fidelity:
    """Compares a recorder's threads with the oracle's; threads are paired greedily, best first
    (names differ between recorders, and four workers running the same code differ only in locals)."""
    refs = reference_lines(recording)
    scores = {(i, j): _score_thread(ref, ours) for i, ref in enumerate(refs) for j, ours in enumerate(threads)}
    total = Fidelity()
    used_ref: set[int] = set()
    used_ours: set[int] = set()
    for (i, j), s in sorted(scores.items(), key=lambda item: (-item[1].equal, -item[1].aligned)):
        if i in used_ref or j in used_ours:
            continue
        used_ref.add(i)
        used_ours.add(j)
        total.add(s)
    for i, ref in enumerate(refs):  # threads the recorder did not record at all
        if i not in used_ref:
            total.reference += sum(1 for *_, loc in ref if loc is not None)
    return total
