"""Secret redaction: values under secret-looking names never reach the trace.

The corpus puts secrets in every place the recorder reads names from; every decoded row of every
table is then searched for every secret (the file is compressed, so a grep of the raw bytes would
prove nothing). With `--no-redact` the same secrets must be found, so the search can fail.
"""

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import PYTTD_SCRIPT
from pyttd import _native

CORPUS = """\
import sys
from collections import OrderedDict, namedtuple
from dataclasses import dataclass

db_password = "S3CRET-GLOBAL-01"
API_KEY = "S3CRET-GLOBAL-02"
config = {"user": "bob", "api_key": "S3CRET-DICT-03", "db": {"host": "h", "Password": "S3CRET-NESTED-04"}}
headers = OrderedDict(Authorization="S3CRET-ODICT-05")


class Settings:
    client_secret = "S3CRET-CLASS-06"


class Client:
    def __init__(self, authToken):
        self.authToken = authToken
        self.name = "client"

    def __repr__(self):
        return f"Client({self.name!r}, {self.authToken!r})"


class Plain:
    def __init__(self, password):
        self.password = password


@dataclass
class Creds:
    user: str
    private_key: str


Endpoint = namedtuple("Endpoint", "url token")


def login(user, password, **options):
    client = Client("S3CRET-ATTR-09")
    plain = Plain("S3CRET-ATTR-10")
    creds = Creds("bob", "S3CRET-FIELD-11")
    endpoint = Endpoint("http://x", "S3CRET-FIELD-12")
    session_token = password + "-derived"
    items = [config, {"passwd": "S3CRET-LIST-13"}]
    return user


def get_api_key():
    return "S3CRET-RETURN-14"


def secret_values():
    yield "S3CRET-YIELD-15"


login("bob", "S3CRET-ARG-07", credentials="S3CRET-KWARG-08")
my_api_key = get_api_key()
tokens = list(secret_values())
print("done")
"""

SECRETS = [
    "S3CRET-GLOBAL-01",
    "S3CRET-GLOBAL-02",
    "S3CRET-DICT-03",
    "S3CRET-NESTED-04",
    "S3CRET-ODICT-05",
    "S3CRET-CLASS-06",
    "S3CRET-ARG-07",
    "S3CRET-KWARG-08",
    "S3CRET-ATTR-09",
    "S3CRET-ATTR-10",
    "S3CRET-FIELD-11",
    "S3CRET-FIELD-12",
    "S3CRET-LIST-13",
    "S3CRET-RETURN-14",
    "S3CRET-YIELD-15",
]


def record(tmp_path: Path, *options: str) -> tuple[dict, bytes]:
    script = tmp_path / "corpus.py"
    script.write_text(CORPUS)
    out = tmp_path / "corpus.pyttd"
    result = subprocess.run(
        [str(PYTTD_SCRIPT), "record", *options, "-o", str(out), str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    trace = _native.read_trace(out)
    assert trace["state"] == "complete"
    return trace, out.read_bytes()


def record_source(tmp_path: Path, source: str) -> dict:
    """Records the script `source` (dedented) with the default redaction; its trace."""
    script = tmp_path / "s.py"
    script.write_text(textwrap.dedent(source))
    out = tmp_path / "s.pyttd"
    result = subprocess.run([str(PYTTD_SCRIPT), "record", "-o", str(out), str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return _native.read_trace(out)


def texts(trace: dict):
    """Every value of every decoded row of every table, as text."""
    for table, rows in trace.items():
        if isinstance(rows, list):
            for row in rows:
                for cell in row if isinstance(row, tuple) else (row,):
                    yield table, repr(cell)
        else:
            yield table, repr(rows)


def leaks(trace: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for table, text in texts(trace):
        for secret in SECRETS:
            if secret in text:
                found.setdefault(secret, []).append(table)
    return found


def test_no_secret_reaches_any_table(tmp_path):
    trace, raw = record(tmp_path)
    assert leaks(trace) == {}
    for secret in SECRETS:
        assert secret.encode() not in raw
    assert '"redact": true' in trace["settings"]
    values = trace["values"]
    redacted = {r[2] for r in values if r[5] == "redacted"}
    assert {"db_password", "API_KEY", "password", "authToken", "session_token", "client_secret", "my_api_key"} <= redacted
    # Nothing of a redacted value: only its type.
    for r in values:
        if r[5] == "redacted":
            assert (r[7], r[8], r[9], r[11]) == (None, None, None, None), r
    # Redacted containers keep their shape; the secret key's value is `<redacted>`.
    config = next(r for r in values if r[2] == "config")
    assert config[9] == "{'user': 'bob', 'api_key': <redacted>, 'db': {'host': 'h', 'Password': <redacted>}}"
    # The return value of `get_api_key` (return values have no name: the function's counts).
    returns = [r for r in values if r[3] == "return" and r[5] == "redacted"]
    assert returns


def test_no_redact_records_every_secret(tmp_path):
    trace, _ = record(tmp_path, "--no-redact")
    assert set(leaks(trace)) == set(SECRETS)
    assert '"redact": false' in trace["settings"]


def test_secret_pattern_adds_to_the_defaults(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(
        textwrap.dedent(
            """\
            ssn = "123-45-6789"
            card_pin = "4321"
            password = "pw"
            author = "Jane"
            """
        )
    )
    out = tmp_path / "s.pyttd"
    result = subprocess.run(
        [str(PYTTD_SCRIPT), "record", "--secret-pattern", "^ssn$", "--secret-pattern", "pin", "-o", str(out), str(script)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    tags = {r[2]: r[5] for r in _native.read_trace(out)["values"] if r[3] == "local"}
    assert tags == {"ssn": "redacted", "card_pin": "redacted", "password": "redacted", "author": "str"}


def test_invalid_secret_pattern_is_one_error_line(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("x = 1\n")
    result = subprocess.run(
        [str(PYTTD_SCRIPT), "record", "--secret-pattern", "(", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: invalid option --secret-pattern: ")
    assert not (tmp_path / "s.pyttd").exists()


def test_modules_and_classes_with_secret_attributes_keep_their_repr(tmp_path):
    trace = record_source(tmp_path, "import secrets as rng\n\nclass Vault:\n    password = 'pw'\n\nv = Vault\n")
    texts = {r[2]: r[9] for r in trace["values"] if r[3] == "local" and r[5] == "repr"}
    assert texts["rng"].startswith("<module 'secrets' from ")
    assert texts["v"] == "<class '__main__.Vault'>"


def test_a_type_that_gains_a_secret_field_has_its_repr_withheld_from_then_on(tmp_path):
    # Whether a type's fields name a secret is remembered per type version: giving the class a
    # secret field name modifies it, and the next rendering must see that.
    trace = record_source(
        tmp_path,
        """\
        class Box:
            __slots__ = ("value",)

            def __init__(self, value):
                self.value = value

            def __repr__(self):
                return f"Box({self.value!r})"


        def show(box):
            return 1


        show(Box("visible"))
        Box._fields = ("password",)
        show(Box("late"))
        """,
    )
    boxes = [r[9] for r in trace["values"] if r[2] == "box" and r[4]]
    assert boxes == ["Box('visible')", "<Box object: repr withheld, secret attributes>"]


def test_an_object_in_a_container_that_gains_a_secret_attribute_is_withheld_at_once(tmp_path):
    # `Account.__repr__` is a plain f-string, which the recorder follows without running it, and
    # the list holding the account is checked by what that repr reads (recorder/src/plan.rs):
    # an attribute added to the instance must still withhold its repr at the next line.
    trace = record_source(
        tmp_path,
        """\
        class Account:
            def __init__(self, name):
                self.name = name

            def __repr__(self):
                return f"Account({self.name})"


        def f():
            accounts = [Account("ann")]
            accounts[0].token = "tok-e5f1"
            accounts[0].name = "bob"
            return len(accounts)


        f()
        """,
    )
    shown = [r[9] for r in trace["values"] if r[2] == "accounts"]
    assert shown == ["[Account(ann)]", "[<Account object: repr withheld, secret attributes>]"]
    assert not [table for table, text in texts(trace) if "tok-e5f1" in text]


def test_secret_slots_of_a_base_class_and_secret_names_a_repr_reads_are_withheld(tmp_path):
    # `Conn` names only `host` in its own `__slots__`; `password` is a slot of its base. `Card`
    # shows a class attribute whose name is secret. Both reprs show the secret, so both are
    # withheld, wherever the object is shown.
    trace = record_source(
        tmp_path,
        """\
        class Base:
            __slots__ = ("password",)


        class Conn(Base):
            __slots__ = ("host",)

            def __repr__(self):
                return f"Conn({self.host}, {self.password})"


        class Card:
            api_key = "ak-77c1"

            def __repr__(self):
                return f"Card({self.api_key})"


        def f():
            c = Conn()
            c.host = "h"
            c.password = "pw-3d9a"
            shown = [c, Card()]
            return len(shown)


        f()
        """,
    )
    shown = [r[9] for r in trace["values"] if r[2] == "shown"]
    assert shown == ["[<Conn object: repr withheld, secret attributes>, <Card object: repr withheld, secret attributes>]"]
    assert not [table for table, text in texts(trace) if "pw-3d9a" in text or "ak-77c1" in text]


def test_children_kept_across_a_change_never_carry_a_secret(tmp_path):
    # A list or dict that changed keeps the child rows of its unchanged elements (expand.rs,
    # `render_reusing`). None of these may carry a secret value: a local that held a list,
    # rebound to an object with a secret attribute or to a namedtuple with a secret field; a dict
    # whose key, a `str` subclass with its own repr, now names a secret while its repr reads
    # the same; a key that names a secret only past the 256 characters its text is cut at.
    trace = record_source(
        tmp_path,
        """\
        from collections import namedtuple

        Login = namedtuple("Login", "user password")


        class Creds:
            def __init__(self):
                self.user = "bob"
                self.password = "pw-a11c"


        class K(str):
            def __init__(self, s):
                self.n = 1

            def __repr__(self):
                return f"K({self.n})"


        def f():
            x = [1, 2, 3]
            x = Creds()
            for y in [{"a": 1}, Login("bob", "pw-b22d")]:
                pass
            d = {K("user"): "pw-c33e", "a": [1]}
            d = {K("password"): "pw-c33e", "a": [2]}
            e = {"k": 1}
            e = {"x" * 300 + "_password": "pw-d44f"}
            return 0


        f()
        """,
    )
    for secret in ("pw-a11c", "pw-b22d", "pw-d44f"):
        assert not [table for table, text in texts(trace) if secret in text], secret
    # `K("user")`'s value is shown (its key names no secret), `K("password")`'s is withheld.
    d_rows = [c for c in trace["children"] if c[3] == "K(1)"]
    assert [c[4] for c in d_rows] == ["str", "redacted"], d_rows
