//! Recorded values as the expression evaluator sees them: a frame's locals at one step, and the
//! recorded children of the containers and objects among them.

use std::cell::RefCell;
use std::collections::HashMap;

use pyttd_format::{TraceReader, ValueTag};
use pyttd_query::{Local, children_of, frame_locals};

use super::expr::{ExprError, Scope, Value};

/// A stored value as an evaluator [`Value`]; `None` for a deleted name.
pub fn to_value(local: &Local) -> Option<Value> {
    Some(match ValueTag::from_code(local.tag)? {
        ValueTag::Deleted => return None,
        ValueTag::None => Value::None,
        ValueTag::Bool => Value::Bool(local.int_value.unwrap_or(0) != 0),
        ValueTag::Int => match local.int_value {
            Some(n) => Value::Int(n),
            None => Value::BigInt(local.text.clone().unwrap_or_default()),
        },
        ValueTag::Float => Value::Float(local.float_value.unwrap_or(f64::NAN)),
        ValueTag::Str => Value::Str {
            text: local.text.clone().unwrap_or_default(),
            truncated: local.truncated,
        },
        ValueTag::Repr => Value::Object {
            type_name: local.type_name.clone(),
            repr: local.text.clone().unwrap_or_default(),
            truncated: local.truncated,
            length: local.length,
            object_id: local.object_id,
        },
        ValueTag::Redacted => Value::Redacted {
            type_name: local.type_name.clone(),
        },
    })
}

/// The recorded locals of one frame at one step, for expressions.
#[derive(Debug)]
pub struct FrameScope<'a> {
    reader: &'a TraceReader,
    locals: Vec<Local>,
    /// The seq each reachable `object_id` was recorded at (children rows share it).
    seqs: RefCell<HashMap<u64, u64>>,
}

impl<'a> FrameScope<'a> {
    /// The locals of frame `call_id` at `seq`.
    pub fn at(reader: &'a TraceReader, seq: u64, call_id: u64) -> pyttd_format::Result<Self> {
        Ok(Self::of(reader, frame_locals(reader, seq, call_id)?))
    }

    /// A scope over `locals` (for example a single local, for a one-name condition).
    pub fn of(reader: &'a TraceReader, locals: Vec<Local>) -> Self {
        let seqs = locals
            .iter()
            .filter_map(|l| l.object_id.map(|o| (o, l.seq)))
            .collect();
        FrameScope {
            reader,
            locals,
            seqs: RefCell::new(seqs),
        }
    }
}

impl FrameScope<'_> {
    /// The seq at which a value with `object_id` seen through this scope was recorded.
    pub fn recorded_at(&self, object_id: u64) -> Option<u64> {
        self.seqs.borrow().get(&object_id).copied()
    }
}

impl Scope for FrameScope<'_> {
    fn lookup(&self, name: &str) -> Result<Option<Value>, ExprError> {
        Ok(self
            .locals
            .iter()
            .find(|l| l.name == name)
            .and_then(to_value))
    }

    fn children(&self, object_id: u64) -> Result<Option<Vec<(String, Value)>>, ExprError> {
        let Some(seq) = self.seqs.borrow().get(&object_id).copied() else {
            return Ok(None);
        };
        let children = children_of(self.reader, seq, object_id)
            .map_err(|e| ExprError::Value(e.to_string()))?;
        if children.is_empty() {
            return Ok(None);
        }
        let mut seqs = self.seqs.borrow_mut();
        Ok(Some(
            children
                .iter()
                .filter_map(|c| {
                    if let Some(o) = c.object_id {
                        seqs.insert(o, c.seq);
                    }
                    Some((c.name.clone(), to_value(c)?))
                })
                .collect(),
        ))
    }
}
