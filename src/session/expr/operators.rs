//! Python's operators on recorded values: exact number comparisons, `==` and ordering
//! (also of truncated strs), unary and binary arithmetic.

use std::cmp::Ordering;

use super::MAX_STR_CHARS;
use super::ast::{BinaryOp, UnaryOp};
use super::error::{ExprError, Result, calls_own_code, type_error, value_error};
use super::value::{Value, int_from_digits};

#[derive(Clone, Copy)]
pub(super) enum Number<'a> {
    Int(i64),
    Big(&'a str),
    Float(f64),
}

impl Number<'_> {
    pub(super) fn to_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Big(digits) => digits.parse().unwrap_or(f64::NAN),
            Number::Float(x) => x,
        }
    }
}

/// A bool, int or float as a number (bools are ints in arithmetic, as in Python).
pub(super) fn number(value: &Value) -> Option<Number<'_>> {
    match value {
        Value::Bool(b) => Some(Number::Int(i64::from(*b))),
        Value::Int(i) => Some(Number::Int(*i)),
        Value::BigInt(digits) => Some(Number::Big(digits)),
        Value::Float(x) => Some(Number::Float(*x)),
        _ => None,
    }
}

/// Compares two numbers exactly, as Python does (None when a NaN is involved).
fn compare_numbers(a: Number, b: Number) -> Option<Ordering> {
    match (a, b) {
        (Number::Int(x), Number::Int(y)) => Some(x.cmp(&y)),
        (Number::Float(x), Number::Float(y)) => x.partial_cmp(&y),
        (integer, Number::Float(x)) => compare_integer_float(&integer_digits(integer), x),
        (Number::Float(x), integer) => {
            compare_integer_float(&integer_digits(integer), x).map(Ordering::reverse)
        }
        (x, y) => Some(compare_integers(&integer_digits(x), &integer_digits(y))),
    }
}

/// The decimal digits of an int.
fn integer_digits(number: Number) -> String {
    match number {
        Number::Int(i) => i.to_string(),
        Number::Big(digits) => digits.to_string(),
        Number::Float(x) => format!("{:.0}", x.trunc()),
    }
}

/// Orders two ints given as decimal digits without leading zeros.
fn compare_integers(x: &str, y: &str) -> Ordering {
    let magnitude = || {
        let (x, y) = (x.trim_start_matches('-'), y.trim_start_matches('-'));
        x.len().cmp(&y.len()).then_with(|| x.cmp(y))
    };
    match (x.starts_with('-'), y.starts_with('-')) {
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
        (true, true) => magnitude().reverse(),
        (false, false) => magnitude(),
    }
}

/// Orders an int (decimal digits) and a float exactly: converting either could round it.
fn compare_integer_float(digits: &str, x: f64) -> Option<Ordering> {
    if x.is_infinite() {
        return Some(if x > 0.0 {
            Ordering::Less
        } else {
            Ordering::Greater
        });
    }
    let whole = x.trunc();
    let fraction = x.partial_cmp(&whole)?.reverse();
    let whole_digits = if whole == 0.0 {
        "0".to_string()
    } else {
        format!("{whole:.0}")
    };
    Some(compare_integers(digits, &whole_digits).then(fraction))
}

/// How two texts order when either may be only a prefix of the real one; None when the
/// recorded prefixes cannot tell.
fn text_order(x: &str, x_cut: bool, y: &str, y_cut: bool) -> Option<Ordering> {
    match (x_cut, y_cut) {
        (false, false) => Some(x.cmp(y)),
        (true, false) if y.starts_with(x) && y.len() > x.len() => None,
        (true, false) => Some(x.cmp(y).then(Ordering::Greater)),
        (false, true) => text_order(y, true, x, false).map(Ordering::reverse),
        (true, true) if x.starts_with(y) || y.starts_with(x) => None,
        (true, true) => Some(x.cmp(y)),
    }
}

/// Python's `==`, or None when truncation hides the answer.
pub(super) fn equals(a: &Value, b: &Value) -> Option<bool> {
    match (a, b) {
        (
            Value::Str {
                text: x,
                truncated: x_cut,
            },
            Value::Str {
                text: y,
                truncated: y_cut,
            },
        ) => text_order(x, *x_cut, y, *y_cut).map(Ordering::is_eq),
        (
            Value::Object {
                type_name: x_type,
                repr: x,
                truncated: x_cut,
                ..
            },
            Value::Object {
                type_name: y_type,
                repr: y,
                truncated: y_cut,
                ..
            },
        ) if x_type == y_type => text_order(x, *x_cut, y, *y_cut).map(Ordering::is_eq),
        (Value::None, Value::None) => Some(true),
        _ => Some(match (number(a), number(b)) {
            (Some(x), Some(y)) => compare_numbers(x, y) == Some(Ordering::Equal),
            _ => false,
        }),
    }
}

/// How two values order for `<` and friends.
pub(super) enum Order {
    /// None when unordered (NaN).
    Known(Option<Ordering>),
    /// A truncated str hides the answer.
    Unknown,
    /// Python would raise TypeError (or call an object's own code).
    Unsupported,
}

pub(super) fn order(a: &Value, b: &Value) -> Order {
    if let (
        Value::Str {
            text: x,
            truncated: x_cut,
        },
        Value::Str {
            text: y,
            truncated: y_cut,
        },
    ) = (a, b)
    {
        return text_order(x, *x_cut, y, *y_cut).map_or(Order::Unknown, |o| Order::Known(Some(o)));
    }
    match (number(a), number(b)) {
        (Some(x), Some(y)) => Order::Known(compare_numbers(x, y)),
        _ => Order::Unsupported,
    }
}

pub(super) fn unorderable(symbol: &str, a: &Value, b: &Value) -> ExprError {
    for value in [a, b] {
        if let Value::Object { type_name, .. } = value {
            return calls_own_code(symbol, type_name);
        }
    }
    let (a, b) = (a.type_name(), b.type_name());
    type_error(format!(
        "'{symbol}' not supported between instances of '{a}' and '{b}'"
    ))
}

pub(super) fn unary(op: UnaryOp, value: &Value) -> Result<Value> {
    if let Value::Object { type_name, .. } = value {
        return Err(calls_own_code(op.symbol(), type_name));
    }
    match (op, number(value)) {
        (UnaryOp::Pos, Some(Number::Float(x))) => Ok(Value::Float(x)),
        (UnaryOp::Neg, Some(Number::Float(x))) => Ok(Value::Float(-x)),
        (UnaryOp::Pos, Some(Number::Int(i))) => Ok(Value::Int(i)),
        (UnaryOp::Neg, Some(Number::Int(i))) => Ok(int_from_digits(format!("{}", -i128::from(i)))),
        (UnaryOp::Invert, Some(Number::Int(i))) => Ok(Value::Int(!i)),
        (UnaryOp::Pos, Some(Number::Big(digits))) => Ok(Value::BigInt(digits.to_string())),
        (UnaryOp::Neg, Some(Number::Big(digits))) => {
            Ok(int_from_digits(match digits.strip_prefix('-') {
                Some(magnitude) => magnitude.to_string(),
                None => format!("-{digits}"),
            }))
        }
        (UnaryOp::Invert, Some(Number::Big(_))) => Err(big_arithmetic()),
        _ => {
            let (symbol, type_name) = (op.symbol(), value.type_name());
            Err(type_error(format!(
                "bad operand type for unary {symbol}: '{type_name}'"
            )))
        }
    }
}

fn big_arithmetic() -> ExprError {
    value_error("arithmetic on ints beyond 64 bits is not supported")
}

pub(super) fn binary(op: BinaryOp, a: &Value, b: &Value) -> Result<Value> {
    let unsupported = || {
        let symbol = if op == BinaryOp::Pow {
            "** or pow()"
        } else {
            op.symbol()
        };
        let (a, b) = (a.type_name(), b.type_name());
        type_error(format!(
            "unsupported operand type(s) for {symbol}: '{a}' and '{b}'"
        ))
    };
    match (a, b) {
        (Value::Object { type_name, .. }, _) | (_, Value::Object { type_name, .. }) => {
            Err(calls_own_code(op.symbol(), type_name))
        }
        (Value::Str { text: x, .. }, Value::Str { text: y, .. }) if op == BinaryOp::Add => {
            bounded_str(x.chars().count().saturating_add(y.chars().count()), || {
                format!("{x}{y}")
            })
        }
        (Value::Str { text, .. }, count) | (count, Value::Str { text, .. })
            if op == BinaryOp::Mul && matches!(count, Value::Int(_) | Value::Bool(_)) =>
        {
            let times = match count {
                Value::Int(i) => usize::try_from(*i).unwrap_or(if *i < 0 { 0 } else { usize::MAX }),
                _ => usize::from(*count == Value::Bool(true)),
            };
            bounded_str(text.chars().count().saturating_mul(times), || {
                text.repeat(times)
            })
        }
        (Value::Str { .. }, _) if op == BinaryOp::Mod => {
            Err(type_error("printf-style '%' formatting is not supported"))
        }
        (Value::Str { .. }, other) if op == BinaryOp::Add => {
            let type_name = other.type_name();
            Err(type_error(format!(
                "can only concatenate str (not \"{type_name}\") to str"
            )))
        }
        (Value::Bool(x), Value::Bool(y))
            if matches!(op, BinaryOp::BitAnd | BinaryOp::BitOr | BinaryOp::BitXor) =>
        {
            Ok(Value::Bool(match op {
                BinaryOp::BitAnd => x & y,
                BinaryOp::BitOr => x | y,
                _ => x ^ y,
            }))
        }
        _ => match (number(a), number(b)) {
            (Some(Number::Big(_)), Some(_)) | (Some(_), Some(Number::Big(_))) => {
                Err(big_arithmetic())
            }
            (Some(Number::Int(x)), Some(Number::Int(y))) => int_arithmetic(op, x, y),
            (Some(x), Some(y)) if !op.is_bitwise() => float_arithmetic(op, x.to_f64(), y.to_f64()),
            _ => Err(unsupported()),
        },
    }
}

/// A str built by `build`, unless its `chars` would exceed [`MAX_STR_CHARS`].
fn bounded_str(chars: usize, build: impl FnOnce() -> String) -> Result<Value> {
    if chars > MAX_STR_CHARS {
        return Err(value_error(format!(
            "the result would be over {MAX_STR_CHARS} characters"
        )));
    }
    Ok(Value::Str {
        text: build(),
        truncated: false,
    })
}

fn int_arithmetic(op: BinaryOp, a: i64, b: i64) -> Result<Value> {
    let result = match op {
        BinaryOp::Add => a.checked_add(b),
        BinaryOp::Sub => a.checked_sub(b),
        BinaryOp::Mul => a.checked_mul(b),
        BinaryOp::Div if b == 0 => return Err(value_error("division by zero")),
        BinaryOp::Div => return Ok(Value::Float(a as f64 / b as f64)),
        BinaryOp::FloorDiv | BinaryOp::Mod if b == 0 => {
            return Err(value_error("integer division or modulo by zero"));
        }
        BinaryOp::FloorDiv | BinaryOp::Mod => {
            // checked_rem fails only for i64::MIN % -1, which is 0.
            let remainder = a.checked_rem(b).unwrap_or(0);
            let adjust = remainder != 0 && (remainder < 0) != (b < 0);
            if op == BinaryOp::Mod {
                Some(if adjust { remainder + b } else { remainder })
            } else {
                a.checked_div(b).map(|q| if adjust { q - 1 } else { q })
            }
        }
        BinaryOp::Pow if b < 0 => return float_arithmetic(op, a as f64, b as f64),
        BinaryOp::Pow => match u32::try_from(b) {
            Ok(exponent) => a.checked_pow(exponent),
            Err(_) if a == 0 || a == 1 => Some(a),
            Err(_) if a == -1 => Some(if b % 2 == 0 { 1 } else { -1 }),
            Err(_) => None,
        },
        BinaryOp::LeftShift | BinaryOp::RightShift if b < 0 => {
            return Err(value_error("negative shift count"));
        }
        BinaryOp::LeftShift if a == 0 => Some(0),
        BinaryOp::LeftShift => u32::try_from(b)
            .ok()
            .filter(|shift| *shift < 64)
            .map(|shift| a << shift)
            .filter(|shifted| shifted >> b == a),
        BinaryOp::RightShift => Some(a >> b.min(63)),
        BinaryOp::BitAnd => Some(a & b),
        BinaryOp::BitOr => Some(a | b),
        BinaryOp::BitXor => Some(a ^ b),
    };
    result
        .map(Value::Int)
        .ok_or_else(|| value_error("integer overflow beyond 64 bits"))
}

fn float_arithmetic(op: BinaryOp, a: f64, b: f64) -> Result<Value> {
    let result = match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div if b == 0.0 => return Err(value_error("float division by zero")),
        BinaryOp::Div => a / b,
        BinaryOp::FloorDiv if b == 0.0 => return Err(value_error("float floor division by zero")),
        BinaryOp::Mod if b == 0.0 => return Err(value_error("float modulo by zero")),
        BinaryOp::FloorDiv | BinaryOp::Mod => {
            // CPython's float_divmod: the remainder takes the divisor's sign.
            let mut remainder = a % b;
            let mut quotient = (a - remainder) / b;
            if remainder == 0.0 {
                remainder = 0.0f64.copysign(b);
            } else if (b < 0.0) != (remainder < 0.0) {
                remainder += b;
                quotient -= 1.0;
            }
            let floor = if quotient == 0.0 {
                0.0f64.copysign(a / b)
            } else if quotient - quotient.floor() > 0.5 {
                quotient.floor() + 1.0
            } else {
                quotient.floor()
            };
            if op == BinaryOp::Mod {
                remainder
            } else {
                floor
            }
        }
        BinaryOp::Pow if a == 0.0 && b < 0.0 => {
            return Err(value_error("0.0 cannot be raised to a negative power"));
        }
        BinaryOp::Pow if a < 0.0 && b.fract() != 0.0 && b.is_finite() => {
            return Err(value_error(
                "a negative number raised to a fractional power is complex, which is not supported",
            ));
        }
        BinaryOp::Pow => {
            let power = a.powf(b);
            if power.is_infinite() && a.is_finite() && b.is_finite() {
                return Err(value_error("float result out of range"));
            }
            power
        }
        _ => {
            return Err(type_error(format!(
                "unsupported operand type(s) for {}: 'float'",
                op.symbol()
            )));
        }
    };
    Ok(Value::Float(result))
}

#[cfg(test)]
mod tests {
    use super::super::Value;
    use super::super::testing::{err, ok, text};

    #[test]
    fn comparisons_chain_and_mix_numbers() {
        assert_eq!(ok("x == 500"), Value::Bool(true));
        assert_eq!(ok("0 < i < 10"), Value::Bool(true));
        assert_eq!(ok("0 < i < 5"), Value::Bool(false));
        assert_eq!(ok("True == 1 == 1.0"), Value::Bool(true));
        assert_eq!(
            ok("9007199254740993 == 9007199254740992.0"),
            Value::Bool(false)
        );
        assert_eq!(ok("big > x and -big < x"), Value::Bool(true));
        assert_eq!(ok("big == 99999999999999999999"), Value::Bool(true));
        assert_eq!(ok("99999999999999999999 < 1e20"), Value::Bool(true));
        assert_eq!(ok("-1.5 < -1 and 2 > 1.5 and 0 == -0.0"), Value::Bool(true));
        assert_eq!(ok("'abc' < 'abd'"), Value::Bool(true));
        assert_eq!(ok("x is None"), Value::Bool(false));
        assert_eq!(ok("None is None"), Value::Bool(true));
        assert_eq!(
            err("'a' < 1"),
            "'<' not supported between instances of 'str' and 'int'"
        );
    }

    #[test]
    fn division_floors_like_python() {
        assert_eq!(ok("-7 // 2"), Value::Int(-4));
        assert_eq!(ok("-7 % 2"), Value::Int(1));
        assert_eq!(ok("7 % -2"), Value::Int(-1));
        assert_eq!(ok("-7.5 // 2"), Value::Float(-4.0));
        assert_eq!(ok("7.5 % -2"), Value::Float(-0.5));
        assert_eq!(ok("6 / 2"), Value::Float(3.0));
        assert_eq!(err("1 / 0"), "division by zero");
        assert_eq!(err("1 // 0"), "integer division or modulo by zero");
        assert_eq!(err("1.0 / 0"), "float division by zero");
    }

    #[test]
    fn ints_never_wrap() {
        assert_eq!(
            err("9223372036854775807 + 1"),
            "integer overflow beyond 64 bits"
        );
        assert_eq!(err("2 ** 64"), "integer overflow beyond 64 bits");
        assert_eq!(err("1 << 63"), "integer overflow beyond 64 bits");
        assert_eq!(ok("-9223372036854775808"), Value::Int(i64::MIN));
        assert_eq!(
            ok("-(-9223372036854775808)"),
            Value::BigInt("9223372036854775808".into())
        );
        assert_eq!(
            err("big + 1"),
            "arithmetic on ints beyond 64 bits is not supported"
        );
    }

    #[test]
    fn strings_and_boolean_operands() {
        assert_eq!(ok("'ab' + 'cd' * 2"), text("abcdcd"));
        assert_eq!(ok("0 or 'x'"), text("x"));
        assert_eq!(ok("1 and 0"), Value::Int(0));
        assert_eq!(ok("not xs"), Value::Bool(false));
        assert_eq!(
            err("1 + 'a'"),
            "unsupported operand type(s) for +: 'int' and 'str'"
        );
        assert_eq!(
            err("'a' + 1"),
            "can only concatenate str (not \"int\") to str"
        );
        assert_eq!(
            err("'x' * 10**7"),
            "the result would be over 1048576 characters"
        );
    }
}
