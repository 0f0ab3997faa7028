//! `float_repr` and `str_repr` against what CPython answered: tests/data/repr_vectors.json,
//! written by tests/repr_vectors.py (see there for the layout and how to regenerate it).

use proptest::prelude::*;
use pyttd_recorder::repr::{UNICODE_VERSION, float_repr, is_printable, str_repr};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Vectors {
    generated_by: Interpreter,
    compared_with: Vec<Interpreter>,
    floats: Vec<(String, String)>,
    strs: Vec<(String, Option<usize>, String, bool)>,
    version_specific: Vec<VersionSpecific>,
}

#[derive(Debug, Deserialize)]
struct Interpreter {
    python: String,
    unicode: String,
}

#[derive(Debug, Deserialize)]
struct VersionSpecific {
    python: String,
    unicode: String,
    kind: String,
    index: usize,
    out: String,
}

fn vectors() -> Vectors {
    serde_json::from_str(include_str!("../data/repr_vectors.json"))
        .expect("repr_vectors.json parses")
}

/// Every failure, not only the first: one rule broken usually breaks many cases, and the list
/// shows which.
fn report(kind: &str, total: usize, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} of {total} {kind} cases differ from CPython:\n{}",
        failures.len(),
        failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn vectors_come_from_the_reference_interpreter() {
    let v = vectors();
    let (major, minor, patch) = UNICODE_VERSION;
    assert_eq!(v.generated_by.unicode, format!("{major}.{minor}.{patch}"));
    assert!(
        v.generated_by.python.starts_with("3.12."),
        "{}",
        v.generated_by.python
    );
    assert!(v.floats.len() > 2500 && v.strs.len() > 2000);
}

#[test]
fn float_repr_matches_cpython() {
    let v = vectors();
    let mut failures = Vec::new();
    let mut out = String::new();
    for (i, (bits_hex, expected)) in v.floats.iter().enumerate() {
        let bits = u64::from_str_radix(bits_hex, 16).expect("16 hex digits");
        let x = f64::from_bits(bits);
        out.clear();
        float_repr(x, &mut out);
        if out != *expected {
            failures.push(format!(
                "  float #{i}: bits {bits_hex} ({x:e}): expected {expected}, got {out}"
            ));
        }
    }
    report("float", v.floats.len(), &failures);
}

#[test]
fn str_repr_matches_cpython() {
    let v = vectors();
    let mut failures = Vec::new();
    let mut out = String::new();
    for (i, (input, cap, expected, expected_cut)) in v.strs.iter().enumerate() {
        out.clear();
        let cut = str_repr(input, cap.unwrap_or(usize::MAX), &mut out);
        if out != *expected || cut != *expected_cut {
            let shown: String = input.chars().take(80).collect();
            let more = if shown.len() < input.len() { "…" } else { "" };
            let cap = cap.map_or("none".to_string(), |c| c.to_string());
            failures.push(format!(
                "  str #{i}: input {shown:?}{more} ({} chars, code points {}), max_chars {cap}:\n    \
                 expected {expected} (truncated: {expected_cut})\n    \
                 got      {out} (truncated: {cut})",
                input.chars().count(),
                code_points(input),
            ));
        }
    }
    report("str", v.strs.len(), &failures);
}

fn code_points(s: &str) -> String {
    let mut shown: Vec<String> = s
        .chars()
        .take(8)
        .map(|c| format!("U+{:04X}", u32::from(c)))
        .collect();
    if s.chars().count() > 8 {
        shown.push("…".into());
    }
    shown.join(" ")
}

/// The 3.13 answers that differ are all single characters Unicode 15.1 assigned and 15.0 (our
/// table, 3.12's) leaves unassigned; floats never differ. The main tests assert the 3.12 answer.
#[test]
fn version_differences_are_unicode_15_1_additions() {
    let v = vectors();
    assert!(
        v.compared_with
            .iter()
            .any(|i| i.python.starts_with("3.13.")),
        "regenerate with --compare-with a CPython 3.13"
    );
    for d in &v.version_specific {
        assert_eq!(
            (d.python.as_str(), d.unicode.as_str()),
            ("3.13.0", "15.1.0"),
            "{d:?}"
        );
        assert_eq!(d.kind, "str", "{d:?}");
        let input = &v.strs[d.index].0;
        let mut chars = input.chars();
        let c = chars.next().expect("one character");
        assert!(chars.next().is_none(), "{d:?}");
        let added_in_15_1 = matches!(u32::from(c), 0x2FFC..=0x2FFF | 0x31EF | 0x2EBF0..=0x2EE5D);
        assert!(added_in_15_1 && !is_printable(c), "{d:?}");
        assert_eq!(d.out, format!("'{c}'"), "{d:?}");
    }
    assert!(
        !v.version_specific.is_empty(),
        "the vectors sample Unicode 15.1 additions"
    );
}

/// Python's cut rule (module doc, "Truncation"), from `str_repr`'s own unbounded output: the
/// longest prefix of repr(s[:cap]) of at most `cap` characters made of whole units.
fn reference_cut(s: &str, cap: usize) -> (String, bool) {
    let mut full = String::new();
    str_repr(s, usize::MAX, &mut full);
    if full.chars().count() <= cap {
        return (full, false);
    }
    let t: String = s.chars().take(cap).collect();
    let mut repr_t = String::new();
    str_repr(&t, usize::MAX, &mut repr_t);
    let mut out = String::new();
    let mut used = 0;
    for unit in units(&repr_t) {
        let n = unit.chars().count();
        if used + n > cap {
            break;
        }
        out.push_str(unit);
        used += n;
    }
    (out, true)
}

/// Splits a repr into its quote, one unit per character, and its quote.
fn units(repr: &str) -> Vec<&str> {
    let mut units = Vec::new();
    let mut rest = repr;
    while let Some(c) = rest.chars().next() {
        let len = match (c, rest.as_bytes().get(1)) {
            ('\\', Some(b'x')) => 4,
            ('\\', Some(b'u')) => 6,
            ('\\', Some(b'U')) => 10,
            ('\\', _) => 2,
            _ => c.len_utf8(),
        };
        units.push(&rest[..len]);
        rest = &rest[len..];
    }
    units
}

proptest! {
    /// Truncate anywhere: the output is the documented prefix, never longer than the bound.
    #[test]
    fn truncation_anywhere_is_the_documented_prefix(
        s in "(['\"\\\\\t\n\0a-c é\u{2028}\u{e0001}😀\u{ffff}]){0,40}",
        cap in 0usize..100,
    ) {
        let mut out = String::new();
        let cut = str_repr(&s, cap, &mut out);
        prop_assert!(out.chars().count() <= cap);
        prop_assert_eq!((out, cut), reference_cut(&s, cap));
    }
}
