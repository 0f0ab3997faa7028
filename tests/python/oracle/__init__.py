"""The oracle: a reference recorder on `sys.settrace`, for what pyttd's recorder must see.

`record(script)` runs a script the way `python script.py` does, in a child process of the
interpreter running this code, with `sys.settrace` (and `threading.settrace` for its threads)
watching every frame whose code comes from the script or another file under the script's
directory (never the standard library, site-packages or this package). It returns, per thread,
the ordered events with the locals of the frame at each event (at a `line` event: the state
before the line runs; module and class frames: their namespace without dunder names):

    rec = record(SCRIPTS / "module_loop.py")
    rec.line_sequence()                  # [("<module>", 1), ("<module>", 3), ("<module>", 4), ...]
    rec.locals_at("MainThread", 4)       # {"total": "0", "i": "0"}: before the 5th line event
    rec.events_of("MainThread")[-1]      # Event(kind="return", function="<module>", line=6, ...)

Event kinds are the recorder's (SPEC section 6, `events.kind`): `call`, `line`, `return`,
`exception`, `unwind`, `yield`, `resume`; how they are derived from settrace is described in
`_driver.py`. `exception_handled` never appears: settrace has no such event.

Where the oracle is not the truth (recorder/DESIGN.md, section 8) - tests must use hand-written
expectations there, and `Event.locals` is None with the reason in `Event.unobserved`:

- 3.12, module scope, while an inlined comprehension (PEP 709) runs: its variables live in
  hidden slots that only `frame.f_locals` would show, and reading `f_locals` there changes the
  program. The oracle reads module globals through `f_globals` and leaves those events
  unobserved. 3.13's `f_locals` is safe there and shows the comprehension's variables.
- 3.12, class bodies that contain an inlined comprehension: never read (same reason, and
  `f_locals` is the only way in).
- 3.13, class bodies while an inlined comprehension runs: `f_locals` is then a proxy that shows
  only the comprehension's variables, not the class namespace. (For module frames the oracle
  lays those variables over `f_globals`, which is what the recorder shows.)
- 3.13, an inlined comprehension whose variable shadows a cell or free variable of the function
  (`g = lambda: k; [k for k in xs]`): touching `f_locals` segfaults 3.13.0 (gh-128396), so
  events inside the comprehension are unobserved.

Other differences from the recorder, by design:

- Values are `repr()` cut at 256 characters, strings too (`x = "a"` is `"'a'"` here). The
  recorder stores a `str` as the string itself and cuts string reprs without splitting
  escapes; compare truncated values by prefix.
  Object addresses differ between runs: compare through `normalize_addresses`.
- The child runs with `CHILD_ENV` (fixed hash seed, so set and dict reprs of strings are
  stable); run the program under the recorder with the same environment when comparing.
- On 3.12 reading `frame.f_locals` of a function frame syncs the frame's locals dict (what
  `locals()` returns) at every event; a program that keeps `locals()` and expects it to stay
  stale sees it refreshed.
- A thread is keyed by its name at its first recorded event; a second thread with the same
  name gets `name#2`, and so on. Only threads started through `threading` are traced
  (`threading.settrace`); `_thread.start_new_thread` threads are not, and events a daemon
  thread produces after the interpreter's exit handlers ran are lost.
- `exception` events carry the exception's type name (as a traceback names it), not its
  message. `unwind` vs `yield` is a heuristic (see `_driver.py`): a `yield None` that directly
  follows an exception event of its frame, with no line event between, would read as `unwind`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = [
    "CHILD_ENV",
    "MAIN_THREAD",
    "Event",
    "OracleError",
    "Recording",
    "Unobserved",
    "normalize_addresses",
    "record",
]

MAIN_THREAD = "MainThread"

# Environment of the recorded child on top of the caller's.
CHILD_ENV = {"PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}

_DRIVER = Path(__file__).resolve().parent / "_driver.py"
_BOOTSTRAP = (
    "import importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location('_pyttd_oracle_driver', sys.argv[1])\n"
    "driver = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(driver)\n"
    "driver.main(sys.argv[2:])\n"
)
_FORMAT = "pyttd-oracle/1"
_ADDRESS = re.compile(r"\bat 0x[0-9a-fA-F]+")


class OracleError(RuntimeError):
    """The child process produced no recording (it crashed or timed out)."""


class Unobserved(LookupError):
    """The oracle did not read the locals at this event, because reading them is unsafe there."""


@dataclass(frozen=True)
class Event:
    """One settrace-derived event, in the recorder's vocabulary."""

    seq: int  # position across all threads (the order the trace functions ran)
    kind: str  # call, line, return, exception, unwind, yield, resume
    file: str  # absolute path, symlinks resolved
    function: str  # co_qualname
    line: int  # 0 for a module's call event and the line-0 event of an empty module
    depth: int  # 0 for the outermost recorded frame of the thread
    locals: dict[str, str] | None  # name -> repr, at this event; None when unobserved
    value: str | None = None  # return/yield: repr of the value; exception: the type's name
    unobserved: str | None = None  # why `locals` is None


@dataclass
class Recording:
    """What the oracle saw of one run."""

    script: str
    argv: list[str]
    python_version: str
    exit_status: int
    stdout: str
    stderr: str
    threads: dict[str, list[Event]]
    errors: list[str] = field(default_factory=list)  # failures of the oracle itself; empty

    def events_of(self, thread: str = MAIN_THREAD) -> list[Event]:
        """Every event of `thread`, in order."""
        try:
            return self.threads[thread]
        except KeyError:
            raise KeyError(f"no thread {thread!r}; recorded: {sorted(self.threads)}") from None

    def line_events(self, thread: str = MAIN_THREAD) -> list[Event]:
        """The `line` events of `thread`, in order."""
        return [e for e in self.events_of(thread) if e.kind == "line"]

    def line_sequence(self, thread: str = MAIN_THREAD) -> list[tuple[str, int]]:
        """`(function, line)` of each `line` event of `thread`."""
        return [(e.function, e.line) for e in self.line_events(thread)]

    def locals_at(self, thread: str, index: int) -> dict[str, str]:
        """Locals before the `index`-th line event of `thread` runs (the index of `line_sequence`).

        Raises `Unobserved` where the oracle could not read them safely.
        """
        event = self.line_events(thread)[index]
        if event.locals is None:
            where = f"line event {index} of {thread} ({event.function}:{event.line})"
            raise Unobserved(f"{where}: {event.unobserved}")
        return event.locals

    def to_json(self) -> str:
        data = asdict(self)
        data["format"] = _FORMAT
        data["threads"] = {name: [asdict(e) for e in evs] for name, evs in self.threads.items()}
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Recording:
        data = json.loads(text)
        if data.pop("format", None) != _FORMAT:
            raise ValueError(f"not a {_FORMAT} recording")
        data["threads"] = {name: [Event(**e) for e in evs] for name, evs in data["threads"].items()}
        return cls(**data)


def normalize_addresses(text: str) -> str:
    """`<Foo object at 0x7f3a...>` -> `<Foo object at 0x...>`, for comparing reprs across runs."""
    return _ADDRESS.sub("at 0x...", text)


def record(
    script_path: str | os.PathLike[str],
    argv: tuple[str, ...] | list[str] = (),
    *,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
) -> Recording:
    """Run `script_path` with `argv` under the oracle in a child process and return what it saw.

    The child is `sys.executable`; the program's stdout, stderr and exit status are kept in the
    recording. Raises `OracleError` when the child wrote no recording (it crashed).
    """
    script = Path(script_path).resolve()
    argv = [str(a) for a in argv]
    with tempfile.TemporaryDirectory(prefix="pyttd-oracle-") as tmp:
        out = Path(tmp) / "recording.json"
        command = [sys.executable, "-c", _BOOTSTRAP, str(_DRIVER), str(out), str(script), *argv]
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            env={**os.environ, **CHILD_ENV},
        )
        if not out.exists():
            raise OracleError(
                f"the oracle wrote no recording for {script.name} (exit status {proc.returncode})\n"
                f"stderr:\n{proc.stderr}"
            )
        data = json.loads(out.read_text(encoding="utf-8"))
    threads: dict[str, list[Event]] = {}
    for thread in data["threads"]:
        name, n = thread["name"], 1
        while name in threads:
            n += 1
            name = f"{thread['name']}#{n}"
        threads[name] = [Event(**e) for e in thread["events"]]
    return Recording(
        script=str(script),
        argv=argv,
        python_version=data["python_version"],
        exit_status=proc.returncode,
        stdout=proc.stdout,
        stderr=proc.stderr,
        threads=threads,
        errors=data["errors"],
    )
