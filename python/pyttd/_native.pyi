"""Native core of pyttd (Rust). Use the ``pyttd`` package rather than importing this directly."""

from collections.abc import Sequence
from os import PathLike
from typing import Any

__version__: str

def main(argv: Sequence[str]) -> int:
    """Run the pyttd command line with ``argv`` (program name first) and return its exit code."""

def read_trace(path: str | PathLike[str]) -> dict[str, Any]:
    """Every row of a trace the end-to-end tests check, as plain tuples (a test helper, not a stable API).

    Keys: ``state`` (``"complete"`` or ``"recovered"``), ``run`` (``(state, exit_status, event_count)``
    of the last run row), ``settings`` (the last run row's settings JSON), ``code``, ``threads``,
    ``calls``, ``events``, ``values``, ``exceptions`` and ``output`` (``(seq, thread_id, stream, text)``).
    """

def record_output(stream: int, text: str) -> None:
    """Store text written to ``sys.stdout`` (1) or ``sys.stderr`` (2) in the running recording."""

def read_events(path: str | PathLike[str]) -> list[tuple[int, int, str, str, int, int, int]]:
    """``(seq, thread_id, kind, qualname, line, depth, call_id)`` per event (a test helper)."""

def planned_repr(obj: object) -> str | None:
    """The text the recorder builds for ``repr(obj)`` without running it (a ``__repr__`` that is one
    f-string of the object's attributes), or ``None`` when recording runs ``repr()`` (a test helper)."""

def file_repr(obj: object) -> str | None:
    """The text the recorder builds for ``repr(obj)`` of a file object ``open()`` returned, or
    ``None`` when recording runs ``repr()`` (a test helper)."""

def start_recording(
    path: str | PathLike[str],
    script: str,
    root: str | PathLike[str],
    exclude_dirs: Sequence[str | PathLike[str]],
    include: Sequence[str],
    exclude: Sequence[str],
    include_files: Sequence[str],
    exclude_files: Sequence[str],
    redact: bool,
    secret_patterns: Sequence[str],
    max_events: int | None,
    expand_depth: int = 1,
    expand_width: int = 32,
) -> None:
    """Start recording this process into ``path`` (use ``pyttd.start_recording``)."""

def stop_recording() -> dict[str, Any] | None:
    """Stop the running API recording and finish its trace; ``None`` if none runs."""

def is_recording() -> bool:
    """Whether an API recording is running."""

def exit_hook(code: int) -> None:
    """Finish the running recording with exit status ``code`` (``os._exit`` while recording)."""

def after_fork_in_child() -> None:
    """Stop recording in a forked child (registered with ``os.register_at_fork``)."""

class QueryResult:
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
    @property
    def num_rows(self) -> int: ...
    @property
    def columns(self) -> list[str]: ...
    def __len__(self) -> int: ...

class Trace:
    def sql(self, query: str) -> QueryResult: ...
    def tables(self) -> list[tuple[str, list[tuple[str, str]]]]: ...
    def attach(self, name: str, path: str | PathLike[str]) -> None: ...

def open_trace(path: str | PathLike[str]) -> Trace: ...
