"""pyttd: a time-travel debugger for Python.

Record every step a program takes, then query and replay it. The work happens in the native
module ``pyttd._native`` (Rust); this package is the thin Python face of it.

Recording from inside a program::

    import pyttd

    with pyttd.recording("run.pyttd") as rec:
        work()
    print(rec.stats.events)

or ``pyttd.start_recording(path)`` / ``pyttd.stop_recording()``, ``@pyttd.ttdbg``,
``pyttd.arm()`` / ``pyttd.disarm()`` and ``pyttd.toggle_on_signal()``.

Querying a trace::

    t = pyttd.open("run.pyttd")
    df = t.sql("SELECT function, count(*) AS n FROM calls GROUP BY 1").to_pandas()
"""

from pyttd._api import (
    RecordingStats,
    arm,
    disarm,
    is_recording,
    recording,
    start_recording,
    stop_recording,
    toggle_on_signal,
    ttdbg,
)
from pyttd._native import __version__
from pyttd._query import QueryResult, Trace, open

__all__ = [
    "QueryResult",
    "RecordingStats",
    "Trace",
    "__version__",
    "arm",
    "disarm",
    "is_recording",
    "open",
    "recording",
    "start_recording",
    "stop_recording",
    "toggle_on_signal",
    "ttdbg",
]
