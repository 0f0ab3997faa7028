"""`pyttd dap`: scripted Debug Adapter Protocol sessions with the installed server over real
recordings of tests/python/scripts/dap_*.py.

Each script is recorded once per module. Expected lines and values below are those of the scripts
(whose line numbers are kept stable for these tests). Every message exchanged is validated against
the DAP JSON schema by the client (tests/python/dap_client.py).
"""

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import PYTTD_SCRIPT
from dap_client import DapClient, start_listening

SCRIPTS = Path(__file__).resolve().parent / "scripts"
BASIC = SCRIPTS / "dap_basic.py"
EXCEPTIONS = SCRIPTS / "dap_exceptions.py"
THREADS = SCRIPTS / "dap_threads.py"
DATA = SCRIPTS / "dap_data.py"
SHARED = SCRIPTS / "dap_shared.py"

# The exit status of each script (dap_exceptions ends with an uncaught KeyError).
UNCAUGHT_WITH = SCRIPTS / "dap_uncaught_with.py"
CONDITIONS = SCRIPTS / "dap_conditions.py"
EXIT_STATUS = {
    "dap_basic": 0,
    "dap_exceptions": 1,
    "dap_threads": 0,
    "dap_data": 0,
    "dap_uncaught_with": 1,
    "dap_conditions": 0,
    "dap_shared": 0,
}

INITIALIZE = {
    "clientID": "pytest",
    "adapterID": "pyttd",
    "linesStartAt1": True,
    "columnsStartAt1": True,
    "pathFormat": "path",
}

CAPABILITIES = [
    "supportsConfigurationDoneRequest",
    "supportsStepBack",
    "supportsGotoTargetsRequest",
    "supportsRestartFrame",
    "supportsConditionalBreakpoints",
    "supportsHitConditionalBreakpoints",
    "supportsFunctionBreakpoints",
    "supportsDataBreakpoints",
    "supportsLogPoints",
    "supportsEvaluateForHovers",
    "supportsExceptionInfoRequest",
    "supportsSteppingGranularity",
]


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def traces(tmp_path_factory) -> Callable[[str], Path]:
    """`traces("dap_basic")`: the trace of that script, recorded on first use."""
    recorded: dict[str, Path] = {}
    directory = tmp_path_factory.mktemp("dap-traces")

    def trace(name: str) -> Path:
        if name not in recorded:
            out = directory / f"{name}.pyttd"
            result = subprocess.run(
                [str(PYTTD_SCRIPT), "record", "-o", str(out), str(SCRIPTS / f"{name}.py")],
                capture_output=True,
                text=True,
                timeout=60,
                cwd=directory,
            )
            assert result.returncode == EXIT_STATUS[name], result.stderr
            recorded[name] = out
        return recorded[name]

    return trace


@pytest.fixture
def client():
    with DapClient.spawn([str(PYTTD_SCRIPT), "dap"]) as client:
        yield client


# --- helpers -----------------------------------------------------------------------------------


@dataclass
class Stop:
    """One `stopped` event, with the stack of its thread and the `pyttd/position` that followed."""

    reason: str
    description: str | None
    thread_id: int
    frames: list[dict]
    position: dict

    @property
    def frame(self) -> dict:
        return self.frames[0]

    @property
    def frame_id(self) -> int:
        return self.frame["id"]

    @property
    def line(self) -> int:
        return self.frame["line"]

    @property
    def name(self) -> str:
        return self.frame["name"]

    @property
    def path(self) -> Path:
        return Path(self.frame["source"]["path"])

    @property
    def where(self) -> tuple[str, int, str]:
        return (self.reason, self.line, self.name)


def initialize(client: DapClient) -> dict:
    return client.request_ok("initialize", INITIALIZE)


def start(
    client: DapClient,
    arguments: dict,
    *,
    command: str = "launch",
    breakpoints: dict[Path, list[dict]] | None = None,
    function_breakpoints: list[dict] | None = None,
    exception_filters: list[str] | None = None,
    configure: Callable[[DapClient], None] | None = None,
    timeout: float = 10,
) -> Stop:
    """initialize, launch/attach, configure after `initialized`, configurationDone; the first stop.

    The launch response is awaited only after configurationDone: adapters may answer `launch`
    before or after the configuration phase.
    """
    initialize(client)
    launch_seq = client.send_request(command, arguments)
    try:
        client.wait_event("initialized", timeout=timeout)
    except AssertionError:
        response = client.wait_response(launch_seq, timeout=0, allow_close=True)
        if response is not None and not response["success"]:
            raise AssertionError(f"{command} failed: {response.get('message')!r}") from None
        raise
    for path, lines in (breakpoints or {}).items():
        set_breakpoints(client, path, lines)
    if function_breakpoints is not None:
        client.request_ok("setFunctionBreakpoints", {"breakpoints": function_breakpoints})
    if exception_filters is not None:
        client.request_ok("setExceptionBreakpoints", {"filters": exception_filters})
    if configure is not None:
        configure(client)
    client.request_ok("configurationDone")
    response = client.wait_response(launch_seq, timeout)
    assert response["success"], f"{command} failed: {response.get('message')!r}"
    return wait_stop(client, timeout)


def launch_trace(client: DapClient, trace: Path, *, stop_on_entry: bool = False, **kwargs) -> Stop:
    arguments: dict = {"trace": str(trace)}
    if stop_on_entry:
        arguments["stopOnEntry"] = True
    return start(client, arguments, **kwargs)


def set_breakpoints(client: DapClient, path: Path, breakpoints: list[dict]) -> list[dict]:
    body = client.request_ok("setBreakpoints", {"source": {"path": str(path)}, "breakpoints": breakpoints})
    assert len(body["breakpoints"]) == len(breakpoints), body
    return body["breakpoints"]


def stack_trace(client: DapClient, thread_id: int) -> list[dict]:
    return client.request_ok("stackTrace", {"threadId": thread_id})["stackFrames"]


def wait_stop(client: DapClient, timeout: float = 10) -> Stop:
    """The next `stopped` event and its `pyttd/position`, checked against the thread's top frame."""
    body = client.wait_event("stopped", timeout)["body"]
    assert body.get("allThreadsStopped") is True, body
    thread_id = body.get("threadId")
    assert isinstance(thread_id, int), body
    position = client.wait_event("pyttd/position", timeout)["body"]
    frames = stack_trace(client, thread_id)
    assert frames, f"no frames on thread {thread_id} at {position}"
    assert position["threadId"] == thread_id, (position, body)
    assert position["line"] == frames[0]["line"], (position, frames[0])
    assert position["file"] == frames[0]["source"]["path"], (position, frames[0])
    return Stop(body["reason"], body.get("description"), thread_id, frames, position)


def stop_after(client: DapClient, command: str, arguments: dict) -> Stop:
    """Send a request that moves the position; assert it succeeds; the stop it causes."""
    assert not client.pending("stopped"), f"stray stopped events before {command}: {client.pending('stopped')}"
    assert not client.pending("pyttd/position"), f"stray positions before {command}"
    client.request_ok(command, arguments)
    return wait_stop(client)


def step(client: DapClient, command: str, stop: Stop) -> Stop:
    """stepIn / next / stepOut / stepBack / continue / reverseContinue on the stopped thread."""
    return stop_after(client, command, {"threadId": stop.thread_id})


def scopes(client: DapClient, frame_id: int) -> list[dict]:
    return client.request_ok("scopes", {"frameId": frame_id})["scopes"]


def scope(client: DapClient, frame_id: int, name: str) -> dict:
    found = [s for s in scopes(client, frame_id) if s["name"] == name]
    assert len(found) == 1, f"scope {name!r} of frame {frame_id}: {scopes(client, frame_id)}"
    return found[0]


def variables(client: DapClient, reference: int) -> list[dict]:
    assert reference > 0, reference
    return client.request_ok("variables", {"variablesReference": reference})["variables"]


def by_name(items: list[dict]) -> dict[str, dict]:
    return {v["name"]: v for v in items}


def locals_of(client: DapClient, frame_id: int) -> dict[str, str]:
    """name -> value (repr) of the Locals scope of a frame."""
    reference = scope(client, frame_id, "Locals")["variablesReference"]
    return {v["name"]: v["value"] for v in variables(client, reference)}


def values(client: DapClient, stop: Stop, *names: str) -> tuple[str, ...]:
    """The values of some locals of the stop's top frame."""
    current = locals_of(client, stop.frame_id)
    missing = [n for n in names if n not in current]
    assert not missing, f"no {missing} among the locals at line {stop.line}: {current}"
    return tuple(current[n] for n in names)


def evaluate(client: DapClient, expression: str, frame_id: int, context: str = "watch") -> dict:
    return client.request("evaluate", {"expression": expression, "frameId": frame_id, "context": context})


def result_of(client: DapClient, expression: str, frame_id: int, context: str = "watch") -> str:
    return client.request_ok("evaluate", {"expression": expression, "frameId": frame_id, "context": context})["result"]


def sql(client: DapClient, query: str) -> list[list]:
    return client.request_ok("pyttd/sql", {"query": query})["rows"]


def continue_to_end(client: DapClient, stop: Stop, reason: str, *names: str) -> list[tuple[str, ...]]:
    """Values of `names` at `stop` and every further stop with `reason`, continuing up to the end."""
    seen = []
    while stop.reason == reason:
        seen.append(values(client, stop, *names))
        stop = step(client, "continue", stop)
    assert stop.reason == "end", stop.where
    return seen


# --- session start -----------------------------------------------------------------------------


def test_initialize_reports_capabilities(client):
    capabilities = initialize(client)
    assert {name: capabilities.get(name) for name in CAPABILITIES} == {name: True for name in CAPABILITIES}
    filters = {f["filter"] for f in capabilities["exceptionBreakpointFilters"]}
    assert {"raised", "uncaught"} <= filters


def test_stop_on_entry_is_the_first_line_of_the_recording(client, traces):
    stop = launch_trace(client, traces("dap_basic"), stop_on_entry=True)
    assert stop.where == ("entry", 4, "<module>")
    assert stop.path.is_absolute() and stop.path.resolve() == BASIC
    assert len(stop.frames) == 1
    assert [t["name"] for t in client.request_ok("threads")["threads"]] == ["MainThread"]


def test_without_breakpoints_the_session_stops_at_the_end(client, traces):
    stop = launch_trace(client, traces("dap_basic"))
    assert stop.where == ("end", 12, "<module>")
    assert stop.description == "End of recording"
    assert values(client, stop, "total", "i") == ("30", "4")
    assert client.events("terminated") == []


def test_attach_to_a_trace(client, traces):
    stop = launch_trace(client, traces("dap_basic"), command="attach")
    assert stop.where == ("end", 12, "<module>")


def test_launch_a_program_records_it_then_debugs(client, tmp_path):
    program = tmp_path / "prog.py"
    shutil.copy(BASIC, program)
    arguments = {"program": str(program), "args": ["a", "b"], "cwd": str(tmp_path), "stopOnEntry": True}
    stop = start(client, arguments, timeout=120)
    assert stop.where == ("entry", 4, "<module>")
    assert stop.path.resolve() == program.resolve()
    assert step(client, "stepIn", stop).where == ("step", 9, "<module>")
    stop = step(client, "continue", stop)
    assert stop.where == ("end", 12, "<module>")
    assert values(client, stop, "total") == ("30",)


# --- stepping ----------------------------------------------------------------------------------


def test_step_in_next_and_step_out(client, traces):
    stop = launch_trace(client, traces("dap_basic"), stop_on_entry=True)
    stop = step(client, "stepIn", stop)
    assert stop.where == ("step", 9, "<module>")
    assert "total" not in locals_of(client, stop.frame_id)
    stop = step(client, "stepIn", stop)
    assert stop.where == ("step", 10, "<module>")
    assert values(client, stop, "total") == ("0",)
    stop = step(client, "stepIn", stop)
    assert stop.where == ("step", 11, "<module>")
    assert values(client, stop, "i", "total") == ("0", "0")

    stop = step(client, "next", stop)  # over square(0)
    assert stop.where == ("step", 10, "<module>")
    assert values(client, stop, "i", "total") == ("0", "0")
    stop = step(client, "next", stop)
    assert stop.where == ("step", 11, "<module>")
    assert values(client, stop, "i", "total") == ("1", "0")

    stop = step(client, "stepIn", stop)  # into square(1)
    assert stop.where == ("step", 5, "square")
    assert [(f["name"], f["line"]) for f in stop.frames] == [("square", 5), ("<module>", 11)]
    assert locals_of(client, stop.frame_id) == {"n": "1"}
    stop = step(client, "next", stop)
    assert stop.where == ("step", 6, "square")
    assert locals_of(client, stop.frame_id) == {"n": "1", "result": "1"}
    stop = step(client, "stepOut", stop)
    assert stop.where == ("step", 10, "<module>")
    assert len(stop.frames) == 1
    assert values(client, stop, "i", "total") == ("1", "1")

    stop = step(client, "next", stop)
    assert stop.where == ("step", 11, "<module>")
    assert values(client, stop, "i", "total") == ("2", "1")
    stop = step(client, "stepIn", stop)
    assert stop.where == ("step", 5, "square")
    assert locals_of(client, stop.frame_id) == {"n": "2"}
    stop = step(client, "next", stop)
    assert locals_of(client, stop.frame_id) == {"n": "2", "result": "4"}
    stop = step(client, "next", stop)  # from the callee's last line: on to the caller
    assert stop.where == ("step", 10, "<module>")
    assert values(client, stop, "i", "total") == ("2", "5")


def test_step_back_retraces_step_in_exactly(client, traces):
    stop = launch_trace(client, traces("dap_basic"), stop_on_entry=True)
    forward = [(stop.line, stop.name, locals_of(client, stop.frame_id))]
    for _ in range(10):
        stop = step(client, "stepIn", stop)
        assert stop.reason == "step"
        forward.append((stop.line, stop.name, locals_of(client, stop.frame_id)))
    assert [line for line, _, _ in forward] == [4, 9, 10, 11, 5, 6, 10, 11, 5, 6, 10]
    assert forward[5] == (6, "square", {"n": "0", "result": "0"})
    assert forward[9] == (6, "square", {"n": "1", "result": "1"})

    backward = []
    for _ in range(10):
        stop = step(client, "stepBack", stop)
        assert stop.reason == "step"
        backward.append((stop.line, stop.name, locals_of(client, stop.frame_id)))
    assert backward == forward[-2::-1]

    # At the first line of the recording there is nothing before: stepBack stays, as "entry".
    stop = step(client, "stepBack", stop)
    assert stop.where == ("entry", 4, "<module>")
    stop = step(client, "stepBack", stop)
    assert stop.where == ("entry", 4, "<module>")
    assert step(client, "stepIn", stop).where == ("step", 9, "<module>")


def test_next_over_a_call_stops_at_a_breakpoint_inside_it(client, traces):
    stop = launch_trace(client, traces("dap_basic"), stop_on_entry=True)
    for _ in range(3):
        stop = step(client, "stepIn", stop)
    assert stop.where == ("step", 11, "<module>")
    [breakpoint] = set_breakpoints(client, BASIC, [{"line": 6}])
    assert breakpoint["verified"] is True and breakpoint["line"] == 6
    stop = step(client, "next", stop)
    assert stop.where == ("breakpoint", 6, "square")
    assert locals_of(client, stop.frame_id) == {"n": "0", "result": "0"}
    set_breakpoints(client, BASIC, [])
    stop = step(client, "stepOut", stop)
    assert stop.where == ("step", 10, "<module>")


def test_goto_the_last_event_then_continue_and_next_stay_at_the_end(client, traces):
    stop = launch_trace(client, traces("dap_basic"), stop_on_entry=True)
    [[last]] = sql(client, "SELECT max(seq) FROM events")
    stop = stop_after(client, "pyttd/goto", {"seq": last})
    assert stop.where == ("goto", 12, "<module>")
    assert stop.position["seq"] == last
    for command in ("continue", "next", "stepIn", "stepOut", "continue"):
        stop = step(client, command, stop)
        assert stop.where == ("end", 12, "<module>"), command
        assert stop.description == "End of recording"
        assert stop.position["seq"] == last
    assert client.events("terminated") == []
    stop = step(client, "stepBack", stop)  # from the module's return event to the print's line
    assert stop.where == ("step", 12, "<module>")
    assert stop.position["seq"] < last


def test_pyttd_goto_a_seq_inside_a_call(client, traces):
    stop = launch_trace(client, traces("dap_basic"), stop_on_entry=True)
    [[seq]] = sql(client, "SELECT min(seq) FROM events WHERE kind = 'line' AND line = 5")
    stop = stop_after(client, "pyttd/goto", {"seq": seq})
    assert stop.where == ("goto", 5, "square")
    assert stop.position["seq"] == seq
    assert [f["name"] for f in stop.frames] == ["square", "<module>"]
    assert locals_of(client, stop.frame_id) == {"n": "0"}


# --- breakpoints -------------------------------------------------------------------------------


def test_conditional_breakpoint_with_continue_and_reverse_continue(client, traces):
    stop = launch_trace(client, traces("dap_basic"), breakpoints={BASIC: [{"line": 11, "condition": "i == 3"}]})
    assert stop.where == ("breakpoint", 11, "<module>")
    assert values(client, stop, "i", "total") == ("3", "5")
    stop = step(client, "continue", stop)
    assert stop.where == ("end", 12, "<module>")
    assert stop.description == "End of recording"
    stop = step(client, "reverseContinue", stop)
    assert stop.where == ("breakpoint", 11, "<module>")
    assert values(client, stop, "i", "total") == ("3", "5")
    stop = step(client, "reverseContinue", stop)
    assert stop.where == ("entry", 4, "<module>")
    stop = step(client, "continue", stop)
    assert stop.where == ("breakpoint", 11, "<module>")
    assert values(client, stop, "i") == ("3",)


@pytest.mark.parametrize(
    "hit_condition, stops_at_i",
    [
        ("%2", ["1", "3"]),
        (">=4", ["3", "4"]),
        ("2", ["1"]),
        ("==5", ["4"]),
        (">3", ["3", "4"]),
        ("<3", ["0", "1"]),
        ("<=1", ["0"]),
    ],
)
def test_hit_conditions(client, traces, hit_condition, stops_at_i):
    # Line 11 runs five times, with i = 0..4: hit N has i == N - 1.
    stop = launch_trace(client, traces("dap_basic"), breakpoints={BASIC: [{"line": 11, "hitCondition": hit_condition}]})
    assert [i for (i,) in continue_to_end(client, stop, "breakpoint", "i")] == stops_at_i


def test_breakpoints_on_lines_that_never_ran_are_unverified(client, traces):
    answers = {}

    def configure(client):
        answers["basic"] = set_breakpoints(client, BASIC, [{"line": 3}, {"line": 11}, {"line": 7}, {"line": 99}])
        answers["other"] = set_breakpoints(client, SCRIPTS / "loops.py", [{"line": 1}])

    stop = launch_trace(client, traces("dap_basic"), configure=configure)
    assert [b["verified"] for b in answers["basic"]] == [False, True, False, False]
    assert answers["basic"][1]["line"] == 11
    for unverified in answers["basic"][0], answers["basic"][2], answers["basic"][3], answers["other"][0]:
        assert unverified["verified"] is False
        assert isinstance(unverified.get("message"), str) and unverified["message"], unverified
    assert stop.where == ("breakpoint", 11, "<module>")
    assert values(client, stop, "i") == ("0",)


def test_logpoints_write_output_and_do_not_stop(client, traces):
    logpoint = {"line": 11, "logMessage": "i={i} total={total}"}
    stop = launch_trace(client, traces("dap_basic"), breakpoints={BASIC: [logpoint]})
    assert stop.where == ("end", 12, "<module>")
    logged = [
        e["body"]["output"]
        for e in client.events("output")
        if e["body"].get("category") == "console" and e["body"]["output"].startswith("i=")
    ]
    assert logged == ["i=0 total=0\n", "i=1 total=0\n", "i=2 total=1\n", "i=3 total=5\n", "i=4 total=14\n"]


def test_function_breakpoints(client, traces):
    answers = {}

    def configure(client):
        body = client.request_ok("setFunctionBreakpoints", {"breakpoints": [{"name": "square"}, {"name": "nope"}]})
        answers["breakpoints"] = body["breakpoints"]

    stop = launch_trace(client, traces("dap_basic"), configure=configure)
    assert [b["verified"] for b in answers["breakpoints"]] == [True, False]
    assert stop.where == ("function breakpoint", 5, "square")
    assert locals_of(client, stop.frame_id) == {"n": "0"}
    assert [n for (n,) in continue_to_end(client, stop, "function breakpoint", "n")] == ["0", "1", "2", "3", "4"]


# --- exceptions --------------------------------------------------------------------------------


def test_raised_exception_filter_stops_where_each_exception_is_raised(client, traces):
    stop = launch_trace(client, traces("dap_exceptions"), exception_filters=["raised"])
    assert stop.where == ("exception", 9, "parse")
    assert values(client, stop, "v", "out") == ("3", "[1]")
    info = client.request_ok("exceptionInfo", {"threadId": stop.thread_id})
    assert info["exceptionId"] == "ValueError"
    assert "bad value 3" in info["description"]
    assert info["breakMode"] == "always"

    stop = step(client, "continue", stop)
    assert stop.where == ("exception", 17, "lookup")
    info = client.request_ok("exceptionInfo", {"threadId": stop.thread_id})
    assert info["exceptionId"] == "KeyError"
    assert "missing" in info["description"]
    assert info["breakMode"] == "always"


def test_uncaught_exception_filter_stops_only_for_the_uncaught_one(client, traces):
    stop = launch_trace(client, traces("dap_exceptions"), exception_filters=["uncaught"])
    assert stop.where == ("exception", 17, "lookup")
    assert [(f["name"], f["line"]) for f in stop.frames] == [("lookup", 17), ("find", 21), ("<module>", 25)]
    assert locals_of(client, stop.frame_id) == {"table": "{'present': 1}", "key": "'missing'"}
    info = client.request_ok("exceptionInfo", {"threadId": stop.thread_id})
    assert info["exceptionId"] == "KeyError"
    assert "missing" in info["description"]
    assert info["breakMode"] == "unhandled"
    stop = step(client, "continue", stop)
    assert stop.where == ("end", 25, "<module>")


def test_without_exception_filters_exceptions_do_not_stop(client, traces):
    stop = launch_trace(client, traces("dap_exceptions"), exception_filters=[])
    assert stop.where == ("end", 25, "<module>")


# --- data breakpoints --------------------------------------------------------------------------


def test_data_breakpoint_forward_and_backward(client, traces):
    stop = launch_trace(client, traces("dap_data"), breakpoints={DATA: [{"line": 12}]})
    assert stop.where == ("breakpoint", 12, "mutate")
    assert locals_of(client, stop.frame_id) == {"x": "1"}
    reference = scope(client, stop.frame_id, "Locals")["variablesReference"]
    info = client.request_ok("dataBreakpointInfo", {"variablesReference": reference, "name": "x"})
    assert isinstance(info["dataId"], str) and info["dataId"]
    body = client.request_ok("setDataBreakpoints", {"breakpoints": [{"dataId": info["dataId"]}]})
    assert [b["verified"] for b in body["breakpoints"]] == [True]
    set_breakpoints(client, DATA, [])  # only the data breakpoint from here on

    # `x = 1` again at line 12 changes nothing: the first stop is after `x = 2`.
    stop = step(client, "continue", stop)
    assert stop.where == ("data breakpoint", 14, "mutate")
    assert values(client, stop, "x") == ("2",)
    stop = step(client, "continue", stop)
    assert stop.where == ("data breakpoint", 15, "mutate")
    assert values(client, stop, "x") == ("20",)
    stop = step(client, "continue", stop)
    assert stop.where == ("end", 23, "<module>")

    stop = step(client, "reverseContinue", stop)
    assert stop.where == ("data breakpoint", 15, "mutate")
    stop = step(client, "reverseContinue", stop)
    assert stop.where == ("data breakpoint", 14, "mutate")
    assert values(client, stop, "x") == ("2",)
    stop = step(client, "reverseContinue", stop)  # x first bound (to 1): a change too
    assert stop.where == ("data breakpoint", 12, "mutate")
    assert values(client, stop, "x") == ("1",)


# --- threads -----------------------------------------------------------------------------------


def test_threads_are_named_and_a_worker_thread_stops(client, traces):
    stop = launch_trace(client, traces("dap_threads"), stop_on_entry=True)
    threads = client.request_ok("threads")["threads"]
    assert sorted(t["name"] for t in threads) == ["MainThread", "worker-1", "worker-2"]
    assert len({t["id"] for t in threads}) == 3
    names = {t["id"]: t["name"] for t in threads}
    assert names[stop.thread_id] == "MainThread"
    main = stop.thread_id

    set_breakpoints(client, THREADS, [{"line": 9}])
    stop = step(client, "continue", stop)
    assert stop.where == ("breakpoint", 9, "work")
    assert names[stop.thread_id] in ("worker-1", "worker-2")
    assert [f["name"] for f in stop.frames] == ["work"]
    assert locals_of(client, stop.frame_id) == {"n": "3", "total": "0", "k": "0"}
    # Every thread is stopped: the main thread's stack is there too, in the module.
    main_frames = stack_trace(client, main)
    assert main_frames[0]["name"] == "<module>" and main_frames[0]["line"] in (16, 17, 18, 19)

    set_breakpoints(client, THREADS, [])
    worker = stop.thread_id
    stop = step(client, "next", stop)
    assert (stop.where, stop.thread_id) == (("step", 8, "work"), worker)
    assert locals_of(client, stop.frame_id) == {"n": "3", "total": "0", "k": "0"}
    stop = step(client, "next", stop)
    assert (stop.where, stop.thread_id) == (("step", 9, "work"), worker)
    assert locals_of(client, stop.frame_id) == {"n": "3", "total": "0", "k": "1"}


# --- variables and evaluate --------------------------------------------------------------------


def test_scopes_and_variables_expand_a_list_a_dict_and_an_object(client, traces):
    stop = launch_trace(client, traces("dap_data"), breakpoints={DATA: [{"line": 20}]})
    assert stop.where == ("breakpoint", 20, "mutate")
    [local_scope] = scopes(client, stop.frame_id)
    assert local_scope["name"] == "Locals"
    assert local_scope["presentationHint"] == "locals"
    assert local_scope["variablesReference"] > 0

    found = by_name(variables(client, local_scope["variablesReference"]))
    assert sorted(found) == ["cfg", "items", "p", "x"]
    assert (found["x"]["value"], found["x"].get("type"), found["x"]["variablesReference"]) == ("20", "int", 0)
    assert (found["items"]["value"], found["items"].get("type")) == ("[1, 2]", "list")
    assert (found["cfg"]["value"], found["cfg"].get("type")) == ("{'a': 1, 'b': [1, 2]}", "dict")
    assert found["p"]["value"].startswith("<__main__.Point object at 0x")
    assert found["p"].get("type") in ("Point", "__main__.Point")

    def children(name):
        reference = found[name]["variablesReference"]
        assert reference > 0, found[name]
        return [(v["name"], v["value"]) for v in variables(client, reference)]

    assert children("items") == [("[0]", "1"), ("[1]", "2")]
    assert children("cfg") == [("'a'", "1"), ("'b'", "[1, 2]")]
    assert children("p") == [("x", "3"), ("y", "4")]

    # At mutate's return event: a "Return value" scope too.
    [[seq]] = sql(client, "SELECT seq FROM events WHERE kind = 'return' AND function = 'mutate'")
    stop = stop_after(client, "pyttd/goto", {"seq": seq})
    assert stop.where == ("goto", 20, "mutate")
    assert [s["name"] for s in scopes(client, stop.frame_id)] == ["Locals", "Return value"]
    returned = variables(client, scope(client, stop.frame_id, "Return value")["variablesReference"])
    assert [v["value"] for v in returned] == ["(20, 2, 1, 4)"]


def test_evaluate_over_recorded_values(client, traces):
    stop = launch_trace(client, traces("dap_data"), breakpoints={DATA: [{"line": 14}, {"line": 20}]})
    assert stop.where == ("breakpoint", 14, "mutate")
    assert result_of(client, "x", stop.frame_id) == "2"
    assert result_of(client, "x + 1", stop.frame_id) == "3"

    stop = step(client, "continue", stop)
    assert stop.where == ("breakpoint", 20, "mutate")
    for context in ("hover", "watch", "repl"):
        assert result_of(client, "x + 1", stop.frame_id, context) == "21"
    assert result_of(client, "items[0]", stop.frame_id) == "1"
    assert result_of(client, "cfg['a']", stop.frame_id) == "1"
    assert result_of(client, "cfg['b']", stop.frame_id) == "[1, 2]"
    assert result_of(client, "p.x", stop.frame_id) == "3"
    assert result_of(client, "len(items)", stop.frame_id) == "2"

    for expression in ("items.append(3)", "print(1)"):
        response = evaluate(client, expression, stop.frame_id, "repl")
        assert response["success"] is False, response
        assert "live" in response["message"], response
    assert result_of(client, "items", stop.frame_id) == "[1, 2]"


def test_values_that_share_their_children_expand_at_every_step(client, traces):
    """`p` and `q` take the same two points in turn: their children are written once per point
    (format 5.0, SPEC.md "Shared children") and every later value refers to them."""
    trace = traces("dap_shared")
    stop = launch_trace(client, trace, breakpoints={SHARED: [{"line": 13}]})
    expected = [("1", "2"), ("3", "4"), ("1", "2"), ("3", "4")]
    for i, (x, y) in enumerate(expected):
        assert stop.where == ("breakpoint", 13, "<module>"), i
        found = by_name(variables(client, scope(client, stop.frame_id, "Locals")["variablesReference"]))
        shown = [(v["name"], v["value"]) for v in variables(client, found["p"]["variablesReference"])]
        assert shown == [("x", x), ("y", y)], i
        assert (result_of(client, "p.x", stop.frame_id), result_of(client, "p.y", stop.frame_id)) == (x, y)
        if i > 0:
            # `q` still holds the previous point, whose children are shared too.
            (qx, qy) = expected[i - 1]
            shown = [(v["name"], v["value"]) for v in variables(client, found["q"]["variablesReference"])]
            assert shown == [("x", qx), ("y", qy)], i
        if i < len(expected) - 1:
            stop = step(client, "continue", stop)
    # Each point's children were written once, though `p` and `q` changed eight times.
    shown = "SELECT object_id FROM raw.values WHERE name IN ('p', 'q')"
    assert sql(client, f"SELECT count(*) FROM raw.children WHERE parent_id IN ({shown})") == [[4]]
    assert sql(client, "SELECT count(DISTINCT object_id) FROM raw.values WHERE name IN ('p', 'q')") == [[2]]
    assert sql(client, "SELECT count(*) FROM raw.values WHERE name IN ('p', 'q')") == [[8]]


# --- goto and restartFrame ---------------------------------------------------------------------


def test_goto_targets_and_goto(client, traces):
    stop = launch_trace(client, traces("dap_basic"), stop_on_entry=True)
    seqs = [seq for [seq] in sql(client, "SELECT seq FROM events WHERE kind = 'line' AND line = 11 ORDER BY seq")]
    assert len(seqs) == 5
    targets = client.request_ok("gotoTargets", {"source": {"path": str(BASIC)}, "line": 11})["targets"]
    assert [t["line"] for t in targets] == [11] * 5
    assert len({t["id"] for t in targets}) == 5
    for target, seq in zip(targets, seqs):
        assert re.search(rf"\b{seq}\b", target["label"]), (target, seq)

    stop = stop_after(client, "goto", {"threadId": stop.thread_id, "targetId": targets[3]["id"]})
    assert stop.where == ("goto", 11, "<module>")
    assert stop.position["seq"] == seqs[3]
    assert values(client, stop, "i", "total") == ("3", "5")
    stop = step(client, "stepIn", stop)
    assert stop.where == ("step", 5, "square")
    assert locals_of(client, stop.frame_id) == {"n": "3"}


def test_restart_frame_goes_to_the_first_line_of_the_call(client, traces):
    stop = launch_trace(client, traces("dap_basic"), breakpoints={BASIC: [{"line": 6, "condition": "n == 2"}]})
    assert stop.where == ("breakpoint", 6, "square")
    assert locals_of(client, stop.frame_id) == {"n": "2", "result": "4"}
    set_breakpoints(client, BASIC, [])

    stop = stop_after(client, "restartFrame", {"frameId": stop.frame_id})
    assert stop.reason in ("goto", "restart")
    assert (stop.line, stop.name) == (5, "square")
    assert locals_of(client, stop.frame_id) == {"n": "2"}

    module_frame = stop.frames[1]
    assert module_frame["name"] == "<module>"
    stop = stop_after(client, "restartFrame", {"frameId": module_frame["id"]})
    assert stop.reason in ("goto", "restart")
    assert (stop.line, stop.name) == (4, "<module>")


# --- pyttd's own requests ----------------------------------------------------------------------


def test_timeline(client, traces):
    stop = launch_trace(client, traces("dap_basic"), breakpoints={BASIC: [{"line": 11}]})
    assert stop.where == ("breakpoint", 11, "<module>")
    [[count, last]] = sql(client, "SELECT count(*), max(seq) FROM events")
    buckets = client.request_ok("pyttd/timeline", {"buckets": 4})["buckets"]
    assert 1 <= len(buckets) <= 4
    assert [b["index"] for b in buckets] == list(range(len(buckets)))
    assert buckets[0]["firstSeq"] == 0 and buckets[-1]["lastSeq"] == last
    for before, after in zip(buckets, buckets[1:]):
        assert after["firstSeq"] == before["lastSeq"] + 1
    for bucket in buckets:
        assert bucket["events"] == bucket["lastSeq"] - bucket["firstSeq"] + 1
    assert sum(b["events"] for b in buckets) == count
    assert sum(b["exceptions"] for b in buckets) == 0
    assert sum(b["breakpointHits"] for b in buckets) == 5
    assert max(b["maxDepth"] for b in buckets) == 1


def test_stats(client, traces):
    launch_trace(client, traces("dap_basic"))
    functions = {f["function"]: f for f in client.request_ok("pyttd/stats")["functions"]}
    assert set(functions) == {"<module>", "square"}
    square, module = functions["square"], functions["<module>"]
    assert (square["calls"], square["exceptions"], Path(square["file"]).resolve()) == (5, 0, BASIC)
    assert (module["calls"], module["exceptions"]) == (1, 0)
    for stats in square, module:
        assert stats["totalNs"] >= stats["selfNs"] >= 0
    assert module["totalNs"] >= square["totalNs"]


def test_variable_history_in_a_frame_and_everywhere(client, traces):
    stop = launch_trace(client, traces("dap_basic"), breakpoints={BASIC: [{"line": 12}]})
    assert stop.where == ("breakpoint", 12, "<module>")
    history = client.request_ok("pyttd/variableHistory", {"name": "total", "frameId": stop.frame_id})["values"]
    # `total += square(0)` leaves total at 0: not a change. Each change is seen at the next line event.
    assert [v["value"] for v in history] == ["0", "1", "5", "14", "30"]
    assert [v["line"] for v in history] == [10, 10, 10, 10, 10]
    assert {v["type"] for v in history} == {"int"}
    assert {v["callId"] for v in history} == {stop.position["callId"]}
    assert [v["seq"] for v in history] == sorted({v["seq"] for v in history})
    assert history[-1]["seq"] < stop.position["seq"]

    everywhere = client.request_ok("pyttd/variableHistory", {"name": "n", "everywhere": True})["values"]
    assert [v["value"] for v in everywhere] == ["0", "1", "2", "3", "4"]
    assert len({v["callId"] for v in everywhere}) == 5
    assert [v["seq"] for v in everywhere] == sorted({v["seq"] for v in everywhere})


def test_variable_history_skips_assignments_of_the_same_value(client, traces):
    stop = launch_trace(client, traces("dap_data"), breakpoints={DATA: [{"line": 20}]})
    history = client.request_ok("pyttd/variableHistory", {"name": "x", "frameId": stop.frame_id})["values"]
    assert [(v["value"], v["line"]) for v in history] == [("1", 12), ("2", 14), ("20", 15)]


def test_sql(client, traces):
    launch_trace(client, traces("dap_basic"))
    query = "SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY kind"
    body = client.request_ok("pyttd/sql", {"query": query})
    assert body["columns"] == ["kind", "n"]
    assert body["rows"] == [["call", 6], ["line", 24], ["return", 6]]
    for bad in ("SELECT nope FROM nowhere", "DELETE FROM events", "not sql at all"):
        response = client.request("pyttd/sql", {"query": bad})
        assert response["success"] is False, bad


def test_call_children(client, traces):
    stop = launch_trace(client, traces("dap_basic"), stop_on_entry=True)
    module_call = stop.position["callId"]
    calls = client.request_ok("pyttd/callChildren", {"callId": module_call})["calls"]
    query = "SELECT seq FROM events WHERE kind = 'call' AND function = 'square' ORDER BY seq"
    seqs = [seq for [seq] in sql(client, query)]
    assert [(c["function"], c["seq"]) for c in calls] == [("square", seq) for seq in seqs]
    assert len({c["callId"] for c in calls}) == 5 and module_call not in {c["callId"] for c in calls}
    assert client.request_ok("pyttd/callChildren", {"callId": calls[0]["callId"]})["calls"] == []


# --- errors and malformed input ----------------------------------------------------------------


def test_unsupported_requests_fail_with_a_message(client, traces):
    stop = launch_trace(client, traces("dap_basic"), breakpoints={BASIC: [{"line": 11}]})
    reference = scope(client, stop.frame_id, "Locals")["variablesReference"]
    for command, arguments in [
        ("setVariable", {"variablesReference": reference, "name": "total", "value": "7"}),
        ("setExpression", {"expression": "total", "value": "7", "frameId": stop.frame_id}),
        ("stepInTargets", {"frameId": stop.frame_id}),
        ("frobnicate", {}),
        ("pyttd/frobnicate", None),
    ]:
        response = client.request(command, arguments)
        assert response["success"] is False, (command, response)
    assert values(client, stop, "total") == ("0",)
    assert client.request_ok("threads")["threads"]


def test_wrong_arguments_get_error_responses(client, traces):
    launch_trace(client, traces("dap_basic"))
    for message in [
        {"command": "stackTrace", "arguments": {"threadId": "x"}},
        {"command": "stackTrace"},
        {"command": "stackTrace", "arguments": {"threadId": 987654}},
        {"command": "scopes", "arguments": {"frameId": 987654}},
        {"command": "variables", "arguments": {"variablesReference": 987654}},
        {"command": "pyttd/goto", "arguments": {"seq": 10**12}},
        {"command": "pyttd/goto", "arguments": {"seq": -1}},
        {"command": "pyttd/timeline", "arguments": {"buckets": "four"}},
    ]:
        seq = client.send_unchecked(message)
        response = client.wait_response(seq)
        assert response["success"] is False, (message, response)
    assert not client.pending("stopped")
    assert client.request_ok("threads")["threads"]


def assert_closed_cleanly(client: DapClient) -> None:
    client.wait_closed()
    assert client.wait_exit() in (0, 1)
    lines = client.stderr_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines


@pytest.mark.parametrize(
    "frame",
    [
        b"Content-Length: abc\r\n\r\n{}",
        b"Content-Length: -1\r\n\r\n{}",
        b"Content-Type: application/json\r\n\r\n{}",
    ],
    ids=["not-a-number", "negative", "no-content-length"],
)
def test_a_bad_header_closes_the_session_cleanly(client, frame):
    client.send_raw(frame)
    assert_closed_cleanly(client)


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2]", b"\xff\xfe{}", b'{"seq": 1, "type": "request"'],
    ids=["not-json", "not-an-object", "not-utf8", "truncated"],
)
def test_a_bad_body_is_answered_or_closes_cleanly(client, body):
    client.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    try:
        seq = client.send_request("initialize", INITIALIZE)
    except AssertionError:  # the server has already gone
        seq = None
    response = client.wait_response(seq, allow_close=True) if seq is not None else None
    if response is None:
        assert_closed_cleanly(client)
    else:
        assert response["success"] is True, response


def test_a_huge_content_length_does_not_crash(client):
    client.send_raw(b"Content-Length: 99999999999999999999\r\n\r\n{}")
    client.close_output()
    client.wait_closed()
    assert client.wait_exit() in (0, 1)


@pytest.mark.parametrize("launched", [True, False])
def test_disconnect_ends_the_server_with_status_0(client, traces, launched):
    if launched:
        launch_trace(client, traces("dap_basic"))
    else:
        initialize(client)
    client.request_ok("disconnect", {})
    client.wait_closed()
    assert client.wait_exit() == 0
    assert "error" not in client.stderr_text().lower()


# --- TCP ---------------------------------------------------------------------------------------


def test_listen_serves_one_client_over_tcp(traces):
    trace = traces("dap_basic")
    process, stderr_path, first_line = start_listening([str(PYTTD_SCRIPT), "dap", "--listen", "127.0.0.1:0"])
    match = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)", first_line)
    assert match and int(match[1]) > 0, first_line
    with DapClient.connect("127.0.0.1", int(match[1]), process=process, stderr_path=stderr_path) as client:
        stop = launch_trace(client, trace, stop_on_entry=True)
        assert stop.where == ("entry", 4, "<module>")
        assert step(client, "stepIn", stop).where == ("step", 9, "<module>")
        client.request_ok("disconnect", {})
        client.wait_closed()
        assert client.wait_exit() == 0


def test_listen_refuses_a_non_loopback_address():
    result = subprocess.run(
        [str(PYTTD_SCRIPT), "dap", "--listen", "0.0.0.0:0"],
        capture_output=True,
        text=True,
        timeout=20,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert result.stderr.startswith("error: "), result.stderr
    assert "listening on" not in result.stderr
    assert "panicked at" not in result.stderr


def test_uncaught_exception_through_with_finally_and_a_non_matching_except(client, traces):
    # The KeyError leaves `inner` through a `with` block, `outer` through `finally`, and the
    # module through `except ZeroDivisionError`: handlers run on the way, but nothing catches it.
    stop = launch_trace(client, traces("dap_uncaught_with"), exception_filters=["uncaught"])
    assert stop.where == ("exception", 15, "inner")
    assert [f["name"] for f in stop.frames] == ["inner", "outer", "<module>"]
    info = client.request_ok("exceptionInfo", {"threadId": stop.thread_id})
    assert (info["exceptionId"], info["breakMode"]) == ("KeyError", "unhandled")
    stop = step(client, "continue", stop)
    assert stop.reason == "end"
    stop = step(client, "reverseContinue", stop)
    assert stop.where == ("exception", 15, "inner")


@pytest.mark.parametrize(
    "condition, stops_at_k",
    [
        ("flag == 1", ["4"]),  # a bool equals an int: True == 1
        ("ratio > 2", ["5"]),  # a float against an int bound
        ("len(items) == 3", ["3"]),  # a container's recorded length
        ("flag and ratio >= 1", ["4"]),  # two names
    ],
)
def test_conditions_on_bools_floats_and_containers_find_every_hit(client, traces, condition, stops_at_k):
    def k_of(stop):
        frames = stack_trace(client, stop.thread_id)
        return locals_of(client, frames[1]["id"])["k"]

    stop = launch_trace(client, traces("dap_conditions"), breakpoints={CONDITIONS: [{"line": 3, "condition": condition}]})
    seen = []
    while stop.reason == "breakpoint":
        seen.append(k_of(stop))
        stop = step(client, "continue", stop)
    assert seen == stops_at_k
    assert stop.reason == "end"
    back = []
    stop = step(client, "reverseContinue", stop)
    while stop.reason == "breakpoint":
        back.append(k_of(stop))
        stop = step(client, "reverseContinue", stop)
    assert back == list(reversed(stops_at_k))


def test_a_condition_that_does_not_parse_leaves_that_breakpoint_unverified(client, traces):
    answers = {}

    def configure(client):
        answers["bps"] = set_breakpoints(client, BASIC, [{"line": 11, "condition": "i =="}, {"line": 5}])

    stop = launch_trace(client, traces("dap_basic"), configure=configure)
    bad, good = answers["bps"]
    assert bad["verified"] is False and "condition" in bad["message"], bad
    assert good["verified"] is True, good
    assert stop.where == ("breakpoint", 5, "square")
