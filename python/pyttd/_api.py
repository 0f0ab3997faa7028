"""Recording from inside a program: ``start_recording``/``stop_recording``, ``recording()``,
``@ttdbg``, ``arm``/``disarm`` and a signal toggle.

A recording started here records the code in files under ``root`` (default: the directory of
the ``__main__`` script, else the current directory; never the standard library, site-packages
or pyttd itself), like ``pyttd record`` does. The frames already running on the calling thread
are its starting context: each recorded one opens with a ``call`` event at the line it is
executing, so what follows nests as it does in the program. Other threads join at their next
event. Text written to ``sys.stdout``/``sys.stderr`` is stored while recording.
"""

import contextlib
import functools
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from pyttd import _capture, _native

_PACKAGE_DIR = str(Path(__file__).resolve().parent)


@dataclass(frozen=True)
class RecordingStats:
    """What a finished recording wrote."""

    path: Path
    events: int
    bytes: int
    flushes: int
    #: Time the program's threads waited for the flush thread (backpressure; nothing is dropped).
    stall_seconds: float
    elapsed_seconds: float


def _main_script() -> Path | None:
    main = sys.modules.get("__main__")
    file = getattr(main, "__file__", None)
    return Path(file).resolve() if file else None


def _default_path() -> Path:
    script = _main_script()
    return Path(f"{script.stem if script else 'python'}.pyttd")


def start_recording(
    path: str | os.PathLike[str] | None = None,
    *,
    root: str | os.PathLike[str] | None = None,
    include: tuple[str, ...] | list[str] = (),
    exclude: tuple[str, ...] | list[str] = (),
    include_files: tuple[str, ...] | list[str] = (),
    exclude_files: tuple[str, ...] | list[str] = (),
    redact: bool = True,
    secret_patterns: tuple[str, ...] | list[str] = (),
    max_events: int | None = None,
    expand_depth: int = 1,
    expand_width: int = 32,
) -> Path:
    """Start recording this process into ``path`` (default: ``<main script name>.pyttd`` in the
    current directory; an existing file is replaced) and return the path.

    ``include``/``exclude`` are function-name globs, ``include_files``/``exclude_files`` path
    globs, ``redact``/``secret_patterns``/``max_events``/``expand_depth``/``expand_width`` as for
    ``pyttd record``. Raises
    ``RuntimeError`` if a recording is already running, ``ValueError`` for a bad pattern,
    ``OSError`` if the trace cannot be created.
    """
    target = Path(path) if path is not None else _default_path()
    if root is None:
        script = _main_script()
        root = script.parent if script else Path.cwd()
    script = _main_script()
    _native.start_recording(
        target,
        str(script) if script else (sys.argv[0] if sys.argv and sys.argv[0] else "<python>"),
        Path(root),
        [_PACKAGE_DIR],
        list(include),
        list(exclude),
        list(include_files),
        list(exclude_files),
        redact,
        list(secret_patterns),
        max_events,
        expand_depth,
        expand_width,
    )
    _capture.install()
    return target


def stop_recording() -> RecordingStats | None:
    """Stop the running recording, finish its trace and return what it wrote (``None`` when no
    recording is running)."""
    _capture.uninstall()
    stats = _native.stop_recording()
    if stats is None:
        return None
    return RecordingStats(
        path=Path(stats["path"]),
        events=stats["events"],
        bytes=stats["bytes"],
        flushes=stats["flushes"],
        stall_seconds=stats["stall_seconds"],
        elapsed_seconds=stats["elapsed_seconds"],
    )


def is_recording() -> bool:
    """Whether a recording started from this API is running."""
    return _native.is_recording()


class recording(contextlib.AbstractContextManager):
    """``with pyttd.recording("run.pyttd") as rec: ...`` records the block; afterwards
    ``rec.stats`` holds the :class:`RecordingStats`. Takes ``start_recording``'s arguments."""

    def __init__(self, path: str | os.PathLike[str] | None = None, **options) -> None:
        self._path = path
        self._options = options
        self.stats: RecordingStats | None = None

    def __enter__(self) -> "recording":
        start_recording(self._path, **self._options)
        return self

    def __exit__(self, *exc) -> None:
        self.stats = stop_recording()


def ttdbg(func=None, /, *, path: str | os.PathLike[str] | None = None, **options):
    """Decorator: record each call of the function (and what it calls in recorded files) into
    ``path`` (default: ``<function qualname>.pyttd`` in the current directory; every call
    replaces it). Inside a running recording the function just runs.

    Use as ``@pyttd.ttdbg`` or ``@pyttd.ttdbg(path="f.pyttd", max_events=10_000)``.
    """

    def decorate(f):
        target = path if path is not None else f"{f.__qualname__.replace('<', '').replace('>', '')}.pyttd"

        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            if is_recording():
                return f(*args, **kwargs)
            start_recording(target, **options)
            try:
                return f(*args, **kwargs)
            finally:
                stop_recording()

        return wrapper

    return decorate(func) if func is not None else decorate


def arm(path: str | os.PathLike[str] | None = None, **options) -> bool:
    """Start recording now if no recording runs (the current stack is its starting context);
    ``False`` when one already was. Takes ``start_recording``'s arguments."""
    if is_recording():
        return False
    start_recording(path, **options)
    return True


def disarm() -> RecordingStats | None:
    """Stop the recording ``arm`` started (``None`` if none runs)."""
    return stop_recording()


def toggle_on_signal(
    signum: int = signal.SIGUSR1, path: str | os.PathLike[str] | None = None, **options
) -> None:
    """Install a handler so that each ``signum`` (default ``SIGUSR1``) arms or disarms the
    recording; a line on stderr says which. Call from the main thread (Python's rule for
    signal handlers)."""

    def handler(_signum, _frame):
        if is_recording():
            stats = disarm()
            if stats is not None:
                sys.__stderr__.write(f"pyttd: recorded {stats.events} events to {stats.path}\n")
        else:
            target = start_recording(path, **options)
            sys.__stderr__.write(f"pyttd: recording to {target}\n")

    signal.signal(signum, handler)
