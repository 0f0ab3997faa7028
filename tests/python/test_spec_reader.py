"""The minimal reader in format-spec/SPEC.md's appendix, run as written: it reads every golden
fixture of every format version, and a trace `pyttd record` just wrote, to the same rows as
pyttd's own reader. A spec whose sample reader cannot read the files is wrong."""

import json
import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "format-spec" / "SPEC.md"
FIXTURES = sorted((ROOT / "format-spec" / "fixtures").glob("v*/*.pyttd"))


def _crc32c_module() -> types.ModuleType:
    """A pure-Python stand-in for the `crc32c` package (CRC-32C, reflected polynomial 0x82F63B78),
    so the sketch runs with nothing but pyarrow installed."""
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)

    def crc32c(data: bytes) -> int:
        c = 0xFFFFFFFF
        for byte in data:
            c = table[(c ^ byte) & 0xFF] ^ (c >> 8)
        return c ^ 0xFFFFFFFF

    module = types.ModuleType("crc32c")
    module.crc32c = crc32c  # type: ignore[attr-defined]
    return module


@pytest.fixture(scope="module")
def read_trace():
    appendix = SPEC.read_text().split("## Appendix", 1)[1]
    code = re.search(r"```python\n(.*?)```", appendix, re.S).group(1)
    saved = sys.modules.get("crc32c")
    sys.modules["crc32c"] = _crc32c_module()
    try:
        namespace: dict = {}
        exec(compile(code, f"{SPEC}:appendix", "exec"), namespace)
    finally:
        if saved is None:
            del sys.modules["crc32c"]
        else:
            sys.modules["crc32c"] = saved
    return namespace["read_trace"]


def test_every_format_version_has_fixtures():
    versions = {p.parent.name for p in FIXTURES}
    assert {"v1", "v2", "v3", "v4", "v5"} <= versions


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_appendix_reader_reads_every_fixture_as_its_json_says(read_trace, fixture):
    expected = json.loads(fixture.with_suffix(".json").read_text())
    complete, tables = read_trace(fixture)
    assert complete == (expected["state"]["kind"] == "complete")
    for name, want in expected["tables"].items():
        got = tables[name].to_pylist() if name in tables else []
        assert len(got) == want["row_count"], name
        for row, (have, wanted) in enumerate(zip(got, want["rows"])):
            for column, value in wanted.items():
                # Exact for ints and texts: the shuffle and delta coding are undone.
                if isinstance(value, (int, str)) and not isinstance(value, bool):
                    assert have[column] == value, f"{name} row {row} column {column}"


def test_the_appendix_reader_reads_a_fresh_recording(read_trace, tmp_path, run):
    from pyttd import _native

    script = tmp_path / "demo.py"
    script.write_text("total = 0\nfor i in range(3):\n    total += i + 1\nprint(total)\n")
    out = tmp_path / "demo.pyttd"
    result = run(sys.executable, "-m", "pyttd", "record", "-o", out, script)
    assert result.returncode == 0, result.stderr
    complete, tables = read_trace(out)
    assert complete
    ours = _native.read_trace(out)
    assert tables["events"].num_rows == len(ours["events"])
    values = tables["values"].to_pylist()
    assert [v["int_value"] for v in values if v["name"] == "total"] == [0, 1, 3, 6]
