//! Evaluation: walks the syntax tree over a [`Scope`], reading names, attributes, subscripts,
//! comparisons and membership from the recorded values.

use std::cmp::Ordering;

use super::ast::{CompareOp, Node};
use super::builtins::call;
use super::error::{ExprError, Result, calls_own_code, not_recorded, type_error, value_error};
use super::operators::{Order, binary, equals, order, unary, unorderable};
use super::value::{Scope, Value};

/// Evaluates `node` over the recorded values `scope` holds.
pub(super) fn eval(node: &Node, scope: &dyn Scope) -> Result<Value> {
    match node {
        Node::Literal(value) => Ok(value.clone()),
        Node::Name(name) => scope
            .lookup(name)?
            .ok_or_else(|| ExprError::Name(name.clone())),
        Node::Attribute(base, attr) => attribute(base, attr, scope),
        Node::Subscript(base, index) => subscript(base, index, scope),
        Node::Call(builtin, args) => call(*builtin, args, scope),
        Node::Unary(op, operand_node) => unary(*op, &operand(operand_node, scope)?),
        Node::Not(inner) => Ok(Value::Bool(!operand(inner, scope)?.truthy()?)),
        Node::Binary(op, a, b) => {
            let left = whole(operand(a, scope)?, a)?;
            let right = whole(operand(b, scope)?, b)?;
            binary(*op, &left, &right)
        }
        Node::Compare(first, rest) => {
            let (mut left, mut left_node) = (operand(first, scope)?, first.as_ref());
            for (op, right_node) in rest {
                let right = operand(right_node, scope)?;
                if !compare(*op, (&left, left_node), (&right, right_node), scope)? {
                    return Ok(Value::Bool(false));
                }
                (left, left_node) = (right, right_node);
            }
            Ok(Value::Bool(true))
        }
        Node::And(a, b) => {
            let left = operand(a, scope)?;
            if left.truthy()? {
                eval(b, scope)
            } else {
                Ok(left)
            }
        }
        Node::Or(a, b) => {
            let left = operand(a, scope)?;
            if left.truthy()? {
                Ok(left)
            } else {
                eval(b, scope)
            }
        }
        Node::Conditional { test, body, orelse } => eval(
            if operand(test, scope)?.truthy()? {
                body
            } else {
                orelse
            },
            scope,
        ),
    }
}

/// Evaluates `node` for use by an operator: a redacted value may only be shown.
pub(super) fn operand(node: &Node, scope: &dyn Scope) -> Result<Value> {
    match eval(node, scope)? {
        Value::Redacted { .. } => Err(value_error(format!("{} is redacted", node.subject()))),
        value => Ok(value),
    }
}

pub(super) fn truncated_error(node: &Node) -> ExprError {
    value_error(format!(
        "{} was truncated when recorded; its full value is unknown",
        node.subject()
    ))
}

/// `value` when it is not a truncated str, whose full text an operation needs.
pub(super) fn whole(value: Value, node: &Node) -> Result<Value> {
    match value {
        Value::Str {
            truncated: true, ..
        } => Err(truncated_error(node)),
        value => Ok(value),
    }
}

/// The recorded children of an object.
fn children_of(value: &Value, node: &Node, scope: &dyn Scope) -> Result<Vec<(String, Value)>> {
    let children = match value {
        Value::Object {
            object_id: Some(id),
            ..
        } => scope.children(*id)?,
        _ => None,
    };
    children.ok_or_else(|| {
        let (subject, repr) = (node.subject(), value.repr());
        not_recorded(format!(
            "the children of {subject} were not recorded (repr only: {repr})"
        ))
    })
}

fn attribute(base: &Node, attr: &str, scope: &dyn Scope) -> Result<Value> {
    let value = operand(base, scope)?;
    if !matches!(value, Value::Object { .. }) {
        let type_name = value.type_name();
        return Err(not_recorded(format!(
            "attributes of '{type_name}' values are not recorded"
        )));
    }
    let children = children_of(&value, base, scope)?;
    match children.into_iter().find(|(key, _)| key == attr) {
        Some((_, child)) => Ok(child),
        None => Err(value_error(format!(
            "'{}' object has no recorded attribute '{attr}'",
            value.type_name()
        ))),
    }
}

fn subscript(base: &Node, index_node: &Node, scope: &dyn Scope) -> Result<Value> {
    let container = operand(base, scope)?;
    let index = whole(operand(index_node, scope)?, index_node)?;
    let integer = match index {
        Value::Int(i) => Some(i),
        Value::Bool(b) => Some(i64::from(b)),
        _ => None,
    };
    match (&container, integer) {
        (Value::Str { text, truncated }, Some(i)) => {
            let count = text.chars().count() as i64;
            let position = if i < 0 && !truncated {
                i.saturating_add(count)
            } else {
                i
            };
            match usize::try_from(position)
                .ok()
                .and_then(|p| text.chars().nth(p))
            {
                Some(c) => Ok(Value::Str {
                    text: c.to_string(),
                    truncated: false,
                }),
                None if *truncated => Err(truncated_error(base)),
                None => Err(value_error("string index out of range")),
            }
        }
        (Value::Str { .. }, None) => Err(type_error(format!(
            "string indices must be integers, not '{}'",
            index.type_name()
        ))),
        (
            Value::Object {
                type_name, length, ..
            },
            Some(i),
        ) if type_name != "dict" => {
            let children = children_of(&container, base, scope)?;
            let count = children.len() as i64;
            let complete = *length == Some(children.len() as u64);
            let position = if i < 0 && complete {
                i.saturating_add(count)
            } else {
                i
            };
            let key = format!("[{position}]");
            if let Some((_, child)) = children.into_iter().find(|(k, _)| *k == key) {
                return Ok(child);
            }
            let beyond_end = length.is_some_and(|n| u64::try_from(position).is_ok_and(|p| p >= n));
            if (position < 0 && complete) || beyond_end {
                return Err(value_error(format!("{type_name} index out of range")));
            }
            let seen = length.map_or(String::new(), |n| {
                format!(" (only {count} of its {n} items were)")
            });
            Err(not_recorded(format!(
                "index {i} of {} was not recorded{seen}",
                base.subject()
            )))
        }
        (Value::Object { .. }, _) => {
            let key = index.repr();
            let children = children_of(&container, base, scope)?;
            match children.into_iter().find(|(k, _)| *k == key) {
                Some((_, child)) => Ok(child),
                None => Err(value_error(format!(
                    "key {key} not recorded in {}",
                    base.subject()
                ))),
            }
        }
        (other, _) => Err(type_error(format!(
            "'{}' object is not subscriptable",
            other.type_name()
        ))),
    }
}

fn compare(
    op: CompareOp,
    left: (&Value, &Node),
    right: (&Value, &Node),
    scope: &dyn Scope,
) -> Result<bool> {
    let ((a, a_node), (b, b_node)) = (left, right);
    let truncated = || truncated_error(if a.is_truncated() { a_node } else { b_node });
    let ordered = |symbol: &str, test: fn(Ordering) -> bool| match order(a, b) {
        Order::Known(ordering) => Ok(ordering.is_some_and(test)),
        Order::Unknown => Err(truncated()),
        Order::Unsupported => Err(unorderable(symbol, a, b)),
    };
    match op {
        CompareOp::Eq => equals(a, b).ok_or_else(truncated),
        CompareOp::NotEq => equals(a, b).map(|equal| !equal).ok_or_else(truncated),
        CompareOp::Lt => ordered("<", Ordering::is_lt),
        CompareOp::LtE => ordered("<=", Ordering::is_le),
        CompareOp::Gt => ordered(">", Ordering::is_gt),
        CompareOp::GtE => ordered(">=", Ordering::is_ge),
        CompareOp::Is | CompareOp::IsNot => match (a, b) {
            (Value::None | Value::Bool(_), _) | (_, Value::None | Value::Bool(_)) => {
                Ok((a == b) == (op == CompareOp::Is))
            }
            _ => Err(not_recorded(
                "object identity was not recorded; `is` works only with None, True and False"
                    .to_string(),
            )),
        },
        CompareOp::In | CompareOp::NotIn => {
            let needle = whole(a.clone(), a_node)?;
            Ok(contains(&needle, b, b_node, scope)? == (op == CompareOp::In))
        }
    }
}

/// Python's `needle in haystack`, over a str or an object's recorded children.
fn contains(
    needle: &Value,
    haystack: &Value,
    haystack_node: &Node,
    scope: &dyn Scope,
) -> Result<bool> {
    match haystack {
        Value::Str { text, truncated } => {
            let Value::Str { text: part, .. } = needle else {
                let type_name = needle.type_name();
                return Err(type_error(format!(
                    "'in <string>' requires string as left operand, not {type_name}"
                )));
            };
            if text.contains(part.as_str()) {
                Ok(true)
            } else if *truncated {
                Err(truncated_error(haystack_node))
            } else {
                Ok(false)
            }
        }
        Value::Object {
            type_name, length, ..
        } => {
            let children = children_of(haystack, haystack_node, scope)?;
            let is_dict = type_name == "dict";
            if !is_dict && !children.iter().all(|(key, _)| key.starts_with('[')) {
                return Err(calls_own_code("in", type_name));
            }
            let key = needle.repr();
            let mut unknown = false;
            for (child_key, child) in &children {
                match if is_dict {
                    Some(*child_key == key)
                } else {
                    equals(needle, child)
                } {
                    Some(true) => return Ok(true),
                    Some(false) => {}
                    None => unknown = true,
                }
            }
            let subject = haystack_node.subject();
            if unknown {
                Err(value_error(format!(
                    "{subject} holds truncated values, so whether it contains {key} is unknown"
                )))
            } else if *length == Some(children.len() as u64) {
                Ok(false)
            } else {
                let count = children.len();
                let of = length.map_or(String::new(), |n| format!(" of {n}"));
                Err(not_recorded(format!(
                    "only {count}{of} items of {subject} were recorded"
                )))
            }
        }
        other => Err(type_error(format!(
            "argument of type '{}' is not iterable",
            other.type_name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Value;
    use super::super::testing::{err, ok, text};

    #[test]
    fn recorded_children_answer_subscripts_and_attributes() {
        assert_eq!(ok("d['a']"), Value::Int(1));
        assert_eq!(ok("d[2]"), text("two"));
        assert_eq!(ok("obj.attr + 1"), Value::Int(43));
        assert_eq!(ok("xs[0]"), Value::Int(10));
        assert_eq!(ok("xs[-1]"), Value::Int(30));
        assert_eq!(ok("len(xs)"), Value::Int(3));
        assert_eq!(ok("s[-1]"), text("d"));
        assert_eq!(err("xs[3]"), "list index out of range");
        assert_eq!(err("d['zz']"), "key 'zz' not recorded in `d`");
        assert_eq!(
            err("obj.nope"),
            "'Foo' object has no recorded attribute 'nope'"
        );
        assert_eq!(
            err("partial[-1]"),
            "index -1 of `partial` was not recorded (only 2 of its 100 items were)"
        );
        assert_eq!(err("partial[100]"), "list index out of range");
        assert_eq!(
            err("blob.x"),
            "the children of `blob` were not recorded (repr only: <Blob>)"
        );
        assert_eq!(
            err("len(obj)"),
            "object of type 'Foo' has no recorded len()"
        );
    }

    #[test]
    fn membership() {
        assert_eq!(ok("'lo w' in s"), Value::Bool(true));
        assert_eq!(ok("'xyz' in s"), Value::Bool(false));
        assert_eq!(ok("'a' in d"), Value::Bool(true));
        assert_eq!(ok("'b' not in d"), Value::Bool(true));
        assert_eq!(ok("20 in xs"), Value::Bool(true));
        assert_eq!(ok("'20' in xs"), Value::Bool(false));
        assert_eq!(
            err("5 in partial"),
            "only 2 of 100 items of `partial` were recorded"
        );
        assert_eq!(ok("'hel' in t"), Value::Bool(true));
        assert_eq!(
            err("'z' in t"),
            "`t` was truncated when recorded; its full value is unknown"
        );
    }

    #[test]
    fn truncated_and_redacted_values_give_no_wrong_answers() {
        assert_eq!(
            err("t == 'hello world'"),
            "`t` was truncated when recorded; its full value is unknown"
        );
        assert_eq!(ok("t == 'help'"), Value::Bool(false));
        assert_eq!(ok("t > 'hello'"), Value::Bool(true));
        assert_eq!(
            err("len(t)"),
            "`t` was truncated when recorded; its full value is unknown"
        );
        assert_eq!(ok("t").repr(), "'hello...");
        assert_eq!(err("secret == 'x'"), "`secret` is redacted");
        assert_eq!(err("len(secret)"), "`secret` is redacted");
        assert_eq!(ok("repr(secret)"), text("<redacted>"));
    }
}
