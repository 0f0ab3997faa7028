"""The DAP test client itself (tests/python/dap_client.py): schema validation on hand-written
messages, framing, and a round trip with a tiny fake server. Runs without `pyttd dap`."""

import io
import json
import sys
import time

import pytest
from jsonschema import Draft4Validator

from dap_client import SCHEMA_PATH, DapClient, FramingError, encode_message, read_message, validate_message, validator


def stopped_event(**body):
    return {"seq": 7, "type": "event", "event": "stopped", "body": body}


def response(command, body=None, success=True, **extra):
    message = {"seq": 3, "type": "response", "request_seq": 2, "success": success, "command": command, **extra}
    if body is not None:
        message["body"] = body
    return message


FRAME = {"id": 1, "name": "square", "line": 5, "column": 1, "source": {"path": "/home/you/app/dap_basic.py"}}


def test_the_schema_is_a_valid_draft4_schema():
    Draft4Validator.check_schema(json.loads(SCHEMA_PATH.read_text()))


@pytest.mark.parametrize(
    "message, definition",
    [
        ({"type": "request", "command": "stackTrace"}, "StackTraceRequest"),
        ({"type": "response", "command": "stackTrace", "success": True}, "StackTraceResponse"),
        ({"type": "response", "command": "stackTrace", "success": False}, "ErrorResponse"),
        ({"type": "event", "event": "stopped"}, "StoppedEvent"),
        ({"type": "request", "command": "pyttd/timeline"}, "Request"),
        ({"type": "response", "command": "pyttd/timeline", "success": True}, "Response"),
        ({"type": "event", "event": "pyttd/position"}, "Event"),
        ({"seq": 1}, "ProtocolMessage"),
    ],
)
def test_definition_names(message, definition):
    assert validator().definition_for(message) == definition


def test_a_valid_stopped_event_passes():
    assert validate_message(stopped_event(reason="step", threadId=1, allThreadsStopped=True)) == "StoppedEvent"


def test_a_stopped_event_without_reason_fails():
    with pytest.raises(AssertionError) as failure:
        validate_message(stopped_event(threadId=1), "the stop")
    text = str(failure.value)
    assert "the stop does not satisfy DAP schema definition 'StoppedEvent'" in text
    assert "at /body: 'reason' is a required property" in text
    assert "schema path: " in text and "required" in text


def test_a_stopped_event_with_a_wrongly_typed_thread_id_fails():
    with pytest.raises(AssertionError, match="at /body/threadId: '1' is not of type 'integer'"):
        validate_message(stopped_event(reason="step", threadId="1"))


def test_a_stack_trace_response_passes():
    assert validate_message(response("stackTrace", {"stackFrames": [FRAME], "totalFrames": 1})) == "StackTraceResponse"


def test_a_stack_frame_without_line_fails():
    frame = {k: v for k, v in FRAME.items() if k != "line"}
    with pytest.raises(AssertionError, match=r"at /body/stackFrames/0: 'line' is a required property"):
        validate_message(response("stackTrace", {"stackFrames": [frame]}))


def test_a_stack_trace_response_without_body_fails():
    with pytest.raises(AssertionError, match="'body' is a required property"):
        validate_message(response("stackTrace"))


def test_a_custom_timeline_response_passes_generic_validation():
    body = {"buckets": [{"index": 0, "firstSeq": 0, "lastSeq": 9, "events": 10, "maxDepth": 1, "exceptions": 0,
                         "breakpointHits": 2}]}
    assert validate_message(response("pyttd/timeline", body)) == "Response"
    position = {"seq": 5, "type": "event", "event": "pyttd/position",
                "body": {"seq": 4, "threadId": 0, "file": "/home/you/app/x.py", "line": 11, "callId": 1}}
    assert validate_message(position) == "Event"
    request = {"seq": 1, "type": "request", "command": "pyttd/timeline", "arguments": {"buckets": 4}}
    assert validate_message(request) == "Request"


def test_generic_validation_still_checks_the_envelope():
    with pytest.raises(AssertionError, match="'request_seq' is a required property"):
        validate_message({"seq": 1, "type": "response", "success": True, "command": "pyttd/stats"})


def test_error_responses_are_checked_as_error_response():
    assert validate_message(response("stackTrace", {}, success=False, message="no such thread")) == "ErrorResponse"
    error = {"error": {"id": 1, "format": "no such thread {id}", "variables": {"id": "9"}}}
    assert validate_message(response("evaluate", error, success=False, message="bad")) == "ErrorResponse"
    with pytest.raises(AssertionError, match="'body' is a required property"):
        validate_message(response("stackTrace", success=False, message="no such thread"))
    with pytest.raises(AssertionError, match="'format' is a required property"):
        validate_message(response("evaluate", {"error": {"id": 1}}, success=False, message="bad"))
    with pytest.raises(AssertionError, match="must carry a non-empty `message`"):
        validate_message(response("stackTrace", {}, success=False))


def test_requests_are_checked_against_their_arguments():
    with pytest.raises(AssertionError, match="'threadId' is a required property"):
        validate_message({"seq": 1, "type": "request", "command": "next", "arguments": {}})


# --- framing ---


def test_read_message_reads_consecutive_frames_then_none():
    stream = io.BytesIO(encode_message({"a": "é"}) + b"Content-Length: 2\r\nX-Other: 1\r\n\r\n{}")
    assert read_message(stream) == {"a": "é"}
    assert read_message(stream) == {}
    assert read_message(stream) is None


@pytest.mark.parametrize(
    "data, complaint",
    [
        (b"Content-Length: abc\r\n\r\n{}", "not a non-negative integer"),
        (b"Content-Length: 2\n\n{}", "not terminated by CRLF"),
        (b"Content-Type: json\r\n\r\n{}", "without Content-Length"),
        (b"Content-Length: 10\r\n\r\n{}", "ended after 2 of 10 body bytes"),
        (b"Content-Length: 3\r\n\r\n{x}", "not UTF-8 JSON"),
        (b"Content-Length: 2\r\n\r\n[]", "not a JSON object"),
        (b"Content-Length: 2\r\n", "ended inside a message header"),
    ],
)
def test_read_message_rejects_malformed_frames(data, complaint):
    with pytest.raises(FramingError, match=complaint):
        read_message(io.BytesIO(data))


# --- a round trip with a fake server ---

FAKE_SERVER = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from dap_client import encode_message, read_message
seq = 0
def send(message):
    global seq
    seq += 1
    sys.stdout.buffer.write(encode_message({"seq": seq, **message}))
    sys.stdout.buffer.flush()
while (request := read_message(sys.stdin.buffer)) is not None:
    command = request["command"]
    if command == "garbage":
        sys.stdout.buffer.write(b"Content-Length: x\r\n\r\n")
        sys.stdout.buffer.flush()
    elif command == "panic":
        sys.stderr.write("thread 'main' panicked at src/dap.rs:1:1:\noops\n")
        sys.exit(101)
    elif command == "badseq":
        seq += 5
        send({"type": "event", "event": "hello"})
    else:
        send({"type": "response", "request_seq": request["seq"], "success": command != "fail",
              "command": command, "body": {"echo": request.get("arguments")}, "message": "no"})
        send({"type": "event", "event": "output", "body": {"category": "console", "output": command}})
        if command == "initialize":
            send({"type": "event", "event": "initialized"})
"""


@pytest.fixture
def fake_server(tmp_path):
    script = tmp_path / "fake_dap_server.py"
    script.write_text(FAKE_SERVER)
    return [sys.executable, str(script), str(SCHEMA_PATH.parent.parent / "python")]


def test_requests_responses_and_events_round_trip(fake_server):
    with DapClient.spawn(fake_server) as client:
        assert client.request_ok("initialize", {"adapterID": "pyttd"}) == {"echo": {"adapterID": "pyttd"}}
        assert client.wait_event("initialized")["seq"] == 3
        failed = client.request("fail")
        assert failed["success"] is False and failed["message"] == "no"
        with pytest.raises(AssertionError, match="^fail failed: 'no' body="):
            client.request_ok("fail")
        # The server may write an output event after the response it belongs to: wait for it.
        deadline = time.monotonic() + 10
        while len(client.events("output")) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [e["body"]["output"] for e in client.events("output")] == ["initialize", "fail", "fail"]
        first = client.wait_event("output")
        assert first["body"]["output"] == "initialize"
        assert client.wait_event("output", predicate=lambda e: e["seq"] > 6)["seq"] == 7
        assert [e["seq"] for e in client.pending("output")] == [5]
        with pytest.raises(AssertionError, match="waiting for event 'stopped'"):
            client.wait_event("stopped", timeout=0.05)


def test_malformed_framing_from_the_server_fails_clearly(fake_server):
    with DapClient.spawn(fake_server) as client:
        client.send_request("garbage")
        with pytest.raises(AssertionError, match="malformed message framing from the DAP server: Content-Length"):
            client.wait_event("never")


def test_a_gap_in_the_server_seq_fails(fake_server):
    with DapClient.spawn(fake_server) as client:
        client.send_request("badseq")
        with pytest.raises(AssertionError, match="has seq 6, expected 1"):
            client.wait_event("hello")


def test_panic_text_on_stderr_fails_the_session(fake_server):
    with pytest.raises(AssertionError, match="the DAP server panicked"):
        with DapClient.spawn(fake_server) as client:
            client.send_request("panic")
            assert client.wait_exit() == 101


def test_a_server_that_exits_is_reported_with_its_stderr(fake_server):
    with pytest.raises(AssertionError, match=r"(?s)no response to request 1 \('panic'\).*closed the connection.*oops"):
        with DapClient.spawn(fake_server) as client:
            client.request("panic")
