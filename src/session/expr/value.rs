//! Recorded Python values, how Python shows them (`repr()`, `str()`), and the [`Scope`]
//! an expression reads them from.

use super::error::{Result, value_error};

/// A recorded Python value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` or `False`.
    Bool(bool),
    /// An int that fits in 64 bits.
    Int(i64),
    /// An int beyond 64 bits, as decimal digits (leading '-' when negative).
    BigInt(String),
    /// A float.
    Float(f64),
    /// A str.
    Str {
        /// The string itself (not its repr), possibly only its beginning.
        text: String,
        /// Whether the recorder cut `text`.
        truncated: bool,
    },
    /// Any other object, known by its bounded repr.
    Object {
        /// The name of its class, e.g. `list`.
        type_name: String,
        /// Its `repr()`, possibly only the beginning.
        repr: String,
        /// Whether the recorder cut `repr`.
        truncated: bool,
        /// Its `len()`, when it has one and it was recorded.
        length: Option<u64>,
        /// Links to its recorded children ([`Scope::children`]), when any were recorded.
        object_id: Option<u64>,
    },
    /// A value whose contents were redacted (secret): only the type is known.
    Redacted {
        /// The name of its class.
        type_name: String,
    },
}

impl Value {
    /// As Python's `repr()` shows it; a truncated str or repr ends in `...` (a str then has
    /// no closing quote), a redacted value shows as `<redacted>`.
    pub fn repr(&self) -> String {
        let (text, truncated) = self.repr_parts();
        if truncated { text + "..." } else { text }
    }

    /// The known text of `repr()` and whether it was cut.
    pub(super) fn repr_parts(&self) -> (String, bool) {
        let text = match self {
            Value::None => "None".to_string(),
            Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
            Value::Int(i) => i.to_string(),
            Value::BigInt(digits) => digits.clone(),
            Value::Float(x) => float_repr(*x),
            Value::Str { text, truncated } => return (str_repr(text, *truncated), *truncated),
            Value::Object {
                repr, truncated, ..
            } => return (repr.clone(), *truncated),
            Value::Redacted { .. } => "<redacted>".to_string(),
        };
        (text, false)
    }

    /// Python's `str()`: a str is its text (with `...` when truncated), anything else its repr.
    pub fn to_str(&self) -> String {
        match self {
            Value::Str {
                text,
                truncated: false,
            } => text.clone(),
            Value::Str {
                text,
                truncated: true,
            } => format!("{text}..."),
            other => other.repr(),
        }
    }

    /// Python's type name: `NoneType`, `bool`, `int`, `float`, `str`, or the object's.
    pub fn type_name(&self) -> &str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str { .. } => "str",
            Value::Object { type_name, .. } | Value::Redacted { type_name } => type_name,
        }
    }

    /// Python truthiness; an object is true unless its recorded length is 0.
    pub fn truthy(&self) -> Result<bool> {
        Ok(match self {
            Value::None => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::BigInt(_) => true,
            Value::Float(x) => *x != 0.0,
            Value::Str { text, truncated } => *truncated || !text.is_empty(),
            Value::Object { length, .. } => length.is_none_or(|n| n != 0),
            Value::Redacted { .. } => return Err(value_error("the value is redacted")),
        })
    }

    pub(super) fn is_truncated(&self) -> bool {
        matches!(
            self,
            Value::Str {
                truncated: true,
                ..
            } | Value::Object {
                truncated: true,
                ..
            }
        )
    }
}

/// An int from decimal digits: `Int` when it fits in 64 bits, else `BigInt`.
pub(super) fn int_from_digits(digits: String) -> Value {
    match digits.parse() {
        Ok(i) => Value::Int(i),
        Err(_) => Value::BigInt(digits),
    }
}

/// `repr()` of a float as CPython writes it: shortest round-trip digits, scientific notation
/// when the decimal exponent is below -4 or at least 16.
fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() || x == 0.0 {
        let text = if x.is_infinite() { "inf" } else { "0.0" };
        return if x.is_sign_negative() {
            format!("-{text}")
        } else {
            text.to_string()
        };
    }
    // `{:e}` gives the shortest round-trip digit count but breaks ties upwards; re-rounding
    // the exact value to that many digits (ties to even) picks the digits Python picks.
    let shortest = format!("{:e}", x.abs());
    let count = shortest
        .chars()
        .take_while(|c| *c != 'e')
        .filter(char::is_ascii_digit)
        .count();
    let scientific = format!("{:.*e}", count.saturating_sub(1), x.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let length = digits.len() as i32;
    let sign = if x < 0.0 { "-" } else { "" };
    let body = if !(-4..16).contains(&exponent) {
        let (head, tail) = digits.split_at_checked(1).unwrap_or((digits, ""));
        let point = if tail.is_empty() { "" } else { "." };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        format!(
            "{head}{point}{tail}e{exponent_sign}{:02}",
            exponent.unsigned_abs()
        )
    } else if exponent < 0 {
        format!("0.{}{digits}", "0".repeat((-exponent - 1) as usize))
    } else if exponent + 1 < length {
        let (whole, fraction) = digits
            .split_at_checked(exponent as usize + 1)
            .unwrap_or((digits, ""));
        format!("{whole}.{fraction}")
    } else {
        format!("{digits}{}.0", "0".repeat((exponent + 1 - length) as usize))
    };
    format!("{sign}{body}")
}

/// `repr()` of a str: single quotes unless it holds `'` and no `"`. A truncated str gets no
/// closing quote. Only ASCII and Latin-1 controls are escaped as `\xNN`.
pub(super) fn str_repr(text: &str, truncated: bool) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..=0xa0).contains(&(c as u32)) || c == '\u{ad}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    if !truncated {
        out.push(quote);
    }
    out
}

/// What an expression can see: the recorded locals of one frame at one step.
pub trait Scope {
    /// The value of `name` at this step, None when it is not bound.
    fn lookup(&self, name: &str) -> Result<Option<Value>>;
    /// The recorded children of object `object_id` as (key, value) in display order: keys are
    /// "[0]", "[1]"… for sequences and sets, repr() of the key for dicts (e.g. "'a'", "1"),
    /// the attribute name for attributes. Ok(None) when not recorded.
    fn children(&self, object_id: u64) -> Result<Option<Vec<(String, Value)>>>;
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ok, text};
    use super::Value;

    #[test]
    fn float_repr_matches_python() {
        for (value, repr) in [
            (0.1 + 0.2, "0.30000000000000004"),
            (1e16, "1e+16"),
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (2f64.powi(-25), "2.9802322387695312e-08"),
            (1e22, "1e+22"),
            (5e-324, "5e-324"),
            (123.456, "123.456"),
            (1e15, "1000000000000000.0"),
        ] {
            assert_eq!(Value::Float(value).repr(), repr);
        }
    }

    #[test]
    fn str_repr_matches_python() {
        assert_eq!(text("it's").repr(), r#""it's""#);
        assert_eq!(text("a\"b").repr(), r#"'a"b'"#);
        assert_eq!(text("'\"").repr(), r#"'\'"'"#);
        assert_eq!(text("a\nb\\\u{1}").repr(), r"'a\nb\\\x01'");
        assert_eq!(ok(r"'\x41\t'").repr(), r"'A\t'");
    }
}
