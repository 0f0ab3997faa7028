"""The settrace oracle (tests/python/oracle) on the script corpus (tests/python/scripts).

The recorder's end-to-end tests will trust the oracle, so it is pinned here to what a reader of
each script expects: exact line sequences, depths, event kinds and rendered locals. Expectations
that differ between CPython 3.12 and 3.13 say so with `sys.version_info`.
"""

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oracle import CHILD_ENV, MAIN_THREAD, Event, Recording, Unobserved, normalize_addresses, record

SCRIPTS = Path(__file__).resolve().parent / "scripts"
CORPUS = sorted(p.name for p in SCRIPTS.glob("*.py") if not p.name.startswith("_"))
PY313 = sys.version_info[:2] == (3, 13)


@functools.cache
def recording(name: str, *argv: str) -> Recording:
    """The oracle's recording of a corpus script, made once per test session."""
    return record(SCRIPTS / name, argv)


def frames(rec: Recording, function: str, thread: str = MAIN_THREAD) -> list[Event]:
    return [e for e in rec.events_of(thread) if e.function == function]


def summary(events: list[Event]) -> list[tuple[str, str, int, int]]:
    return [(e.kind, e.function, e.line, e.depth) for e in events]


def test_module_loop_steps_through_every_iteration_with_the_globals_before_each_line():
    rec = recording("module_loop.py")
    loop = [("<module>", 4), ("<module>", 5)] * 5
    assert rec.line_sequence() == [
        ("<module>", 1),
        ("<module>", 3),
        *loop,
        ("<module>", 4),
        ("<module>", 6),
    ]
    # Locals at a line event are the state before the line runs.
    assert rec.locals_at(MAIN_THREAD, 0) == {}
    assert rec.locals_at(MAIN_THREAD, 2) == {"total": "0"}
    assert rec.locals_at(MAIN_THREAD, 4) == {"total": "0", "i": "0"}
    assert rec.locals_at(MAIN_THREAD, 11) == {"total": "6", "i": "4"}
    assert rec.locals_at(MAIN_THREAD, 13) == {"total": "10", "i": "4"}
    steps = enumerate(rec.line_sequence())
    before_add = [rec.locals_at(MAIN_THREAD, i) for i, (_, line) in steps if line == 5]
    assert [(v["i"], v["total"]) for v in before_add] == [
        ("0", "0"),
        ("1", "0"),
        ("2", "1"),
        ("3", "3"),
        ("4", "6"),
    ]
    events = rec.events_of(MAIN_THREAD)
    assert summary([events[0], events[-1]]) == [
        ("call", "<module>", 0, 0),
        ("return", "<module>", 6, 0),
    ]
    assert events[-1].value == "None"
    assert rec.stdout == "total 10\n"


def test_empty_module_is_a_call_a_line_zero_and_a_return():
    rec = recording("empty.py")
    assert list(rec.threads) == [MAIN_THREAD]
    assert summary(rec.events_of()) == [
        ("call", "<module>", 0, 0),
        ("line", "<module>", 0, 0),
        ("return", "<module>", 0, 0),
    ]
    assert [e.locals for e in rec.events_of()] == [{}, {}, {}]
    assert (rec.stdout, rec.stderr, rec.exit_status) == ("", "", 0)


def test_one_line_loops_repeat_their_line_on_every_backward_jump():
    rec = recording("loops.py")
    def lines(function):
        return [line for f, line in rec.line_sequence() if f == function]

    assert lines("one_line_for") == [5, 5, 5, 5, 6]
    assert lines("one_line_while") == [10, 11, 11, 11, 12]
    xs = [e.locals.get("x") for e in frames(rec, "one_line_for") if e.kind == "line"]
    assert xs == [None, "0", "2", "4", "4"]
    ns = [e.locals.get("n") for e in frames(rec, "one_line_while") if e.kind == "line"]
    assert ns == [None, "0", "1", "2", "3"]
    assert lines("nested") == [16, 17, *[18, 19] * 3, 18, 17, *[18, 19] * 3, 18, 17, 20]
    assert rec.stdout == "4 3 6\n"


def test_recursion_goes_twenty_frames_below_the_module_and_unwinds_in_order():
    rec = recording("recursion.py")
    calls = [e for e in frames(rec, "countdown") if e.kind == "call"]
    assert [(e.locals["n"], e.depth) for e in calls] == [(str(19 - k), 1 + k) for k in range(20)]
    assert max(e.depth for e in rec.events_of()) == 20
    returns = [(e.value, e.depth) for e in frames(rec, "countdown") if e.kind == "return"]
    assert returns == [(str(k), 20 - k) for k in range(20)]
    assert rec.stdout == "depth 19\n"


def test_nested_calls_pass_arguments_down_and_values_back():
    rec = recording("nested_calls.py")
    calls = [(e.function, e.depth, e.locals) for e in rec.events_of() if e.kind == "call"][1:]
    assert calls == [
        ("report", 1, {"a": "3", "b": "4"}),
        ("sum_of_squares", 2, {"a": "3", "b": "4"}),
        ("square", 3, {"x": "3"}),
        ("square", 3, {"x": "4"}),
    ]
    returns = [(e.function, e.value) for e in rec.events_of() if e.kind == "return"]
    assert returns == [
        ("square", "9"),
        ("square", "16"),
        ("sum_of_squares", "25"),
        ("report", "'3^2 + 4^2 = 25'"),
        ("<module>", "None"),
    ]


def test_caught_exception_is_raised_unwound_and_handled_with_its_name_bound():
    rec = recording("caught_exception.py")
    second = rec.events_of()[14:28]  # parse_or_default("x", -1)
    assert summary(second) == [
        ("call", "parse_or_default", 8, 1),
        ("line", "parse_or_default", 9, 1),
        ("line", "parse_or_default", 10, 1),
        ("call", "parse", 4, 2),
        ("line", "parse", 5, 2),
        ("exception", "parse", 5, 2),
        ("unwind", "parse", 5, 2),
        ("exception", "parse_or_default", 10, 1),
        ("line", "parse_or_default", 11, 1),
        ("line", "parse_or_default", 12, 1),
        ("line", "parse_or_default", 13, 1),
        ("line", "parse_or_default", 15, 1),
        ("line", "parse_or_default", 16, 1),
        ("return", "parse_or_default", 16, 1),
    ]
    assert [e.value for e in second if e.kind == "exception"] == ["ValueError", "ValueError"]
    assert second[9].locals["exc"] == "ValueError(\"invalid literal for int() with base 10: 'x'\")"
    assert "exc" not in second[11].locals  # `except ... as exc` deletes the name at its end
    assert second[-1].value == "-1"


def test_uncaught_exception_unwinds_every_frame_and_exits_like_python():
    rec = recording("uncaught_exception.py")
    assert summary(rec.events_of()[-6:]) == [
        ("exception", "divide", 5, 2),
        ("unwind", "divide", 5, 2),
        ("exception", "main", 10, 1),
        ("unwind", "main", 10, 1),
        ("exception", "<module>", 13, 0),
        ("unwind", "<module>", 13, 0),
    ]
    assert {e.value for e in rec.events_of() if e.kind == "exception"} == {"ZeroDivisionError"}
    assert rec.exit_status == 1
    assert rec.stderr.startswith("Traceback (most recent call last):\n  File ")
    assert rec.stderr.endswith("ZeroDivisionError: division by zero\n")
    assert "runpy" not in rec.stderr and "_driver" not in rec.stderr


def test_generators_yield_and_resume_with_the_same_frame():
    rec = recording("generators.py")
    acc = frames(rec, "accumulator")
    kinds = [e.kind for e in acc if e.kind != "line"]
    assert kinds == ["call", "yield", "resume", "yield", "resume", "yield", "resume", "return"]
    assert [e.value for e in acc if e.kind in ("yield", "return")] == ["0", "5", "12", "12"]
    assert [e.locals.get("value") for e in acc if e.kind == "resume"] == [None, "5", "7"]
    assert {e.depth for e in acc} == {1}
    # sum(x * x for x in counted(4)): the generator expression drives `counted` one level down.
    genexpr = [e for e in frames(rec, "<genexpr>") if e.kind in ("yield", "return")]
    assert [e.value for e in genexpr] == ["0", "1", "4", "9", "None"]
    counted = [(e.kind, e.depth) for e in frames(rec, "counted") if e.kind != "line"]
    assert counted == [("call", 2), *[("yield", 2), ("resume", 2)] * 4, ("return", 2)]
    assert rec.stdout == "accumulated 12\nsquares 14\n"


def test_generators_ended_early_unwind_and_3_13_closes_a_plain_yield_silently():
    rec = recording("generator_exits.py")
    ticker = [(e.kind, e.line, e.value) for e in frames(rec, "ticker")]
    started = [("call", 4, None), ("line", 5, None), ("yield", 5, "1")]
    thrown = [("resume", 5, None), ("exception", 5, "KeyError"), ("unwind", 5, None)]
    unstarted = [("call", 4, None), ("exception", 4, "ValueError"), ("unwind", 4, None)]
    if PY313:
        # 3.13 fires no event at all when a generator suspended at a `yield` outside any `try`
        # is closed (recorder/DESIGN.md 3.2).
        closed = []
    else:
        closed = [("resume", 5, None), ("exception", 5, "GeneratorExit"), ("unwind", 5, None)]
    assert ticker == started + thrown + unstarted + started + closed
    guarded = [(e.kind, e.line) for e in frames(rec, "guarded")]
    assert guarded == [
        ("call", 9),
        ("line", 10),
        ("line", 11),
        ("yield", 11),
        ("resume", 11),
        ("exception", 11),
        ("line", 13),
        ("unwind", 13),
    ]


def test_async_coroutines_suspend_at_await_and_return_their_values():
    rec = recording("async_await.py")
    main = [e.kind for e in frames(rec, "main") if e.kind != "line"]
    assert main == ["call", "yield", "resume", "exception", "return"]
    double = [(e.kind, e.locals["x"]) for e in frames(rec, "double") if e.kind != "line"]
    assert double == [
        ("call", "1"),
        ("yield", "1"),
        ("call", "2"),
        ("yield", "2"),
        ("resume", "1"),
        ("exception", "1"),  # StopIteration of the finished sleep(0): not in flight
        ("return", "1"),
        ("resume", "2"),
        ("exception", "2"),
        ("return", "2"),
    ]
    assert [e.value for e in frames(rec, "double") if e.kind == "return"] == ["2", "4"]
    assert frames(rec, "main")[-1].locals == {"results": "[2, 4]", "total": "6"}
    assert {e.depth for e in frames(rec, "main") + frames(rec, "double")} == {1}


def test_threads_are_recorded_separately_under_their_names():
    rec = recording("threads.py")
    assert sorted(rec.threads) == [MAIN_THREAD, "worker-1", "worker-2"]
    for name, n, total in (("worker-1", "3", "3"), ("worker-2", "6", "15")):
        events = rec.events_of(name)
        assert summary([events[0], events[-1]]) == [
            ("call", "work", 8, 0),
            ("return", "work", 12, 0),
        ]
        assert events[0].locals == {"name": repr(name), "n": n}
        assert events[-1].locals["total"] == total
        assert {e.function for e in events} == {"work"}
    assert [line for _, line in rec.line_sequence("worker-2")] == [9, 10, *[11, 10] * 6, 12]
    assert {e.function for e in rec.events_of()} == {"<module>"}
    assert rec.stdout == "[('worker-1', 3), ('worker-2', 15)]\n"


def test_comprehensions_in_a_function_show_their_variable_while_they_run():
    rec = recording("comprehensions.py")
    lines = [e for e in frames(rec, "tables") if e.kind == "line"]
    # PEP 709: the comprehension's `x` is the function's own `x` while it runs, then restored.
    assert [e.locals["x"] for e in lines if e.line == 6] == ["'outer'", "0", "1", "2"]
    assert lines[[e.line for e in lines].index(7)].locals["x"] == "'outer'"
    assert [e.locals.get("word") for e in lines if e.line == 7] == [None, "'a'", "'bb'", "'ccc'"]
    returned = "('outer', [0, 1, 4], {'a': 1, 'bb': 2, 'ccc': 3}, {0, 1}, [[0, 0], [0, 1]])"
    assert frames(rec, "tables")[-1].value == returned


def test_closures_show_cell_and_free_variables_as_locals():
    rec = recording("closures.py")
    increments = frames(rec, "make_counter.<locals>.increment")
    assert [(e.kind, e.locals) for e in increments if e.kind in ("call", "return")] == [
        ("call", {"step": "1", "count": "10"}),
        ("return", {"step": "1", "count": "11"}),
        ("call", {"step": "5", "count": "11"}),
        ("return", {"step": "5", "count": "16"}),
    ]
    greet = frames(rec, "make_greeter.<locals>.greet")
    assert greet[0].locals == {"name": "'world'", "greeting": "'hello'"}
    assert greet[-1].value == "'hello, world'"


def test_class_body_methods_properties_and_a_user_repr():
    rec = recording("classes.py")
    body = frames(rec, "Account")
    assert summary([body[0], body[-1]]) == [("call", "Account", 4, 1), ("return", "Account", 23, 1)]
    # A decorated def: the decorator line, the def line, then the decorator line again to apply it.
    body_lines = [e.line for e in body if e.kind == "line"]
    assert body_lines == [4, 5, 9, 10, 9, 10, 13, 14, 13, 14, 19, 23]
    assert {k: normalize_addresses(v) for k, v in body[-1].locals.items()} == {
        "balance": "<property object at 0x...>",
        "deposit": "<function Account.deposit at 0x...>",
    }  # dunder names (__init__, __repr__, __module__, ...) are not listed
    init = [e.locals["self"] for e in frames(rec, "Account.__init__")]
    # The user __repr__ runs on a half-built object first: a failing repr is recorded, not raised.
    assert init == ["<repr failed: AttributeError>"] * 3 + ["Account('ada', 0)"]
    # The getter starts at its decorator line 9, the setter at 13 (co_firstlineno).
    assert [e.line for e in frames(rec, "Account.balance") if e.kind == "call"] == [9, 13, 9, 9]
    deposit = frames(rec, "Account.deposit")
    assert deposit[-1].locals == {"self": "Account('ada', 30)", "amount": "30"}
    assert [e.function for e in rec.events_of() if e.kind == "call"][-4:] == [
        "Account.balance",
        "Account.balance",
        "Account.balance",
        "Account.__repr__",
    ]
    assert rec.stdout == "Account('ada', 30) 30\n"


def test_with_statement_enters_exits_and_suppresses():
    rec = recording("with_statement.py")
    exits = [e for e in frames(rec, "Tracker.__exit__") if e.kind == "call"]
    assert [e.locals["exc_type"] for e in exits] == ["None", "<class 'KeyError'>"]
    returns = [e.value for e in frames(rec, "Tracker.__exit__") if e.kind == "return"]
    assert returns == ["False", "True"]
    module = [e for e in rec.events_of() if e.function == "<module>" and e.kind == "exception"]
    assert [(e.line, e.value) for e in module] == [(21, "KeyError")]
    assert rec.events_of()[-1].kind == "return"
    assert rec.stdout == "['enter', 'body', 'exit None'] ['enter', 'exit KeyError']\n"


def test_deleted_names_disappear_from_the_locals():
    rec = recording("deletion.py")
    scratch = {e.line: e.locals for e in frames(rec, "scratch") if e.kind == "line"}
    assert scratch[7] == {"temp": "[1, 2, 3]", "kept": "6"}
    assert scratch[8] == {"kept": "6"}  # after `del temp`
    assert scratch[11] == {"kept": "6", "e": "RuntimeError('boom')"}
    assert scratch[12] == {"kept": "6", "message": "'boom'"}  # `except ... as e` deleted `e`
    module = [e.locals for e in rec.events_of() if e.function == "<module>" and e.kind == "line"]
    assert "marker" in module[-2] and "marker" not in module[-1]


def test_large_containers_are_cut_at_256_characters():
    rec = recording("large_containers.py")
    final = frames(rec, "build")[-1].locals
    assert len(final["numbers"]) == 256 and final["numbers"] == repr(list(range(100)))[:256]
    assert len(final["table"]) == 256 and final["table"].startswith("{0: '0', 1: '1', 2: '2', ")
    assert rec.stdout == "(100000, 10000)\n"


def test_failing_reprs_are_recorded_as_repr_failed():
    rec = recording("bad_repr.py")
    assert frames(rec, "hold")[-1].locals == {
        "bad": "<repr failed: ValueError>",
        "worse": "<repr failed: RecursionError>",
    }
    # The oracle's own repr() calls run inside the trace function: never recorded as events.
    assert not frames(rec, "Raising.__repr__") and not frames(rec, "Looping.__repr__")
    assert rec.stdout == "('Raising', 'Looping')\n"


def test_argv_reaches_the_script_and_sys_exit_sets_the_status():
    rec = recording("argv_exit.py", "alpha", "beta")
    assert rec.exit_status == 3
    assert rec.stdout == "args ['alpha', 'beta']\n"
    assert rec.locals_at(MAIN_THREAD, 3)["args"] == "['alpha', 'beta']"
    assert summary(rec.events_of()[-2:]) == [
        ("exception", "<module>", 7, 0),
        ("unwind", "<module>", 7, 0),
    ]
    assert rec.events_of()[-2].value == "SystemExit"


def test_files_next_to_the_script_are_recorded_too():
    rec = recording("imports_sibling.py")
    sibling = [e for e in rec.events_of() if e.file.endswith(f"{os.sep}_sibling.py")]
    assert summary(sibling) == [
        ("call", "<module>", 0, 1),
        ("line", "<module>", 1, 1),
        ("line", "<module>", 3, 1),
        ("line", "<module>", 6, 1),
        ("return", "<module>", 6, 1),
        ("call", "shout", 6, 1),
        ("line", "shout", 7, 1),
        ("line", "shout", 8, 1),
        ("return", "shout", 8, 1),
    ]
    assert sibling[-1].value == "'>> HI'"
    # Nothing from the standard library (importlib ran the import) or the oracle itself.
    assert {Path(e.file).name for e in rec.events_of()} == {"imports_sibling.py", "_sibling.py"}


def test_module_scope_comprehension_is_not_read_where_f_locals_would_corrupt_it():
    rec = recording("module_comprehension.py")
    assert rec.stdout == "outer [0, 2, 4] [0, 1] ['A', 'B']\n"  # the program is unchanged
    at_line_4 = [e for e in rec.line_events() if e.function == "<module>" and e.line == 4]
    table = [e for e in frames(rec, "Table") if e.kind == "line"]
    if PY313:
        # 3.13: f_locals is safe; the comprehension's variable is laid over the globals.
        assert [e.locals["y"] for e in at_line_4] == ["'outer'", "0", "1", "2"]
        at_line_6 = [e.locals for e in rec.line_events() if e.line == 6]
        assert at_line_6 == [{"y": "0", "ys": "[0, 2, 4]"}, {"y": "1", "ys": "[0, 2, 4]"}]
        # In a class body the namespace is out of reach while the comprehension runs.
        assert [e.unobserved is None for e in table] == [True, True, False, False]
    else:
        # 3.12: reading f_locals inside the comprehension changes the program; not observed.
        assert at_line_4[0].locals == {"y": "'outer'"}
        assert [e.locals for e in at_line_4[1:]] == [None, None, None]
        assert at_line_4[1].unobserved.startswith("3.12: inside a module-level inlined")
        assert {e.unobserved for e in frames(rec, "Table")} == {
            "3.12: class body with an inlined comprehension (f_locals would corrupt it)"
        }
        with pytest.raises(Unobserved):
            rec.locals_at(MAIN_THREAD, rec.line_events().index(at_line_4[1]))
    assert rec.line_events()[-1].locals["zs"] == "[0, 1]"


def test_comprehension_shadowing_a_cell_is_not_read_on_3_13():
    rec = recording("shadowed_cell.py")
    assert rec.exit_status == 0 and rec.stdout == "([50, 60], 1)\n"  # no crash
    at_line_7 = [e for e in frames(rec, "shadow") if e.kind == "line" and e.line == 7]
    if PY313:
        # 3.13.0 segfaults on f_locals here (gh-128396): the oracle does not look.
        assert [e.locals for e in at_line_7[1:]] == [None, None]
        assert at_line_7[1].unobserved.startswith("3.13: inside an inlined comprehension")
    else:
        assert [e.locals["k"] for e in at_line_7[1:]] == ["5", "6"]
    assert at_line_7[0].locals["k"] == "1"
    assert frames(rec, "shadow")[-1].locals["k"] == "1"


def test_recording_survives_a_json_round_trip():
    rec = recording("generators.py")
    assert Recording.from_json(rec.to_json()) == rec


@pytest.mark.parametrize("name", CORPUS)
def test_script_behaves_as_without_the_oracle(name):
    """Same stdout, stderr and exit status as `python script.py`, and well-nested events."""
    argv = ("alpha", "beta") if name == "argv_exit.py" else ()
    rec = recording(name, *argv)
    plain = subprocess.run(
        [sys.executable, SCRIPTS / name, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **CHILD_ENV},
    )
    assert (rec.stdout, rec.stderr) == (plain.stdout, plain.stderr)
    assert rec.exit_status == plain.returncode
    assert rec.errors == []
    seqs = sorted(e.seq for events in rec.threads.values() for e in events)
    assert seqs == list(range(len(seqs)))
    for thread, events in rec.threads.items():
        stack: list[str] = []
        for e in events:
            if e.kind in ("call", "resume"):
                assert e.depth == len(stack), (thread, e)
                stack.append(e.function)
                continue
            assert stack and (e.depth, e.function) == (len(stack) - 1, stack[-1]), (thread, e)
            if e.kind in ("return", "yield", "unwind"):
                stack.pop()
        assert stack == [], thread
