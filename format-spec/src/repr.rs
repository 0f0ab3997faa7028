//! Python's `repr()` of `float` and `str`, byte for byte as CPython 3.12 writes it (and 3.13,
//! but for 627 characters: see "Unicode version"), in pure Rust: the recorder renders the
//! commonest values with it without calling into Python, and readers show stored floats and
//! strings as Python would.
//!
//! `int` needs nothing here: Rust's `i64` `Display` already writes what `repr(int)` does.
//!
//! [`float_repr`] writes the shortest digits that round-trip, ties to even (Ryu's digits,
//! re-laid out): scientific notation when the decimal exponent is below -4 or at least 16,
//! with a signed exponent of at least two digits (`1e+16`, `1e-05`, `1.5e-310`); fixed
//! notation otherwise, with `.0` after an integral value (`100.0`); and `inf`, `-inf`, `nan`
//! (for every NaN, whatever its sign or payload) and `-0.0`.
//!
//! [`str_repr`] is CPython's `unicode_repr`: single quotes unless the string holds `'` and no
//! `"`; `\\` and the chosen quote escaped; `\t`, `\n`, `\r`; other ASCII controls and DEL as
//! `\xNN`; non-ASCII characters that are not printable as `\xNN`, `\uNNNN` or `\UNNNNNNNN`
//! (lower-case hex), printable ones as they are. Printable is `str.isprintable()` for one
//! character ([`is_printable`]): every character except those of the general categories Cc,
//! Cf, Cs, Co, Cn, Zl, Zp and Zs, the ASCII space excepted.
//!
//! # Unicode version
//!
//! Printability comes from the `unicode-general-category` crate pinned at 0.6, whose tables are
//! Unicode 15.0.0 ([`UNICODE_VERSION`]), the version of CPython 3.12's `unicodedata`. CPython
//! 3.13 uses Unicode 15.1.0, which assigned 627 characters: U+2FFC..U+2FFF, U+31EF and
//! U+2EBF0..U+2EE5D (CJK Extension I). 3.13 writes them as they are; this module, like 3.12,
//! escapes them (`'\u31ef'`, `'\U0002ebf0'`). No other character differs between the two. The
//! crate's 1.x releases carry Unicode 16.0, which neither Python version has: do not upgrade
//! without a version switch (a unit test pins the version).
//!
//! # Lone surrogates
//!
//! A Python `str` may hold lone surrogates (U+D800..U+DFFF, `'\ud800'`); a Rust `&str` cannot.
//! Strings that fail to encode as UTF-8 must take another path in the recorder (CPython's own
//! `repr`, or a code-point walk with the same rules: surrogates are Cs, so `\udXXX`).
//!
//! # Truncation
//!
//! `str_repr` bounds its output to `max_chars` characters (Unicode scalar values, what Python's
//! `len()` counts) and reads at most `max_chars` characters of its input, so its cost is
//! O(`max_chars`) however long the string:
//!
//! - If `repr(s)` has at most `max_chars` characters it is written whole and `false` returned.
//! - Otherwise let `t` be the first `max_chars` characters of `s`. The output is the longest
//!   prefix of `repr(t)` that has at most `max_chars` characters and does not split the escape
//!   of one character: the opening quote, then whole characters or whole escapes, and never
//!   the closing quote. `true` is returned.
//!
//! This is a prefix of `repr(s)` itself except when a quote character beyond the first
//! `max_chars` characters would change the quote choice: `"a" * 300 + "'"` with a bound of 256
//! writes `'aaa…` where `repr()` starts `"aaa…`. Knowing the quote for sure would mean reading
//! the whole string. [`str_repr_in`] chooses the quotes from a longer part than it writes, for a
//! string that gets only the room left at the end of a container's text.
//!
//! ```
//! use pyttd_format::repr::{float_repr, str_repr};
//! let mut out = String::new();
//! float_repr(1e16, &mut out);
//! assert_eq!(out, "1e+16");
//! out.clear();
//! assert!(!str_repr("it's", 256, &mut out));
//! assert_eq!(out, r#""it's""#);
//! out.clear();
//! assert!(str_repr("a\0b", 5, &mut out));
//! assert_eq!(out, r"'a");
//! ```

use unicode_general_category::{GeneralCategory, get_general_category};

/// The Unicode version whose general categories decide printability: CPython 3.12's.
pub const UNICODE_VERSION: (u64, u64, u64) = unicode_general_category::UNICODE_VERSION;

/// Appends `repr(x)` as CPython writes it for a `float`.
pub fn float_repr(x: f64, out: &mut String) {
    if x.is_nan() {
        out.push_str("nan");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x < 0.0 { "-inf" } else { "inf" });
        return;
    }
    if x == 0.0 {
        out.push_str(if x.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    let mut buffer = ryu::Buffer::new();
    let digits = ShortestDigits::parse(buffer.format_finite(x.abs()));
    let n = digits.len();
    let exponent = digits.point - 1;

    if x < 0.0 {
        out.push('-');
    }
    if !(-4..16).contains(&exponent) {
        digits.push(out, 0..1);
        if n > 1 {
            out.push('.');
            digits.push(out, 1..n);
        }
        out.push('e');
        out.push(if exponent < 0 { '-' } else { '+' });
        let e = exponent.unsigned_abs();
        if e >= 100 {
            out.push(digit(e / 100));
        }
        out.push(digit(e / 10 % 10));
        out.push(digit(e % 10));
    } else if exponent < 0 {
        out.push_str("0.");
        push_zeros(out, (-exponent - 1) as usize);
        digits.push(out, 0..n);
    } else if (exponent as usize) + 1 < n {
        let split = exponent as usize + 1;
        digits.push(out, 0..split);
        out.push('.');
        digits.push(out, split..n);
    } else {
        digits.push(out, 0..n);
        push_zeros(out, exponent as usize + 1 - n);
        out.push_str(".0");
    }
}

/// Appends `repr(s)` as CPython writes it for a `str`, bounded to `max_chars` characters;
/// returns whether it was cut. What a cut output holds is in the module doc ("Truncation").
pub fn str_repr(s: &str, max_chars: usize, out: &mut String) -> bool {
    str_repr_in(s, max_chars, max_chars, out)
}

/// As [`str_repr`], with the quotes chosen from the first `window` characters of `s` (at least
/// `max_chars` of them): a string given only the little room left in a container's text is
/// quoted as `repr()` quotes it (`["it's"]` cut after `['i` is `["i`, not `['i`).
pub fn str_repr_in(s: &str, window: usize, max_chars: usize, out: &mut String) -> bool {
    // repr(s) has at least one character per character of s plus two quotes, so nothing past
    // the first `max_chars` characters can reach the output. `whole`: t is all of s.
    let (t, whole) = head(s, max_chars);
    let bytes = head(s, window.max(max_chars)).0.as_bytes();
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let bytes = t.as_bytes();

    let Some(mut room) = max_chars.checked_sub(1) else {
        return true;
    };
    out.reserve(t.len() + 2);
    out.push(char::from(quote));
    if bytes
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) && b != b'\\' && b != quote)
    {
        // Printable ASCII without backslash or the quote (most strings): written as it is.
        if bytes.len() > room {
            out.push_str(&t[..room]);
            return true;
        }
        room -= bytes.len();
        out.push_str(t);
    } else {
        // Characters written as they are collect in a run from `run_start`, copied in one go
        // when an escape or the end of the room interrupts it.
        let mut run_start = 0;
        for (i, c) in t.char_indices() {
            let unit = Unit::of(c, quote);
            if unit.len() > room {
                out.push_str(&t[run_start..i]);
                return true;
            }
            room -= unit.len();
            if !matches!(unit, Unit::Same) {
                out.push_str(&t[run_start..i]);
                unit.push_to(out);
                run_start = i + c.len_utf8();
            }
        }
        out.push_str(&t[run_start..]);
    }
    // Not whole: t has `max_chars` characters, so the loop above ran out of room.
    if !whole || room == 0 {
        return true;
    }
    out.push(char::from(quote));
    false
}

/// The first `n` characters of `s`, and whether that is all of it.
fn head(s: &str, n: usize) -> (&str, bool) {
    if s.len() <= n {
        return (s, true);
    }
    match s.char_indices().nth(n) {
        Some((end, _)) => (&s[..end], false),
        None => (s, true),
    }
}

/// Whether `repr()` writes `c` as it is (outside quotes and backslashes): Python's
/// `c.isprintable()` under Unicode [`UNICODE_VERSION`].
pub fn is_printable(c: char) -> bool {
    if c.is_ascii() {
        return (' '..'\x7f').contains(&c);
    }
    use GeneralCategory::*;
    !matches!(
        get_general_category(c),
        Control
            | Format
            | Surrogate
            | PrivateUse
            | Unassigned
            | LineSeparator
            | ParagraphSeparator
            | SpaceSeparator
    )
}

/// What `repr()` writes for one character of a string quoted with `quote`.
#[derive(Debug, Clone, Copy)]
enum Unit {
    /// The character itself.
    Same,
    /// Two characters: `\\`, `\'`, `\"`, `\t`, `\n`, `\r`.
    Pair(&'static str),
    /// A backslash, `x`/`u`/`U` and `width` lower-case hex digits of the code point.
    Hex { letter: char, width: u8, code: u32 },
}

impl Unit {
    fn of(c: char, quote: u8) -> Self {
        let code = u32::from(c);
        match c {
            '\\' => Unit::Pair(r"\\"),
            '\t' => Unit::Pair(r"\t"),
            '\n' => Unit::Pair(r"\n"),
            '\r' => Unit::Pair(r"\r"),
            '\'' if quote == b'\'' => Unit::Pair(r"\'"),
            '"' if quote == b'"' => Unit::Pair(r#"\""#),
            _ if is_printable(c) => Unit::Same,
            _ if code < 0x100 => Unit::Hex {
                letter: 'x',
                width: 2,
                code,
            },
            _ if code < 0x1_0000 => Unit::Hex {
                letter: 'u',
                width: 4,
                code,
            },
            _ => Unit::Hex {
                letter: 'U',
                width: 8,
                code,
            },
        }
    }

    /// Length in characters.
    fn len(self) -> usize {
        match self {
            Unit::Same => 1,
            Unit::Pair(_) => 2,
            Unit::Hex { width, .. } => 2 + usize::from(width),
        }
    }

    /// Appends an escape (a `Same` character is copied by the caller, with its run).
    fn push_to(self, out: &mut String) {
        match self {
            Unit::Same => {}
            Unit::Pair(pair) => out.push_str(pair),
            Unit::Hex {
                letter,
                width,
                code,
            } => {
                out.push('\\');
                out.push(letter);
                for shift in (0..width).rev() {
                    out.push(hex_digit(code >> (4 * u32::from(shift))));
                }
            }
        }
    }
}

fn digit(d: u32) -> char {
    char::from(b'0' + (d % 10) as u8)
}

fn hex_digit(d: u32) -> char {
    char::from(b"0123456789abcdef"[(d & 0xf) as usize])
}

fn push_zeros(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n('0', n));
}

/// The shortest digits that round-trip, `head` then `tail`, without leading or trailing zeros,
/// and where the decimal point goes: the value is 0.DIGITS × 10^point.
///
/// Ryu chooses the same digits as CPython's `repr` (David Gay's dtoa in mode 0): the shortest
/// that round-trip and, among those, the closest to the exact value, ties to even. Rust's own
/// `{:e}` breaks ties upwards instead (`2.0**-25` would end in `...313e-08`, not `...312e-08`).
/// Ryu lays the digits out its own way (`1e16`, `1.5e-7`, `0.00001`, `12.5`, `100.0`); this
/// reads any of them, borrowing the digits rather than copying them.
#[derive(Debug)]
struct ShortestDigits<'a> {
    head: &'a str,
    tail: &'a str,
    point: i32,
}

impl<'a> ShortestDigits<'a> {
    /// Reads ryu's output for a finite, positive value.
    fn parse(text: &'a str) -> Self {
        let (mantissa, exponent) = match text.as_bytes().iter().rposition(|&b| b == b'e') {
            Some(e) => (&text[..e], parse_exponent(&text[e + 1..])),
            None => (text, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int == "0" {
            // 0.000ddd: the leading zeros of the fraction move the point left.
            let head = frac.trim_start_matches('0');
            let point = exponent - (frac.len() - head.len()) as i32;
            let head = head.trim_end_matches('0');
            Self {
                head,
                tail: "",
                point,
            }
        } else {
            let point = exponent + int.len() as i32;
            let tail = frac.trim_end_matches('0');
            let head = if tail.is_empty() {
                int.trim_end_matches('0')
            } else {
                int
            };
            Self { head, tail, point }
        }
    }

    fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    /// Appends the digits at positions `range` of head-then-tail.
    fn push(&self, out: &mut String, range: std::ops::Range<usize>) {
        let h = self.head.len();
        if range.start < h {
            out.push_str(&self.head[range.start..range.end.min(h)]);
        }
        if range.end > h {
            out.push_str(&self.tail[range.start.max(h) - h..range.end - h]);
        }
    }
}

/// A decimal exponent as ryu writes it: `-` or nothing, then digits.
fn parse_exponent(text: &str) -> i32 {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, text),
    };
    let value = digits.bytes().fold(0, |v, b| v * 10 + i32::from(b - b'0'));
    if negative { -value } else { value }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: f64) -> String {
        let mut out = String::new();
        float_repr(x, &mut out);
        out
    }

    fn s(text: &str, max_chars: usize) -> (String, bool) {
        let mut out = String::new();
        let cut = str_repr(text, max_chars, &mut out);
        (out, cut)
    }

    fn whole(text: &str) -> String {
        let (out, cut) = s(text, usize::MAX);
        assert!(!cut);
        out
    }

    #[test]
    fn float_switches_notation_at_exponents_minus_5_and_16() {
        assert_eq!(f(1e16), "1e+16");
        assert_eq!(f(9999999999999998.0), "9999999999999998.0");
        assert_eq!(f(1.5e16), "1.5e+16");
        assert_eq!(f(0.0001), "0.0001");
        assert_eq!(f(0.00012), "0.00012");
        assert_eq!(f(0.00001), "1e-05");
        assert_eq!(f(1.5e-5), "1.5e-05");
        assert_eq!(f(1e100), "1e+100");
        assert_eq!(f(1e-100), "1e-100");
    }

    #[test]
    fn float_fixed_notation() {
        assert_eq!(f(1.0), "1.0");
        assert_eq!(f(100.0), "100.0");
        assert_eq!(f(123.456), "123.456");
        assert_eq!(f(-2.5), "-2.5");
        assert_eq!(f(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(f(0.5), "0.5");
        assert_eq!(f(1234567890123456.7), "1234567890123456.8");
    }

    #[test]
    fn float_special_values_and_extremes() {
        assert_eq!(f(0.0), "0.0");
        assert_eq!(f(-0.0), "-0.0");
        assert_eq!(f(f64::INFINITY), "inf");
        assert_eq!(f(f64::NEG_INFINITY), "-inf");
        assert_eq!(f(f64::NAN), "nan");
        assert_eq!(f(-f64::NAN), "nan");
        assert_eq!(f(f64::from_bits(0x7ff0_0000_0000_0001)), "nan");
        assert_eq!(f(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(f(f64::MIN_POSITIVE), "2.2250738585072014e-308");
        assert_eq!(f(5e-324), "5e-324");
        assert_eq!(f(1e22), "1e+22");
        assert_eq!(f(123456789012345680.0), "1.2345678901234568e+17");
    }

    #[test]
    fn float_ties_round_to_even_like_dtoa() {
        // 2**-25 is exactly 2.98023223876953125e-08: 17 digits tie, CPython keeps the even one.
        assert_eq!(f(2f64.powi(-25)), "2.9802322387695312e-08");
        assert_eq!(f(1112602996393828.0 + 0.25), "1112602996393828.2");
    }

    #[test]
    fn shortest_digits_read_every_ryu_layout() {
        let read = |text| {
            let d = ShortestDigits::parse(text);
            let mut digits = String::new();
            d.push(&mut digits, 0..d.len());
            (digits, d.point)
        };
        assert_eq!(read("1e16"), ("1".into(), 17));
        assert_eq!(read("1.5e-7"), ("15".into(), -6));
        assert_eq!(read("0.00001234"), ("1234".into(), -4));
        assert_eq!(read("12.5"), ("125".into(), 2));
        assert_eq!(read("100.0"), ("1".into(), 3));
        assert_eq!(read("1.0"), ("1".into(), 1));
        assert_eq!(read("5e-324"), ("5".into(), -323));
    }

    #[test]
    fn str_quote_choice() {
        assert_eq!(whole("abc"), "'abc'");
        assert_eq!(whole(""), "''");
        assert_eq!(whole("it's"), r#""it's""#);
        assert_eq!(whole(r#"say "hi""#), r#"'say "hi"'"#);
        assert_eq!(whole(r#"it's "x""#), r#"'it\'s "x"'"#);
        assert_eq!(whole(r"C:\dir"), r"'C:\\dir'");
    }

    #[test]
    fn str_escapes() {
        assert_eq!(whole("a\tb\nc\rd"), r"'a\tb\nc\rd'");
        assert_eq!(whole("\0\x1b\x7f"), r"'\x00\x1b\x7f'");
        assert_eq!(whole("\u{85}\u{a0}\u{ad}"), r"'\x85\xa0\xad'");
        assert_eq!(whole("\u{2028}\u{feff}\u{e000}"), r"'\u2028\ufeff\ue000'");
        assert_eq!(whole("\u{e0001}\u{10ffff}"), r"'\U000e0001\U0010ffff'");
        assert_eq!(whole("naïve 日本 😀 e\u{301}"), "'naïve 日本 😀 e\u{301}'");
        // Unicode 15.1 (CPython 3.13) assigned U+31EF; under 15.0 (3.12) it is unassigned.
        assert_eq!(whole("\u{31ef}"), r"'\u31ef'");
    }

    #[test]
    fn printable_matches_python() {
        assert!(is_printable(' '));
        assert!(is_printable('~'));
        assert!(!is_printable('\x7f'));
        assert!(!is_printable('\u{3000}'));
        assert!(is_printable('\u{301}'));
        assert!(!is_printable('\u{fffe}'));
    }

    #[test]
    fn str_truncation_keeps_escapes_whole() {
        assert_eq!(s("abc", 5), ("'abc'".into(), false));
        assert_eq!(s("abc", 4), ("'abc".into(), true));
        assert_eq!(s("abc", 1), ("'".into(), true));
        assert_eq!(s("abc", 0), ("".into(), true));
        assert_eq!(s("a\0", 5), ("'a".into(), true));
        assert_eq!(s("a\0", 6), (r"'a\x00".into(), true));
        assert_eq!(s("a\0", 7), (r"'a\x00'".into(), false));
        assert_eq!(s("ééé", 3), ("'éé".into(), true));
    }

    #[test]
    fn str_truncation_reads_only_the_bound() {
        // The quote past the bound does not flip the choice (see the module doc).
        let long = "a".repeat(300) + "'";
        let (out, cut) = s(&long, 256);
        assert!(cut);
        assert_eq!(out, format!("'{}", "a".repeat(255)));
        // A huge string costs what its first characters cost.
        let huge = "é".repeat(10_000_000);
        let start = std::time::Instant::now();
        for _ in 0..1000 {
            assert!(s(&huge, 256).1);
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn unicode_tables_are_cpython_312s() {
        // Bumping unicode-general-category to 1.x (Unicode 16) changes which characters print.
        assert_eq!(UNICODE_VERSION, (15, 0, 0));
    }
}
