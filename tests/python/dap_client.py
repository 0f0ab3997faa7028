"""A small Debug Adapter Protocol client for tests, over a subprocess's stdin/stdout or over TCP.

Messages are framed as `Content-Length: N\\r\\n\\r\\n` followed by N bytes of UTF-8 JSON. A reader
thread turns the server's byte stream into messages on a queue; everything else (validation,
matching responses to requests, keeping events in order) happens on the test's own thread, so a
failure is an ordinary AssertionError in the test.

Every message sent and received is validated against the DAP JSON schema in tests/dap/ (see
`SchemaValidator`). On top of the schema the client checks what the schema cannot express: the
server's `seq` starts at 1 and grows by 1 per message, a response names the command it answers, and
a failed response carries a `message`.

    with DapClient.spawn([pyttd, "dap"]) as client:
        client.request_ok("initialize", {"adapterID": "pyttd"})
        stopped = client.wait_event("stopped")
"""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "dap" / "debugAdapterProtocol.json"

# Text a Rust panic always prints; its presence on the server's stderr fails the test.
PANIC_TEXT = "panicked at"


# --- schema validation -------------------------------------------------------------------------


class SchemaValidator:
    """Validates DAP messages against the definitions of the protocol's JSON schema (draft-04).

    A request is checked against `<Command>Request` (command with its first letter upper-cased:
    `stackTrace` -> `StackTraceRequest`), a response against `<Command>Response`, an event against
    `<Event>Event`. Commands and events the schema does not define (pyttd's `pyttd/...` ones) are
    checked against the generic `Request` / `Response` / `Event`.

    A failed response (`success: false`) is checked against `ErrorResponse`, not the command's
    response: the schema says ErrorResponse is the shape "whenever `success` is false", while most
    command responses require a success-shaped body (`StackTraceResponse` requires
    `body.stackFrames`, `EvaluateResponse` requires `body.result`, ...), which an error cannot
    carry. Note that `ErrorResponse` requires `body` (an object; its `error` member, a `Message`
    with required `id` and `format`, is optional), so an error response must send at least
    `"body": {}`.
    """

    BASE_URI = "urn:debug-adapter-protocol"

    def __init__(self, document: dict[str, Any]):
        self.definitions: dict[str, Any] = document["definitions"]
        resource = DRAFT4.create_resource(document)
        self._registry = Registry().with_resource(self.BASE_URI, resource)
        self._validators: dict[str, Draft4Validator] = {}

    @classmethod
    def load(cls, path: Path = SCHEMA_PATH) -> SchemaValidator:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def definition_for(self, message: dict[str, Any]) -> str:
        """The name of the schema definition `message` must satisfy."""
        kind = message.get("type")
        if kind == "request":
            return self._specific(message.get("command"), "Request")
        if kind == "response":
            if message.get("success") is False:
                return "ErrorResponse"
            return self._specific(message.get("command"), "Response")
        if kind == "event":
            return self._specific(message.get("event"), "Event")
        # Not a request, response or event: the base definition reports what is wrong.
        return "ProtocolMessage"

    def _specific(self, name: Any, suffix: str) -> str:
        if isinstance(name, str) and name:
            candidate = name[0].upper() + name[1:] + suffix
            if candidate in self.definitions:
                return candidate
        return suffix

    def validate(self, message: Any, what: str = "message") -> str:
        """Raise AssertionError unless `message` satisfies its definition; returns the definition."""
        if not isinstance(message, dict):
            raise AssertionError(f"{what} is not a JSON object: {_short(message)}")
        name = self.definition_for(message)
        validator = self._validators.get(name)
        if validator is None:
            schema = {"$ref": f"{self.BASE_URI}#/definitions/{name}"}
            validator = Draft4Validator(schema, registry=self._registry)
            self._validators[name] = validator
        errors = sorted(validator.iter_errors(message), key=lambda e: (list(e.absolute_path), e.message))
        if errors:
            lines = [f"{what} does not satisfy DAP schema definition {name!r}: {_short(message)}"]
            for error in errors[:5]:
                at = "/" + "/".join(str(p) for p in error.absolute_path)
                schema_path = "/".join(str(p) for p in error.absolute_schema_path)
                lines.append(f"  at {at}: {error.message} (schema path: {schema_path})")
            if len(errors) > 5:
                lines.append(f"  ... and {len(errors) - 5} more")
            raise AssertionError("\n".join(lines))
        return name


_VALIDATOR: SchemaValidator | None = None


def validator() -> SchemaValidator:
    """The validator over tests/dap/debugAdapterProtocol.json (loaded once)."""
    global _VALIDATOR
    if _VALIDATOR is None:
        _VALIDATOR = SchemaValidator.load()
    return _VALIDATOR


def validate_message(message: Any, what: str = "message") -> str:
    """Validate one DAP message (see SchemaValidator) plus the rules the schema cannot state."""
    name = validator().validate(message, what)
    if message.get("type") == "response" and message.get("success") is False:
        # Response.message "contains the raw error in short form if `success` is false".
        text = message.get("message")
        if not isinstance(text, str) or not text:
            raise AssertionError(f"{what}: a failed response must carry a non-empty `message`: {_short(message)}")
    return name


def _short(value: Any, limit: int = 600) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "..."


# --- framing -----------------------------------------------------------------------------------


class FramingError(Exception):
    """The byte stream is not a sequence of `Content-Length` framed JSON objects."""


def encode_message(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_message(stream: BinaryIO) -> dict[str, Any] | None:
    """Read one framed message; None at a clean end of stream (between messages)."""
    length = None
    first = True
    while True:
        line = stream.readline()
        if not line:
            if first:
                return None
            raise FramingError("stream ended inside a message header")
        first = False
        if not line.endswith(b"\r\n"):
            raise FramingError(f"header line not terminated by CRLF: {line!r}")
        if line == b"\r\n":
            break
        name, sep, value = line[:-2].partition(b":")
        if not sep:
            raise FramingError(f"header line without ':': {line!r}")
        if name.strip().lower() == b"content-length":
            value = value.strip()
            if not value.isdigit():
                raise FramingError(f"Content-Length is not a non-negative integer: {line!r}")
            length = int(value)
    if length is None:
        raise FramingError("message header without Content-Length")
    body = stream.read(length)
    if len(body) != length:
        raise FramingError(f"stream ended after {len(body)} of {length} body bytes: {body[:200]!r}")
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FramingError(f"body is not UTF-8 JSON ({error}): {body[:200]!r}") from None
    if not isinstance(message, dict):
        raise FramingError(f"body is not a JSON object: {body[:200]!r}")
    return message


# --- the client --------------------------------------------------------------------------------


class DapClient:
    """One DAP session. Create with `spawn` (stdio) or `connect` (TCP); use as a context manager."""

    def __init__(
        self,
        reader: BinaryIO,
        write: Callable[[bytes], None],
        close_output: Callable[[], None],
        *,
        process: subprocess.Popen | None = None,
        stderr_path: Path | None = None,
        description: str,
    ):
        self.process = process
        self.stderr_path = stderr_path
        self.description = description
        self._write = write
        self._close_output = close_output
        self._output_closed = False
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._seq = 0
        self._sent: dict[int, str] = {}  # request seq -> command
        self._responses: dict[int, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._consumed: set[int] = set()  # indices into _events handed out by wait_event
        self.reverse_requests: list[dict[str, Any]] = []
        self._expected_server_seq = 1
        self.closed_by_server = False
        self._closing = False
        self._reader_stream = reader
        self._reader = threading.Thread(target=self._read_loop, args=(reader,), daemon=True)
        self._reader.start()

    # construction

    @classmethod
    def spawn(cls, argv: list[str], cwd: str | Path | None = None, env: dict[str, str] | None = None) -> DapClient:
        """Start `argv` speaking DAP on its stdin/stdout; its stderr goes to a temporary file."""
        fd, name = tempfile.mkstemp(prefix="dap-stderr-", suffix=".txt")
        try:
            process = subprocess.Popen(
                [str(a) for a in argv],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=fd,
                cwd=cwd,
                env={**os.environ, "NO_COLOR": "1", **(env or {})},
            )
        finally:
            os.close(fd)
        assert process.stdin is not None and process.stdout is not None

        def write(data: bytes) -> None:
            process.stdin.write(data)
            process.stdin.flush()

        return cls(
            process.stdout,
            write,
            process.stdin.close,
            process=process,
            stderr_path=Path(name),
            description=" ".join(str(a) for a in argv),
        )

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        *,
        timeout: float = 10,
        process: subprocess.Popen | None = None,
        stderr_path: Path | None = None,
    ) -> DapClient:
        """Connect over TCP. If `process` (the listening server) is given, the client owns it."""
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.settimeout(None)
        reader = sock.makefile("rb")

        def close_output() -> None:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        client = cls(reader, sock.sendall, close_output, process=process, stderr_path=stderr_path,
                     description=f"tcp {host}:{port}")
        client._socket = sock
        return client

    def __enter__(self) -> DapClient:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
        stderr = self.stderr_text()
        if self.stderr_path is not None:
            self.stderr_path.unlink(missing_ok=True)
        if exc_type is None:
            assert PANIC_TEXT not in stderr, f"the DAP server panicked:\n{stderr}"
        elif exc is not None and stderr and stderr.strip()[-200:] not in str(exc):
            exc.add_note(f"DAP server stderr ({self.description}):\n{stderr[-3000:]}")

    def close(self, timeout: float = 5) -> int | None:
        """Close our side, give the server `timeout` seconds to exit, then kill it. Returns its status."""
        if self._closing:
            return self.process.returncode if self.process else None
        self._closing = True
        self.close_output()
        status = None
        if self.process is not None:
            try:
                status = self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                status = self.process.wait()
        sock = getattr(self, "_socket", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self._reader.join(timeout)
        self._reader_stream.close()
        return status

    def close_output(self) -> None:
        """Close the stream to the server (the server sees end of input)."""
        if not self._output_closed:
            self._output_closed = True
            try:
                self._close_output()
            except OSError:
                pass

    # server process

    def stderr_text(self) -> str:
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def wait_exit(self, timeout: float = 10) -> int:
        """Wait for the server process to exit by itself; its exit status."""
        assert self.process is not None, "no server process"
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the DAP server did not exit within {timeout}s{self._context()}") from None

    def _context(self) -> str:
        parts = []
        if self.process is not None and self.closed_by_server:
            try:
                self.process.wait(1)  # it closed its output: give it a moment to exit
            except subprocess.TimeoutExpired:
                pass
        if self.process is not None and self.process.poll() is not None:
            parts.append(f"exit status {self.process.returncode}")
        stderr = self.stderr_text()
        if stderr:
            parts.append("stderr:\n" + stderr[-3000:])
        return ("\n" + "\n".join(parts)) if parts else ""

    # sending

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (for malformed-input tests); nothing is validated."""
        try:
            self._write(data)
        except (BrokenPipeError, ConnectionError) as error:
            raise AssertionError(f"cannot write to the DAP server ({error}){self._context()}") from None

    def send_request(self, command: str, arguments: Any = None) -> int:
        """Send a request (validated against the schema) without waiting; its seq."""
        message: dict[str, Any] = {"seq": self.next_seq(), "type": "request", "command": command}
        if arguments is not None:
            message["arguments"] = arguments
        validate_message(message, f"request {command!r} sent by the test")
        self._sent[message["seq"]] = command
        self.send_raw(encode_message(message))
        return message["seq"]

    def send_unchecked(self, message: dict[str, Any]) -> int:
        """Send a request that may break the schema (e.g. wrongly typed arguments); its seq.

        The client gives it the next seq and remembers its command to match the response.
        """
        message = {"seq": self.next_seq(), "type": "request", **message}
        self._sent[message["seq"]] = message.get("command", "")
        self.send_raw(encode_message(message))
        return message["seq"]

    def request(self, command: str, arguments: Any = None, timeout: float = 10) -> dict[str, Any]:
        """Send a request and wait for its response; the whole response."""
        return self.wait_response(self.send_request(command, arguments), timeout)

    def request_ok(self, command: str, arguments: Any = None, timeout: float = 10) -> dict[str, Any]:
        """Send a request, assert it succeeded; its body ({} when absent)."""
        response = self.request(command, arguments, timeout)
        if not response["success"]:
            shown = command if arguments is None else f"{command} {_short(arguments)}"
            raise AssertionError(f"{shown} failed: {response.get('message')!r} body={_short(response.get('body'))}")
        return response.get("body") or {}

    # receiving

    def wait_response(self, request_seq: int, timeout: float = 10, allow_close: bool = False) -> dict[str, Any] | None:
        """The response to request `request_seq`; with allow_close, None if the server closed first."""
        deadline = time.monotonic() + timeout
        while request_seq not in self._responses:
            if not self._pump(deadline):
                if allow_close and self.closed_by_server:
                    return None
                what = repr(self._sent.get(request_seq, "raw message"))
                state = "closed the connection" if self.closed_by_server else f"sent nothing within {timeout}s"
                raise AssertionError(
                    f"no response to request {request_seq} ({what}): the server {state}"
                    f"; events so far: {[e['event'] for e in self._events]}{self._context()}"
                )
        return self._responses.pop(request_seq)

    def wait_event(
        self,
        name: str,
        timeout: float = 10,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """The first event named `name` (matching `predicate`) not yet returned by wait_event."""
        deadline = time.monotonic() + timeout
        while True:
            for index, event in enumerate(self._events):
                if index in self._consumed or event["event"] != name:
                    continue
                if predicate is None or predicate(event):
                    self._consumed.add(index)
                    return event
            if not self._pump(deadline):
                state = "closed the connection" if self.closed_by_server else f"sent none within {timeout}s"
                raise AssertionError(
                    f"waiting for event {name!r}: the server {state}; "
                    f"{name!r} events received: {[e.get('body') for e in self.events(name)]}; "
                    f"all events: {[e['event'] for e in self._events]}{self._context()}"
                )

    def events(self, name: str) -> list[dict[str, Any]]:
        """Every event named `name` received so far, in order (consumed or not)."""
        self.drain()
        return [e for e in self._events if e["event"] == name]

    def pending(self, name: str) -> list[dict[str, Any]]:
        """Events named `name` received so far that wait_event has not returned yet."""
        self.drain()
        return [e for i, e in enumerate(self._events) if e["event"] == name and i not in self._consumed]

    def drain(self) -> None:
        """Process every message already received, without waiting."""
        while self._pump(time.monotonic()):
            pass

    def wait_closed(self, timeout: float = 10) -> None:
        """Wait until the server closes its output; messages before that are processed as usual."""
        deadline = time.monotonic() + timeout
        while not self.closed_by_server:
            if not self._pump(deadline) and not self.closed_by_server:
                raise AssertionError(f"the server did not close the connection within {timeout}s{self._context()}")

    def _pump(self, deadline: float) -> bool:
        """Handle one item from the reader; False if none came before `deadline` or the stream ended."""
        if self.closed_by_server:
            return False
        try:
            kind, item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return False
        if kind == "eof":
            self.closed_by_server = True
            return False
        if kind == "error":
            self.closed_by_server = True
            raise AssertionError(f"malformed message framing from the DAP server: {item}{self._context()}")
        self._handle(item)
        return True

    def _handle(self, message: dict[str, Any]) -> None:
        what = f"{message.get('type')} {message.get('command') or message.get('event')!r} from the server"
        validate_message(message, what)
        assert message["seq"] == self._expected_server_seq, (
            f"{what} has seq {message['seq']}, expected {self._expected_server_seq} "
            f"(the adapter's first message has seq 1, each next one 1 more): {_short(message)}"
        )
        self._expected_server_seq += 1
        kind = message["type"]
        if kind == "response":
            request_seq = message["request_seq"]
            command = self._sent.get(request_seq)
            if command is not None:
                assert message["command"] == command, (
                    f"response to request {request_seq} ({command!r}) names command {message['command']!r}"
                )
            assert request_seq not in self._responses, f"second response to request {request_seq}: {_short(message)}"
            self._responses[request_seq] = message
        elif kind == "event":
            self._events.append(message)
        else:
            self.reverse_requests.append(message)

    def _read_loop(self, stream: BinaryIO) -> None:
        try:
            while True:
                message = read_message(stream)
                if message is None:
                    self._queue.put(("eof", None))
                    return
                self._queue.put(("message", message))
        except FramingError as error:
            self._queue.put(("error", str(error)))
        except (OSError, ValueError) as error:  # the stream was closed under us
            self._queue.put(("eof", None) if self._closing else ("error", f"reading failed: {error!r}"))


# --- a server started with --listen ------------------------------------------------------------


LISTENING = re.compile(r"^listening on (?P<host>[0-9.]+|\[[0-9a-fA-F:]+\]):(?P<port>\d+)$")


def start_listening(argv: list[str], cwd: str | Path | None = None, timeout: float = 10):
    """Start a server that prints `listening on HOST:PORT` as its first stderr line.

    Returns (process, stderr_path, first_line); pass process and stderr_path on to
    `DapClient.connect` so the client owns the process.
    """
    fd, name = tempfile.mkstemp(prefix="dap-stderr-", suffix=".txt")
    try:
        process = subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=fd,
            cwd=cwd,
            env={**os.environ, "NO_COLOR": "1"},
        )
    finally:
        os.close(fd)
    path = Path(name)
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text(encoding="utf-8", errors="replace")
        if "\n" in text:
            return process, path, text.split("\n", 1)[0]
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise AssertionError(
                f"no first stderr line from {argv} (exit status {process.returncode}); stderr: {text!r}"
            )
        time.sleep(0.01)
