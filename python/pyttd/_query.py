"""SQL over a trace from Python: ``pyttd.open(path).sql("SELECT ...")``.

Results speak the Arrow PyCapsule stream protocol (``__arrow_c_stream__``), so
``pyarrow.table(result)``, ``polars.from_arrow(result)`` and ``duckdb`` take them without
copying; ``to_pandas()`` goes through pyarrow.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from . import _native


class QueryResult:
    """The rows of one query, as an Arrow stream."""

    def __init__(self, native: Any) -> None:
        self._native = native

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self._native.__arrow_c_stream__(requested_schema)

    @property
    def num_rows(self) -> int:
        return self._native.num_rows

    @property
    def columns(self) -> list[str]:
        return self._native.columns

    def __len__(self) -> int:
        return self._native.num_rows

    def __repr__(self) -> str:
        return repr(self._native)

    def to_arrow(self) -> Any:
        """A ``pyarrow.Table`` (needs pyarrow)."""
        try:
            import pyarrow
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("to_arrow() needs pyarrow: pip install pyarrow") from e
        return pyarrow.table(self)

    def to_pandas(self) -> Any:
        """A ``pandas.DataFrame`` (needs pyarrow and pandas)."""
        return self.to_arrow().to_pandas()

    def to_pylist(self) -> list[dict[str, Any]]:
        """The rows as dicts (needs pyarrow)."""
        return self.to_arrow().to_pylist()


class Trace:
    """A trace opened for SQL queries; see ``pyttd sql TRACE`` for the tables."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._native = _native.open_trace(self.path)

    def sql(self, query: str) -> QueryResult:
        """Runs one read-only statement. Raises ``ValueError`` for bad or writing SQL."""
        return QueryResult(self._native.sql(query))

    def attach(self, name: str, path: str | os.PathLike[str]) -> None:
        """Attaches another trace as schema ``name`` (``name.events``, ...) for cross-run
        queries. Raises ``ValueError`` for a bad or taken name, ``OSError`` for a missing
        trace."""
        self._native.attach(name, Path(path))

    def tables(self) -> dict[str, list[tuple[str, str]]]:
        """``{table: [(column, type), ...]}`` of the user-facing tables."""
        return dict(self._native.tables())

    def __repr__(self) -> str:
        return f"<pyttd Trace {str(self.path)!r}>"


def open(path: str | os.PathLike[str]) -> Trace:  # noqa: A001 - the API name is pyttd.open
    """Opens the trace at ``path`` for SQL queries. Raises ``OSError`` when it is missing or not
    a readable trace."""
    return Trace(path)
