"""Capture of ``sys.stdout``/``sys.stderr`` while ``pyttd record`` runs a program.

Each stream is replaced by a thin proxy that passes every ``write()`` on to the original stream at
once (so the user sees the same bytes, with the same encoding, errors handler, buffering and
flushing), and then stores the text in the trace's ``output`` table. Everything else (``flush``,
``fileno``, ``isatty``, ``encoding``, ``buffer``...) is the original stream's.

Not captured: bytes written to ``sys.stdout.buffer`` (or to file descriptors 1 and 2 directly),
and writes to a stream the program installed itself. ``sys.stdout is sys.__stdout__`` is false
while recording.
"""

import os
import sys

from pyttd import _native
from pyttd._native import record_output

STDOUT = 1
STDERR = 2


def _store(stream: int, text: str) -> None:
    try:
        record_output(stream, text)
    except UnicodeEncodeError:
        # Lone surrogates (a ``surrogateescape`` stream): stored with replacement characters.
        record_output(stream, text.encode("utf-8", "replace").decode("utf-8"))
    except Exception:
        pass


class _Tee:
    """Forwards to the original stream; what was written also goes to the trace."""

    __slots__ = ("_pyttd_stream", "_pyttd_code")

    def __init__(self, stream, code: int) -> None:
        object.__setattr__(self, "_pyttd_stream", stream)
        object.__setattr__(self, "_pyttd_code", code)

    def write(self, text):
        n = self._pyttd_stream.write(text)
        if isinstance(text, str):
            _store(self._pyttd_code, text)
        return n

    def writelines(self, lines):
        lines = list(lines)
        self._pyttd_stream.writelines(lines)
        for line in lines:
            if isinstance(line, str):
                _store(self._pyttd_code, line)

    def __getattr__(self, name):
        return getattr(self._pyttd_stream, name)

    def __setattr__(self, name, value):
        setattr(self._pyttd_stream, name, value)

    def __iter__(self):
        return iter(self._pyttd_stream)

    def __enter__(self):
        return self._pyttd_stream.__enter__()

    def __exit__(self, *exc):
        return self._pyttd_stream.__exit__(*exc)


_real_exit = os._exit


def _exit(status):
    """``os._exit`` while recording: finish the trace first (no Python cleanup runs after it)."""
    try:
        _native.exit_hook(int(status))
    except Exception:
        pass
    _real_exit(status)


def install() -> None:
    """Puts the proxies in place (streams that are ``None`` are left alone), and the ``os._exit``
    hook."""
    os._exit = _exit
    if sys.stdout is not None and not isinstance(sys.stdout, _Tee):
        sys.stdout = _Tee(sys.stdout, STDOUT)
    if sys.stderr is not None and not isinstance(sys.stderr, _Tee):
        sys.stderr = _Tee(sys.stderr, STDERR)


def uninstall() -> None:
    """Restores the original streams, unless the program replaced them since, and ``os._exit``."""
    if os._exit is _exit:
        os._exit = _real_exit
    if isinstance(sys.stdout, _Tee):
        sys.stdout = sys.stdout._pyttd_stream
    if isinstance(sys.stderr, _Tee):
        sys.stderr = sys.stderr._pyttd_stream
