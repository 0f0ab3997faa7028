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

import atexit as _atexit
import os as _os
from pyttd import _native
from pyttd._native import __version__

# `typing.TYPE_CHECKING` without importing typing (type checkers read the name as theirs).
TYPE_CHECKING = False
if TYPE_CHECKING:
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
    from pyttd._query import QueryResult, Trace, open

# Imported on first use (PEP 562): `pyttd record` imports this package, and their imports
# (dataclasses, inspect, pathlib, typing, ...) were two thirds of its start-up time, spent before
# the program runs, and modules the program would find loaded.
_API_NAMES = (
    "RecordingStats",
    "arm",
    "disarm",
    "is_recording",
    "recording",
    "start_recording",
    "stop_recording",
    "toggle_on_signal",
    "ttdbg",
)
_QUERY_NAMES = ("QueryResult", "Trace", "open")
_LAZY = {
    **dict.fromkeys(_API_NAMES, "pyttd._api"),
    **dict.fromkeys(_QUERY_NAMES, "pyttd._query"),
}

__all__ = ["__version__", *_API_NAMES, *_QUERY_NAMES]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pyttd' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


# A forked child does not record (the parent's flush thread is not in the child).
_os.register_at_fork(after_in_child=_native.after_fork_in_child)


@_atexit.register
def _finish_at_exit() -> None:
    # A recording started from the API and still running when the interpreter exits is finished,
    # not left unclosed. Registered when pyttd is imported, so it runs after the program's own
    # exit handlers (which are then recorded).
    if _native.is_recording():
        from pyttd._api import stop_recording

        stop_recording()
