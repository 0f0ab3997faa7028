//! The builtins an expression may call (`len`, `abs`, `min`, `max`, `str`, `repr`, `int`,
//! `float`, `bool`).

use std::cmp::Ordering;

use super::ast::{Builtin, Node, UnaryOp};
use super::error::{ExprError, Result, needs_live, type_error, value_error};
use super::eval::{eval, operand, truncated_error, whole};
use super::lex::without_underscores;
use super::operators::{Number, Order, number, order, unary, unorderable};
use super::value::{Scope, Value, int_from_digits};

/// `builtin(args...)`, with each argument evaluated over `scope`.
pub(super) fn call(builtin: Builtin, args: &[Node], scope: &dyn Scope) -> Result<Value> {
    let name = builtin.name();
    let mut values = Vec::with_capacity(args.len());
    for arg in args {
        values.push(match builtin {
            // repr() is the one use a redacted value allows.
            Builtin::Repr => eval(arg, scope)?,
            Builtin::Len | Builtin::Int | Builtin::Float => whole(operand(arg, scope)?, arg)?,
            _ => operand(arg, scope)?,
        });
    }
    if matches!(builtin, Builtin::Min | Builtin::Max) && values.len() != 1 {
        return extreme(builtin, args, values);
    }
    let [value] = values.as_slice() else {
        let count = values.len();
        return Err(type_error(format!(
            "{name}() takes exactly one argument ({count} given)"
        )));
    };
    let type_name = value.type_name();
    if matches!(value, Value::Object { .. })
        && matches!(builtin, Builtin::Abs | Builtin::Int | Builtin::Float)
    {
        return Err(needs_live(format!(
            "`{name}()` of a '{type_name}' value calls its own code"
        )));
    }
    let (repr_text, repr_cut) = value.repr_parts();
    match (builtin, value) {
        (Builtin::Len, Value::Str { text, .. }) => Ok(Value::Int(text.chars().count() as i64)),
        (
            Builtin::Len,
            Value::Object {
                length: Some(n), ..
            },
        ) => Ok(int_from_digits(n.to_string())),
        (Builtin::Len, Value::Object { .. }) => Err(type_error(format!(
            "object of type '{type_name}' has no recorded len()"
        ))),
        (Builtin::Len, _) => Err(type_error(format!(
            "object of type '{type_name}' has no len()"
        ))),
        (Builtin::Abs, Value::Float(x)) => Ok(Value::Float(x.abs())),
        (Builtin::Abs, Value::BigInt(digits)) => {
            Ok(Value::BigInt(digits.trim_start_matches('-').to_string()))
        }
        (Builtin::Abs, Value::Bool(_) | Value::Int(_)) => match number(value) {
            Some(Number::Int(i)) if i < 0 => unary(UnaryOp::Neg, value),
            _ => unary(UnaryOp::Pos, value),
        },
        (Builtin::Abs, _) => Err(type_error(format!(
            "bad operand type for abs(): '{type_name}'"
        ))),
        (Builtin::Str, Value::Str { .. }) => Ok(value.clone()),
        (Builtin::Str | Builtin::Repr, _) => Ok(Value::Str {
            text: repr_text,
            truncated: repr_cut,
        }),
        (Builtin::Bool, _) => Ok(Value::Bool(value.truthy()?)),
        (Builtin::Int, Value::Bool(_) | Value::Int(_) | Value::BigInt(_)) => {
            unary(UnaryOp::Pos, value)
        }
        (Builtin::Int, Value::Float(x)) if !x.is_finite() => {
            let what = if x.is_nan() { "NaN" } else { "infinity" };
            Err(value_error(format!(
                "cannot convert float {what} to integer"
            )))
        }
        (Builtin::Int, Value::Float(x)) => Ok(int_from_digits(format!("{:.0}", x.trunc()))),
        (Builtin::Int, Value::Str { text, .. }) => parse_int(text).ok_or_else(|| {
            value_error(format!(
                "invalid literal for int() with base 10: {repr_text}"
            ))
        }),
        (Builtin::Int, _) => Err(type_error(format!(
            "int() argument must be a string, a bytes-like object or a real number, not '{type_name}'"
        ))),
        (Builtin::Float, Value::Str { text, .. }) => without_underscores(text.trim(), 10)
            .and_then(|cleaned| cleaned.parse().ok())
            .map(Value::Float)
            .ok_or_else(|| value_error(format!("could not convert string to float: {repr_text}"))),
        (Builtin::Float, _) => match number(value) {
            Some(n) => Ok(Value::Float(n.to_f64())),
            None => Err(type_error(format!(
                "float() argument must be a string or a real number, not '{type_name}'"
            ))),
        },
        (Builtin::Min | Builtin::Max, _) => Err(one_iterable(name)),
    }
}

/// `int(text)` for a decimal string, as Python reads it.
fn parse_int(text: &str) -> Option<Value> {
    let text = text.trim();
    let (sign, digits) = match text.strip_prefix('-') {
        Some(digits) => ("-", digits),
        None => ("", text.strip_prefix('+').unwrap_or(text)),
    };
    let digits = without_underscores(digits, 10)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = digits.trim_start_matches('0');
    Some(int_from_digits(if digits.is_empty() {
        "0".to_string()
    } else {
        format!("{sign}{digits}")
    }))
}

fn one_iterable(name: &str) -> ExprError {
    type_error(format!(
        "{name}() of one iterable is not supported; pass two or more values"
    ))
}

/// `min(a, b, ...)` or `max(a, b, ...)`: the first of the extreme values, as Python picks.
fn extreme(builtin: Builtin, args: &[Node], values: Vec<Value>) -> Result<Value> {
    let name = builtin.name();
    if values.len() < 2 {
        return Err(one_iterable(name));
    }
    let (symbol, wanted) = if builtin == Builtin::Max {
        (">", Ordering::Greater)
    } else {
        ("<", Ordering::Less)
    };
    let mut best = 0;
    for (k, candidate) in values.iter().enumerate().skip(1) {
        let Some(current) = values.get(best) else {
            break;
        };
        match order(candidate, current) {
            Order::Known(ordering) if ordering == Some(wanted) => best = k,
            Order::Known(_) => {}
            Order::Unknown => {
                let truncated = if candidate.is_truncated() { k } else { best };
                return Err(args
                    .get(truncated)
                    .map_or_else(|| value_error("a value was truncated"), truncated_error));
            }
            Order::Unsupported => return Err(unorderable(symbol, candidate, current)),
        }
    }
    values
        .into_iter()
        .nth(best)
        .ok_or_else(|| value_error(format!("{name}() found no value")))
}

#[cfg(test)]
mod tests {
    use super::super::Value;
    use super::super::testing::{err, ok, text};

    #[test]
    fn builtins() {
        assert_eq!(ok("abs(-3) + abs(True)"), Value::Int(4));
        assert_eq!(ok("min(3, 1, 2)"), Value::Int(1));
        assert_eq!(ok("max(1.5, 2)"), Value::Int(2));
        assert_eq!(ok("int(' -42 ') + int(-2.7)"), Value::Int(-44));
        assert_eq!(ok("float('1e3')"), Value::Float(1000.0));
        assert_eq!(ok("str(1.5) + repr('a')"), text("1.5'a'"));
        assert_eq!(ok("len('héllo')"), Value::Int(5));
        assert_eq!(ok("bool(xs)"), Value::Bool(true));
        assert_eq!(
            err("int('x')"),
            "invalid literal for int() with base 10: 'x'"
        );
        assert_eq!(
            err("max(1, 'a')"),
            "'>' not supported between instances of 'str' and 'int'"
        );
        assert_eq!(
            err("len(1, 2)"),
            "len() takes exactly one argument (2 given)"
        );
    }
}
