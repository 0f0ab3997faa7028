//! The scope and helpers the tests of every submodule evaluate expressions with.

use std::collections::HashMap;

use super::error::Result;
use super::{Expr, Scope, Value};

pub(super) struct TestScope {
    locals: HashMap<&'static str, Value>,
    children: HashMap<u64, Vec<(String, Value)>>,
}

impl Scope for TestScope {
    fn lookup(&self, name: &str) -> Result<Option<Value>> {
        Ok(self.locals.get(name).cloned())
    }
    fn children(&self, object_id: u64) -> Result<Option<Vec<(String, Value)>>> {
        Ok(self.children.get(&object_id).cloned())
    }
}

pub(super) fn text(text: &str) -> Value {
    Value::Str {
        text: text.to_string(),
        truncated: false,
    }
}

pub(super) fn object(
    type_name: &str,
    repr: &str,
    length: Option<u64>,
    object_id: Option<u64>,
) -> Value {
    let (type_name, repr) = (type_name.to_string(), repr.to_string());
    Value::Object {
        type_name,
        repr,
        truncated: false,
        length,
        object_id,
    }
}

pub(super) fn scope() -> TestScope {
    let locals = HashMap::from([
        ("x", Value::Int(500)),
        ("i", Value::Int(7)),
        ("f", Value::Float(1.5)),
        ("s", text("hello world")),
        (
            "t",
            Value::Str {
                text: "hello".to_string(),
                truncated: true,
            },
        ),
        (
            "secret",
            Value::Redacted {
                type_name: "str".to_string(),
            },
        ),
        ("big", Value::BigInt("99999999999999999999".to_string())),
        ("xs", object("list", "[10, 20, 30]", Some(3), Some(1))),
        ("d", object("dict", "{'a': 1, 2: 'two'}", Some(2), Some(2))),
        ("obj", object("Foo", "<Foo object>", None, Some(3))),
        ("partial", object("list", "[0, 1, ...]", Some(100), Some(4))),
        ("blob", object("Blob", "<Blob>", None, None)),
    ]);
    let children = HashMap::from([
        (
            1,
            vec![
                ("[0]".into(), Value::Int(10)),
                ("[1]".into(), Value::Int(20)),
                ("[2]".into(), Value::Int(30)),
            ],
        ),
        (
            2,
            vec![("'a'".into(), Value::Int(1)), ("2".into(), text("two"))],
        ),
        (3, vec![("attr".into(), Value::Int(42))]),
        (
            4,
            vec![("[0]".into(), Value::Int(0)), ("[1]".into(), Value::Int(1))],
        ),
    ]);
    TestScope { locals, children }
}

pub(super) fn eval(source: &str) -> Result<Value> {
    Expr::parse(source)?.eval(&scope())
}

pub(super) fn ok(source: &str) -> Value {
    eval(source).unwrap_or_else(|e| panic!("{source}: {e}"))
}

pub(super) fn err(source: &str) -> String {
    match eval(source) {
        Ok(value) => panic!("{source} gave {value:?}"),
        Err(error) => error.to_string(),
    }
}
