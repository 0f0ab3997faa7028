"""Child-process half of the oracle: run one script under `sys.settrace`, write what it saw as JSON.

`oracle.record` starts `python -c` with a bootstrap that loads this file by path (it is not
imported as part of the `oracle` package, so the recorded program sees no `oracle` module) and
calls `main([out_json, script, *argv])`. The script then runs as `python script.py` would run
it: `runpy.run_path(script, run_name="__main__")`, `sys.argv = [script, *argv]`,
`sys.path[0]` = the script's directory, an uncaught exception printed by `sys.excepthook` from
the script's first frame on and exit status 1, `sys.exit(n)` exiting with `n`. The JSON is
written by an `atexit` handler registered before the script runs, so it runs after the
interpreter has joined non-daemon threads and after the script's own `atexit` handlers (which are
recorded).

Event mapping (the "P-events" rules of recorder/DESIGN.md section 3.3, on top of settrace):

- settrace `call` is `call` for a frame starting and `resume` for a generator or coroutine frame
  continuing, told apart by the instruction at `f_lasti`: a frame resumes at its `YIELD_VALUE`
  (3.12, for `throw`/`close`) or at the `RESUME` after it (oparg & 3 != 0: after yield,
  yield from, await; 3.12 `send`/`next` and every 3.13 resumption). A fresh frame is at its
  first `RESUME` (oparg 0), or at offset 0 (3.12 `RETURN_GENERATOR`) / 2 (3.13) for a throw
  into an unstarted generator.
- settrace `return` is `return` at `RETURN_VALUE`/`RETURN_CONST`; `unwind` when an exception
  is pending (the frame's previous event was an `exception` event that is not a
  `StopIteration` at the end of a `for`/`yield from`, and the value is `None`); `yield` at a
  suspension point (as above); `unwind` anywhere else (`RERAISE` after a `finally`, the
  raising instruction).
- settrace `exception` (RAISE and STOP_ITERATION) is `exception`; `line` is `line` (settrace
  repeats it on a backward jump within one line, as the recorder's JUMP rule does).
- There is no `exception_handled`: settrace has no such event.

Values: the frame's locals are rendered with `repr()` at every event (SPEC section 6: at a
`line` event they are the state before the line runs). Module and class frames list their
namespace without dunder names. See `_read_locals` for the frames this oracle refuses to read.
"""

import _thread
import atexit
import dis
import itertools
import json
import os
import runpy
import sys
import sysconfig
import threading

# Characters of `repr()` kept, as the recorder's default text bound (SPEC section 6, "Values").
# The recorder cuts differently for `str` values: it stores the string itself (tag `str`), and
# when it renders a repr it never splits an escape sequence and reads at most 256 characters of
# the string (recorder/src/repr.rs, "Truncation"). This oracle simply keeps `repr(v)[:256]`, so
# compare long strings and truncated reprs by prefix, not for equality.
REPR_LIMIT = 256

_PY312 = sys.version_info[:2] == (3, 12)
_PY313 = sys.version_info[:2] == (3, 13)
_CO_OPTIMIZED = 0x1

_OP = dis.opmap
_YIELD_VALUE = _OP["YIELD_VALUE"]
_RESUME = _OP["RESUME"]
_RETURNS = frozenset({_OP["RETURN_VALUE"], _OP["RETURN_CONST"]})
# Where settrace reports the StopIteration that ends a `for` over a generator or a `yield from`
# (STOP_ITERATION events): not an exception in flight, the frame carries on.
_STOP_ITERATION_SITES = frozenset(_OP[name] for name in ("FOR_ITER", "END_FOR", "SEND", "END_SEND"))
# Instructions that end an inlined comprehension after its loop: pop the iterator, store the
# result, restore the saved values of the comprehension's variables.
_COMPREHENSION_EXIT = frozenset(
    {"END_FOR", "POP_TOP", "SWAP", "STORE_FAST", "STORE_FAST_STORE_FAST", "STORE_FAST_MAYBE_NULL"}
    | {"STORE_NAME", "STORE_GLOBAL", "STORE_DEREF"}
)


# Why `Event.locals` is missing (recorder/DESIGN.md 2.4, 2.5, 8); see _CodeInfo._find_unsafe.
_UNSAFE_312_MODULE = "3.12: inside a module-level inlined comprehension (hidden slots)"
_UNSAFE_312_CLASS = "3.12: class body with an inlined comprehension (f_locals would corrupt it)"
_UNSAFE_313_CLASS = "3.13: inside a class-body inlined comprehension (f_locals hides the namespace)"
_UNSAFE_313_CELL = "3.13: inside an inlined comprehension shadowing a cell (f_locals segfaults)"


def render(value):
    """`repr(value)` cut at `REPR_LIMIT` characters; a failing repr as the recorder writes it."""
    try:
        text = repr(value)
    except BaseException as exc:  # the recorder clears whatever repr() raised
        return f"<repr failed: {type(exc).__name__}>"
    return text[:REPR_LIMIT]


def exception_type_name(exc_type):
    """The type as a traceback names it: `ValueError`, `json.decoder.JSONDecodeError`."""
    module, qualname = exc_type.__module__, exc_type.__qualname__
    return qualname if module in ("builtins", "__main__") else f"{module}.{qualname}"


class _CodeInfo:
    """What the oracle needs to know about one code object, computed once."""

    __slots__ = ("recorded", "file", "optimized", "module", "ops", "regions", "never")

    def __init__(self, code, recorded, file):
        self.recorded = recorded
        self.file = file
        self.optimized = bool(code.co_flags & _CO_OPTIMIZED)
        self.module = not self.optimized and code.co_name == "<module>"
        self.ops = code.co_code if recorded else b""
        # (start, end, reason): byte-offset ranges where the locals are not read.
        self.regions = []
        # A reason when the locals of this code are never read.
        self.never = None
        if recorded:
            self._find_unsafe(code)

    def _find_unsafe(self, code):
        hidden = [] if self.optimized else _comprehension_regions(code, lambda name: True)
        if _PY312 and hidden:
            # PEP 709 at module or class scope on 3.12: `frame.f_locals` copies the hidden
            # comprehension slots into the namespace and back (gh-108732 family) and changes
            # the program: `zs = [y for y in range(2)]` after a global `y = "outer"` gave
            # ['outer', 'outer'], with "RuntimeWarning: assigning None to unbound local". Module
            # frames are read through `f_globals` instead, which is exact except while a
            # comprehension runs (its variables are in hidden slots then); class bodies have no
            # other way in.
            if self.module:
                reason = _UNSAFE_312_MODULE
                self.regions += [(start, end, reason) for start, end in hidden]
            else:
                self.never = _UNSAFE_312_CLASS
        if _PY313 and hidden and not self.module:
            # While a hidden slot is bound, 3.13's `f_locals` of a class body is a proxy that shows
            # only the hidden variables, not the class namespace.
            reason = _UNSAFE_313_CLASS
            self.regions += [(start, end, reason) for start, end in hidden]
        if _PY313:
            # 3.13.0: touching `f_locals` while an inlined comprehension's variable shadows a
            # cell or free variable segfaults (CPython gh-128396). Applied to every 3.13 release:
            # which patch release has the fix was not checked.
            cells = set(code.co_cellvars) | set(code.co_freevars)
            if cells:
                reason = _UNSAFE_313_CELL
                shadowing = _comprehension_regions(code, cells.__contains__)
                self.regions += [(start, end, reason) for start, end in shadowing]


def _comprehension_regions(code, shadows):
    """Byte ranges of `code`'s inlined comprehensions (PEP 709) that bind a name `shadows` accepts.

    A region runs from the `LOAD_FAST_AND_CLEAR` that saves the variable to the instructions after
    the comprehension's outer loop that restore it. When the loop cannot be found (an async
    comprehension has no `FOR_ITER`), the region runs to the end of the code: unobserved is safe.
    """
    instructions = list(dis.get_instructions(code))
    last = instructions[-1].offset if instructions else 0
    regions = []
    for index, instruction in enumerate(instructions):
        if instruction.opname != "LOAD_FAST_AND_CLEAR" or not shadows(instruction.argval):
            continue
        end = last
        loop = next((i for i in instructions[index + 1 :] if i.opname == "FOR_ITER"), None)
        if loop is not None:
            after = [i for i in instructions if i.offset >= loop.argval]
            end = after[0].offset if after else last
            for follower in after[1:]:
                if follower.opname not in _COMPREHENSION_EXIT:
                    break
                end = follower.offset
        regions.append((instruction.offset, end))
    return regions


class _Recorder:
    """The trace functions and everything they collect; one per child process."""

    def __init__(self, script):
        self.script = script
        self.root = os.path.dirname(script) + os.sep
        oracle_dir = os.path.dirname(os.path.realpath(__file__))
        library = {sysconfig.get_path(n) for n in ("stdlib", "platstdlib", "purelib", "platlib")}
        self.excluded = tuple(os.path.realpath(p) + os.sep for p in library | {oracle_dir} if p)
        self.files = {}
        self.codes = {}
        self.local = threading.local()
        self.threads = []
        self.errors = []
        self.seq = itertools.count()

    # -- what is recorded -------------------------------------------------------------------

    def _file_of(self, filename):
        """The absolute path of `filename` when it is recorded, else None."""
        try:
            return self.files[filename]
        except KeyError:
            pass
        path = None
        if not filename.startswith("<"):
            real = os.path.realpath(filename)
            inside = real.startswith(self.root) and not real.startswith(self.excluded)
            if real == self.script or inside:
                path = real
        self.files[filename] = path
        return path

    def _info(self, code):
        info = self.codes.get(code)
        if info is None:
            file = self._file_of(code.co_filename)
            info = self.codes[code] = _CodeInfo(code, file is not None, file)
        return info

    def _thread(self):
        try:
            return self.local.state
        except AttributeError:
            ident = _thread.get_ident()
            # Not threading.current_thread(): it would create a _DummyThread for foreign threads.
            thread = threading._active.get(ident)
            name = thread.name if thread is not None else f"<thread {ident}>"
            state = self.local.state = {"name": name, "events": [], "stack": []}
            self.threads.append(state)
            return state

    # -- trace functions ----------------------------------------------------------------------

    def global_trace(self, frame, event, arg):
        try:
            info = self._info(frame.f_code)
            if not info.recorded:
                return None
            self._event(frame, event, arg, info)
        except BaseException as exc:  # never disturb the program
            self._failed(frame, event, exc)
            return None
        return self.local_trace

    def local_trace(self, frame, event, arg):
        try:
            self._event(frame, event, arg, self._info(frame.f_code))
        except BaseException as exc:  # never disturb the program
            self._failed(frame, event, exc)
        return self.local_trace

    def _failed(self, frame, event, exc):
        try:
            where = f"{frame.f_code.co_qualname}:{frame.f_lineno}"
        except BaseException:
            where = "?"
        self.errors.append(f"{event} at {where}: {type(exc).__name__}: {exc}")

    def _event(self, frame, event, arg, info):
        state = self._thread()
        stack = state["stack"]
        lasti = frame.f_lasti
        value = None
        if event == "call":
            kind = "resume" if self._at_suspension(info, lasti) else "call"
            depth = len(stack)
            line = frame.f_lineno or 0
            stack.append([frame, line, False])
        else:
            depth = self._depth_of(frame, stack)
            entry = stack[depth]
            line = frame.f_lineno
            if line is None:  # an instruction without a line (cleanup code): the last one seen
                line = entry[1]
            entry[1] = line
            if event == "line":
                kind = "line"
                entry[2] = False
            elif event == "exception":
                kind = "exception"
                value = exception_type_name(arg[0])
                entry[2] = lasti < 0 or info.ops[lasti] not in _STOP_ITERATION_SITES
            elif event == "return":
                op = info.ops[lasti] if lasti >= 0 else None
                if op in _RETURNS:
                    kind = "return"
                elif arg is None and entry[2]:
                    kind = "unwind"
                elif self._at_suspension(info, lasti):
                    kind = "yield"
                else:
                    kind = "unwind"
                if kind != "unwind":
                    value = render(arg)
                del stack[depth:]
            else:  # "opcode" events are never enabled
                return
        local_values, unobserved = self._read_locals(frame, info, lasti)
        state["events"].append(
            {
                "seq": next(self.seq),
                "kind": kind,
                "file": info.file,
                "function": frame.f_code.co_qualname,
                "line": line,
                "depth": depth,
                "locals": local_values,
                "value": value,
                "unobserved": unobserved,
            }
        )

    @staticmethod
    def _at_suspension(info, lasti):
        """Whether `lasti` is where a generator or coroutine frame suspends and resumes."""
        if lasti < 0:
            return False
        op = info.ops[lasti]
        return op == _YIELD_VALUE or (op == _RESUME and info.ops[lasti + 1] & 3 != 0)

    def _depth_of(self, frame, stack):
        """Index of `frame` on the thread's stack of recorded frames (top first)."""
        for index in range(len(stack) - 1, -1, -1):
            if stack[index][0] is frame:
                if index != len(stack) - 1:
                    dropped = len(stack) - 1 - index
                    where = frame.f_code.co_qualname
                    self.errors.append(f"stack resync at {where}: dropped {dropped}")
                    del stack[index + 1 :]
                return index
        self.errors.append(f"event in a frame never seen starting: {frame.f_code.co_qualname}")
        stack.append([frame, frame.f_lineno or 0, False])
        return len(stack) - 1

    @staticmethod
    def _read_locals(frame, info, lasti):
        """`(names -> rendered values, None)`, or `(None, reason)` where reading is unsafe."""
        if info.never is not None:
            return None, info.never
        for start, end, reason in info.regions:
            if start <= lasti <= end:
                return None, reason
        # Copies first (list(...)): a __repr__ may assign names while we render.
        if info.optimized:
            items = list(frame.f_locals.items())
        elif info.module:
            # The module's globals, with the comprehension variables bound in hidden slots laid
            # over them (what the recorder shows). On 3.13 `f_locals` is the globals dict itself,
            # or, while such a slot is bound, a proxy that shows only the hidden variables. On
            # 3.12 `f_locals` is not touched (see _CodeInfo).
            namespace = dict(frame.f_globals)
            if _PY313:
                view = frame.f_locals
                if view is not frame.f_globals:
                    namespace.update(list(view.items()))
            items = namespace.items()
        else:
            items = list(frame.f_locals.items())
        if not info.optimized:
            items = [(k, v) for k, v in items if not (k.startswith("__") and k.endswith("__"))]
        return {name: render(value) for name, value in items}, None

    # -- output -------------------------------------------------------------------------------

    def dump(self, path):
        sys.settrace(None)
        threading.settrace(None)
        threads = [{"name": t["name"], "events": list(t["events"])} for t in self.threads]
        data = {
            "format": "pyttd-oracle/1",
            "python_version": "%d.%d.%d" % sys.version_info[:3],
            "threads": threads,
            "errors": list(self.errors),
        }
        with open(path, "w", encoding="utf-8") as out:
            json.dump(data, out)


def main(args):
    out_path, script, *argv = args
    script = os.path.realpath(script)
    sys.argv = [script, *argv]
    sys.path[0] = os.path.dirname(script)
    recorder = _Recorder(script)
    atexit.register(recorder.dump, out_path)
    threading.settrace(recorder.global_trace)
    sys.settrace(recorder.global_trace)
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit:
        raise
    except Exception as exc:  # as `python script.py`: traceback from the script's frame, status 1
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != script:
            tb = tb.tb_next
        if tb is not None:
            exc.__traceback__ = tb  # the default hook prints the exception's own traceback
        sys.excepthook(type(exc), exc, exc.__traceback__)
        raise SystemExit(1) from None
