#!/usr/bin/env python3
"""Write tests/data/repr_vectors.json: what CPython's repr() answers for floats and strs.

The recorder's `repr` module (src/repr.rs) must reproduce these byte for byte; the Rust test
tests/repr.rs asserts every case. Regenerate with CPython 3.12 (the reference: its Unicode 15.0.0
is the table the Rust side uses) and compare against 3.13 in the same run:

    python3.12 recorder/tests/repr_vectors.py --compare-with python3.13

Every input is generated deterministically (fixed seeds), so a regeneration with the same
interpreters rewrites the same file. Each --compare-with interpreter computes the answers for
the same inputs; where it disagrees with the reference, the case is listed under
"version_specific" with that interpreter's answer, and the Rust test keeps asserting the
reference answer.

File layout (one case per line, so diffs stay readable):

    "floats": [[bits, repr], ...]        bits: the IEEE-754 binary64 bits as 16 hex digits
    "strs": [[s, cap, out, truncated]]   cap: the output bound in characters, null = unbounded
    "version_specific": [{"python", "unicode", "kind", "index", "out", "truncated"}]

Truncation rule (the same as `str_repr` documents): if repr(s) has at most cap characters it
is written whole and truncated is false. Otherwise let t = s[:cap]; out is the longest prefix
of repr(t) that has at most cap characters and does not split the escape of one character,
and truncated is true. Lone surrogates are left out: a Rust &str cannot hold them.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import struct
import subprocess
import sys
import unicodedata
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent / "data" / "repr_vectors.json"
REFERENCE_UNICODE = "15.0.0"  # CPython 3.12; must equal the Rust table's version
DEFAULT_CAP = 256  # the recorder's default bound


# ---------------------------------------------------------------------------------------------
# The answers: only CPython's own repr(), plus the documented cut rule for truncation.


def float_of_bits(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


def bits_of_float(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def capped_repr(s: str, cap: int | None) -> tuple[str, bool]:
    full = repr(s)
    if cap is None or len(full) <= cap:
        return full, False
    t = s[:cap]
    rt = repr(t)
    quote = rt[0]
    # One unit per character of t, as repr(t) writes it: the character itself or its escape.
    # A one-character repr chooses its own quote, so pin the quote down: with '"' present and
    # no "'" CPython uses "'", and with both it uses "'" and escapes it. When t's quote is '"',
    # t holds no '"' at all, so the character's own repr already has the right form.
    if quote == "'":
        units = [repr(c + '"')[1:-2] for c in t]
    else:
        units = [repr(c)[1:-1] for c in t]
    units = [quote, *units, quote]
    assert "".join(units) == rt, (s, cap)
    out, n = [], 0
    for unit in units:
        if n + len(unit) > cap:
            break
        out.append(unit)
        n += len(unit)
    return "".join(out), True


def answers(float_bits: list[int], str_inputs: list[list]) -> dict:
    floats = [repr(float_of_bits(b)) for b in float_bits]
    strs = [list(capped_repr(s, cap)) for s, cap in str_inputs]
    return {
        "python": ".".join(map(str, sys.version_info[:3])),
        "unicode": unicodedata.unidata_version,
        "floats": floats,
        "strs": strs,
    }


# ---------------------------------------------------------------------------------------------
# The inputs.


def float_inputs() -> list[int]:
    rng = random.Random(20240312)
    xs: list[float] = []
    bits: list[int] = []

    # Special values, including NaNs with sign and payload (repr ignores both).
    xs += [0.0, -0.0, math.inf, -math.inf]
    bits += [0x7FF8000000000000, 0xFFF8000000000000, 0x7FF0000000000001, 0x7FFFFFFFFFFFFFFF]
    bits += [0xFFFFFFFFFFFFFFFF, 0x7FF4000000000000]

    # Powers of ten over the whole range; neighbours and negatives around the fixed/scientific
    # switch at exponents -4/-5 and 15/16.
    for k in range(-325, 309):
        xs.append(float(f"1e{k}"))
    for k in range(-12, 26):
        p = float(f"1e{k}")
        for x in (p, math.nextafter(p, 0), math.nextafter(p, math.inf)):
            xs += [x, -x]
        xs += [float(f"9.99e{k}"), float(f"1.5e{k}"), float(f"123456789e{k}")]
    xs += [9999999999999998.0, 9999999999999999.0, 1e16 - 1, 1e16 + 2, 0.00009999999999999999]
    xs += [0.0001, 0.00011, 0.0001000000000000001, 1e-5, 9.999999999999999e-05, 12345678901234567.0]

    # Powers of two, integers, halves.
    xs += [2.0**k for k in range(-1074, 1024, 7)]
    xs += [float(k) for k in range(-20, 101)]
    xs += [float(10**k - 1) for k in range(1, 25)] + [float(2**k + 1) for k in range(50, 66)]
    xs += [k + 0.5 for k in range(0, 20)] + [k / 8 for k in range(-40, 40)]

    # Extremes and subnormals.
    xs += [5e-324, -5e-324, 1e-323, 2.2250738585072014e-308, 2.225073858507201e-308]
    big = 1.7976931348623157e308
    xs += [big, -big, math.nextafter(big, 0)]
    bits += [1, 2, 3, 0x000FFFFFFFFFFFFF, 0x0010000000000000, 0x8000000000000001]
    bits += [rng.getrandbits(52) for _ in range(60)]

    # Well-known values and shortest-digit stress cases.
    xs += [0.1 + 0.2, 0.1, 0.2, 0.3, 1 / 3, 2 / 3, 1e22, 1e23, 123456789012345680.0]
    xs += [math.pi, math.e, math.tau, 2.0**53, 2.0**53 + 2, 2.0**63, 2.0**64, 1.1, 2.675]
    xs += [5e-310, 4.9406564584124654e-324, 9007199254740993.0, 1.2345678901234567]
    xs += [0.3 - 0.1, 100.0, 123.456, 1234567890123456.7, 299792458.0, 6.02214076e23]
    xs += [float(s) for s in ("4.35", "0.000123", "1.0000000000000002", "2.9802322387695312e-08")]

    # Short decimals in the fixed range, and values uniform in log space across it.
    for _ in range(300):
        x = round(rng.uniform(-1e6, 1e6), rng.randrange(0, 8))
        xs.append(x)
    for _ in range(400):
        x = 10.0 ** rng.uniform(-6, 18)
        xs.append(-x if rng.random() < 0.3 else x)

    # Ties: the exact value sits halfway between the two closest 17-digit candidates, and
    # CPython keeps the even one (Rust's own float formatting rounds these up).
    for _ in range(100):
        xs.append(rng.randrange(2**48, 2**52) + rng.choice([0.25, 0.75]))
    xs += [2.0**-25, 2.0**-44, 2.0**-51]

    # Random bit patterns: all exponents alike.
    bits += [rng.getrandbits(64) for _ in range(650)]

    out, seen = [], set()
    for b in [bits_of_float(x) for x in xs] + bits:
        if b not in seen:
            seen.add(b)
            out.append(b)
    return out


def category_samples(rng: random.Random) -> list[int]:
    by_cat: dict[str, list[int]] = {}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue  # lone surrogates: not representable in a Rust &str
        by_cat.setdefault(unicodedata.category(chr(cp)), []).append(cp)
    picked: list[int] = []
    for cat in sorted(by_cat):
        cps = by_cat[cat]
        picked += cps[:2] + cps[-2:] + rng.sample(cps, min(len(cps), 12))
    return picked


def str_inputs() -> list[list]:
    rng = random.Random(31415926)
    cases: list[list] = []

    def add(s: str, cap: int | None = None) -> None:
        cases.append([s, cap])

    # Every mix of quotes and backslashes, up to four characters.
    for n in range(5):
        for chars in itertools.product(["'", '"', "\\", "a"], repeat=n):
            add("".join(chars))

    # Every character below U+0300, alone.
    for cp in range(0x300):
        add(chr(cp))

    # Every general category (Cn unassigned included, Cs excluded), first, last and sampled.
    for cp in category_samples(rng):
        add(chr(cp))

    # Characters whose category moved between Unicode versions: 15.1 assigned these (printable
    # on 3.13, unassigned on 3.12); 16.0 assigned the second group (unassigned on both).
    for cp in (0x2FFC, 0x2FFF, 0x31EF, 0x2EBF0, 0x2ED00, 0x2EE5D, 0x2EE5E):
        add(chr(cp))
    for cp in (0x0897, 0x105C0, 0x10D40, 0x11BC0, 0x13460, 0x16100, 0x1CC00, 0x1E5D0):
        add(chr(cp))
    # Noncharacters, private use planes, tags, BOM, bidi controls, the last code point.
    for cp in (0xFDD0, 0xFDEF, 0xFFFE, 0xFFFF, 0x1FFFE, 0xE000, 0xF8FF, 0xF0000, 0x10FFFD,
               0x10FFFF, 0xE0001, 0xE0020, 0xE007F, 0xFEFF, 0x200B, 0x200E, 0x202E, 0x2066,
               0x061C, 0x180E, 0x2028, 0x2029, 0x3000, 0x1680, 0x205F, 0xFFFD, 0xD7FF, 0xE0100):
        add(chr(cp))

    # Realistic text: quotes, paths, whitespace, scripts, emoji, combining marks.
    for s in ("it's", 'say "hi"', "both ' and \"", "C:\\path\\to\\file", "tab\there",
              "line1\nline2\r\n", "\x00\x1f\x7f\x80\x9f\xa0\xad", "naïve café", "日本語テキスト",
              "Ελληνικά", "עברית", "العربية", "\u202eevil", "a\u0300e\u0301", "\u0301",
              "\U0001F600", "👍🏽", "\U0001F468\u200d\U0001F469\u200d\U0001F467", "🇫🇷",
              "1\ufe0f\u20e3", "\u1100\u1161\u11a8", "x\ufe0fy", "\U0001D11E", "€£¥",
              "'\"'\"", "\\'", '\\"', "\\\\", "\\n", "\u00e9\u0065\u0301", "   ", "\t\n\r\x0b\x0c",
              "\U000e0068\U000e0069", "😀'", '😀"', "\x1b[31mred\x1b[0m"):
        add(s)

    # Random strings from a pool weighted towards what repr treats specially; each one whole
    # and with a random bound.
    pool = (list("abcXYZ 019.,;") * 4 + ["'", '"', "\\", "\t", "\n", "\r", "\x00", "\x07",
            "\x1b", "\x7f", "\x85", "\xa0", "\xad", "é", "ß", "\u0301", "\u2028", "\u200d",
            "\u3000", "日", "\ufeff", "\uffff", "😀", "\U000e0001", "\U0010ffff", "\U0001d11e"])
    for _ in range(250):
        s = "".join(rng.choice(pool) for _ in range(rng.randrange(0, 25)))
        add(s)
        add(s, rng.randrange(0, len(repr(s)) + 3))

    # Truncation at and around the recorder's default bound.
    for n in (250, 253, 254, 255, 256, 300):
        add("a" * n, DEFAULT_CAP)
    for cap in (0, 1, 2, 3, 10, 255, 256, 257, 259, 260, 261, 262, 263):
        add("a" * 260, cap)
    for offset in range(240, 258):  # a ten-character escape straddling the cut
        add("a" * offset + "\U000e0001" + "b" * 20, DEFAULT_CAP)
    for offset in range(248, 258):  # a four-character escape straddling the cut
        add("a" * offset + "\x00" + "b" * 10, DEFAULT_CAP)
    for cap in range(0, 14):
        add("\x00" * 100, cap)
    # The quote is chosen from the first cap characters only (the cost of an O(cap) cut).
    add("a" * 300 + "'", DEFAULT_CAP)
    add("'" + "a" * 300 + '"', DEFAULT_CAP)
    add("'" + "a" * 250 + '"', DEFAULT_CAP)
    add("'" * 300, DEFAULT_CAP)
    add("\"'" * 200, DEFAULT_CAP)
    # The bound counts characters, not bytes.
    for s in ("é" * 260, "日" * 260, "😀" * 260, "é" * 254, "😀" * 255):
        add(s, DEFAULT_CAP)
    add("ab'c\"\\\n\x00é😀\u2028" * 30, DEFAULT_CAP)
    mixed = "a\\'\t\x00\xa0\u2028\U000e0001é😀\"" * 3
    for cap in range(0, 80):
        add(mixed, cap)
    add(mixed)
    return cases


# ---------------------------------------------------------------------------------------------


def run_other(python: str, float_bits: list[int], strs: list[list]) -> dict:
    payload = json.dumps({"floats": float_bits, "strs": strs})
    proc = subprocess.run([python, __file__, "--emit"], input=payload, capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout)


def write(path: Path, doc: dict) -> None:
    def rows(items: list) -> str:
        return ",\n".join("  " + json.dumps(item) for item in items)

    head = {k: v for k, v in doc.items() if k not in ("floats", "strs", "version_specific")}
    text = "{\n"
    for key, value in head.items():
        text += f"  {json.dumps(key)}: {json.dumps(value)},\n"
    text += f'  "floats": [\n{rows(doc["floats"])}\n  ],\n'
    text += f'  "strs": [\n{rows(doc["strs"])}\n  ],\n'
    text += f'  "version_specific": [\n{rows(doc["version_specific"])}\n  ]\n'
    text += "}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="ascii")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare-with", action="append", default=[], metavar="PYTHON",
                        help="another interpreter to compute the same cases with")
    parser.add_argument("--emit", action="store_true",
                        help="internal: read inputs on stdin, print this interpreter's answers")
    args = parser.parse_args()

    if args.emit:
        inputs = json.load(sys.stdin)
        json.dump(answers(inputs["floats"], inputs["strs"]), sys.stdout)
        return

    if unicodedata.unidata_version != REFERENCE_UNICODE:
        sys.exit(f"error: the reference interpreter must have Unicode {REFERENCE_UNICODE} "
                 f"(CPython 3.12); this one has {unicodedata.unidata_version}")

    float_bits = float_inputs()
    strs = str_inputs()
    ours = answers(float_bits, strs)
    doc = {
        "generated_by": {"python": ours["python"], "unicode": ours["unicode"]},
        "compared_with": [],
        "floats": [[f"{b:016x}", r] for b, r in zip(float_bits, ours["floats"])],
        "strs": [[s, cap, out, trunc] for (s, cap), (out, trunc) in zip(strs, ours["strs"])],
        "version_specific": [],
    }
    for python in args.compare_with:
        theirs = run_other(python, float_bits, strs)
        doc["compared_with"].append({"python": theirs["python"], "unicode": theirs["unicode"]})
        tag = {"python": theirs["python"], "unicode": theirs["unicode"]}
        for i, (a, b) in enumerate(zip(ours["floats"], theirs["floats"])):
            if a != b:
                doc["version_specific"].append({**tag, "kind": "float", "index": i, "out": b})
        for i, (a, b) in enumerate(zip(ours["strs"], theirs["strs"])):
            if a != b:
                doc["version_specific"].append(
                    {**tag, "kind": "str", "index": i, "out": b[0], "truncated": b[1]})

    write(OUTPUT, doc)
    size = OUTPUT.stat().st_size
    print(f"wrote {len(doc['floats'])} float and {len(doc['strs'])} str cases, "
          f"{len(doc['version_specific'])} version-specific, {size // 1024} KiB",
          file=sys.stderr)
    for vs in doc["version_specific"]:
        print(f"  {vs['python']} differs on {vs['kind']} #{vs['index']}: {vs['out']}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
