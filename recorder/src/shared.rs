//! Children written once (SPEC.md, `children`, "Shared children"; DESIGN.md 5.4).
//!
//! A value is written with its children whenever it changes, and the same children come back
//! again and again: a loop variable that takes the same few objects in turn, a node of a graph
//! shown each time a search reaches it, a record a function receives at every call. The flush
//! thread remembers the children rows it wrote, by content, and when a value arrives whose
//! children are the same rows it gives the value the object id they were written under and
//! writes none (solver's trace: 62,033 children rows of which 28,796 differ).
//!
//! It also numbers the object ids the file holds: the producers number each value's tree of
//! children from a shared counter as they render it, whether or not it is written, in whatever
//! order threads render; the ids in the file are numbered again here, in the order the trees are
//! written and without gaps, so that the `object_id` and `parent_id` columns (delta-coded) grow
//! by small steps and each segment's `parent_id` zone is a range of its own.
//!
//! The content compared is every column of every row of the value's children, grandchildren
//! included, with the ids that link them taken relative to the value's own object id: two trees
//! match only when a reader would show the same rows through either id. It is compared in full,
//! never by a hash alone. What it remembers is bounded: two generations of at most
//! [`GENERATION_BYTES`] each, the older one dropped when the newer fills (a set of children not
//! seen for that long is written again).

use std::collections::HashMap;

use foldhash::fast::FixedState;
use pyttd_format::Value;

use crate::ring::Aux;

/// Bytes of remembered children per generation.
pub(crate) const GENERATION_BYTES: usize = 8 << 20;

/// What a remembered set of children costs beyond its bytes (map entry, allocation).
const ENTRY_OVERHEAD: usize = 64;

/// The children the flush thread has written, by content, and the ids it wrote them under.
#[derive(Debug)]
pub(crate) struct SharedChildren {
    current: HashMap<Box<[u8]>, u64, FixedState>,
    previous: HashMap<Box<[u8]>, u64, FixedState>,
    current_bytes: usize,
    /// The content of the children being looked up (reused).
    key: Vec<u8>,
    /// The file's next unused object id.
    next_id: u64,
}

impl Default for SharedChildren {
    fn default() -> Self {
        SharedChildren {
            current: HashMap::default(),
            previous: HashMap::default(),
            current_bytes: 0,
            key: Vec::new(),
            next_id: 1,
        }
    }
}

/// Where the children of a value go in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placed {
    /// The same children were written before, under this object id: the value refers to them
    /// and its own rows are not written.
    Earlier(u64),
    /// They are new: written now, the value's object id becomes `base`, and every id of the
    /// tree moves by the same amount (see [`Placed::id`]).
    New { from: u64, base: u64 },
}

impl Placed {
    /// The file's id for a producer's id `id` within the tree being written.
    pub(crate) fn id(self, id: u64) -> u64 {
        match self {
            Placed::Earlier(earlier) => earlier,
            Placed::New { from, base } => id.wrapping_sub(from).wrapping_add(base),
        }
    }
}

impl SharedChildren {
    /// Where the children of the value whose producer-numbered object id is `id` go: `children`
    /// are the `Child` rows that follow its row, in order. New children are remembered.
    pub(crate) fn place<'a>(&mut self, id: u64, children: impl Iterator<Item = &'a Aux>) -> Placed {
        self.key.clear();
        let mut span = 0;
        for child in children {
            if let Aux::Child {
                parent_id,
                position,
                key,
                value,
            } = child
            {
                let parent = parent_id.wrapping_sub(id);
                self.key.extend_from_slice(&parent.to_le_bytes());
                self.key.extend_from_slice(&position.to_le_bytes());
                put_str(&mut self.key, key);
                put_value(&mut self.key, value, id);
                let own = match value {
                    Value::Repr(r) => r.object_id.map_or(0, |o| o.wrapping_sub(id)),
                    _ => 0,
                };
                span = span.max(parent).max(own);
            }
        }
        if let Some(&earlier) = self.current.get(self.key.as_slice()) {
            return Placed::Earlier(earlier);
        }
        if let Some(earlier) = self.previous.remove(self.key.as_slice()) {
            self.remember(earlier);
            return Placed::Earlier(earlier);
        }
        let base = self.next_id;
        self.next_id = base.saturating_add(span).saturating_add(1);
        self.remember(base);
        Placed::New { from: id, base }
    }

    fn remember(&mut self, id: u64) {
        if self.current_bytes + self.key.len() > GENERATION_BYTES {
            self.previous = std::mem::take(&mut self.current);
            self.current_bytes = 0;
        }
        self.current_bytes += self.key.len() + ENTRY_OVERHEAD;
        self.current.insert(self.key.as_slice().into(), id);
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, n: Option<u64>) {
    match n {
        Some(n) => {
            out.push(1);
            out.extend_from_slice(&n.to_le_bytes());
        }
        None => out.push(0),
    }
}

/// Every column of a children row's value, after a byte that tells its kind (an `int` beyond 64
/// bits has a tag of its own here); its object id relative to `id`.
fn put_value(out: &mut Vec<u8>, value: &Value, id: u64) {
    match value {
        Value::Deleted => out.push(0),
        Value::None => out.push(1),
        Value::Bool(b) => out.extend_from_slice(&[2, u8::from(*b)]),
        Value::Int(n) => {
            out.push(3);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Value::BigInt(digits) => {
            out.push(4);
            put_str(out, digits);
        }
        Value::Float(x) => {
            out.push(5);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        Value::Str { text, truncated } => {
            out.extend_from_slice(&[6, u8::from(*truncated)]);
            put_str(out, text);
        }
        Value::Repr(r) => {
            out.push(7);
            put_str(out, &r.type_name);
            put_str(out, &r.text);
            out.push(u8::from(r.truncated));
            put_opt(out, r.length);
            put_opt(out, r.object_id.map(|o| o.wrapping_sub(id)));
        }
        Value::Redacted { type_name } => {
            out.push(8);
            put_str(out, type_name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyttd_format::ReprValue;

    fn child(parent_id: u64, position: u32, key: &str, value: Value) -> Aux {
        Aux::Child {
            parent_id,
            position,
            key: key.into(),
            value,
        }
    }

    fn point(x: i64, y: i64, id: u64) -> Vec<Aux> {
        vec![
            child(id, 0, "x", Value::Int(x)),
            child(id, 1, "y", Value::Int(y)),
        ]
    }

    /// A list whose one element is a list holding 7: ids `id` and `id + 1`.
    fn list(id: u64, element_text: &str) -> Vec<Aux> {
        let element = Value::from(ReprValue {
            type_name: "list".into(),
            text: element_text.into(),
            truncated: false,
            length: Some(1),
            object_id: Some(id + 1),
        });
        vec![
            child(id, 0, "[0]", element),
            child(id + 1, 0, "[0]", Value::Int(7)),
        ]
    }

    /// The earlier id the children were written under, `None` when they are new.
    fn earlier(shared: &mut SharedChildren, id: u64, children: &[Aux]) -> Option<u64> {
        match shared.place(id, children.iter()) {
            Placed::Earlier(e) => Some(e),
            Placed::New { .. } => None,
        }
    }

    #[test]
    fn the_same_children_are_written_once_under_the_first_id() {
        let mut shared = SharedChildren::default();
        assert_eq!(earlier(&mut shared, 1, &point(1, 2, 1)), None);
        assert_eq!(earlier(&mut shared, 5, &point(1, 2, 5)), Some(1));
        assert_eq!(earlier(&mut shared, 9, &point(1, 2, 9)), Some(1));
        // Grandchildren are linked by ids relative to the value's.
        assert_eq!(earlier(&mut shared, 20, &list(20, "[7]")), None);
        assert_eq!(earlier(&mut shared, 40, &list(40, "[7]")), Some(2));
    }

    #[test]
    fn written_trees_are_numbered_again_in_order_without_gaps() {
        let mut shared = SharedChildren::default();
        let first = shared.place(100, point(1, 2, 100).iter());
        assert_eq!(first, Placed::New { from: 100, base: 1 });
        assert_eq!(first.id(100), 1);
        // A tree of two ids (the list and its element) takes the next two.
        let second = shared.place(500, list(500, "[7]").iter());
        assert_eq!((second.id(500), second.id(501)), (2, 3));
        assert_eq!(shared.place(90, point(3, 4, 90).iter()).id(90), 4);
        assert_eq!(shared.place(700, list(700, "[7]").iter()).id(701), 2);
        assert_eq!(shared.place(800, point(5, 6, 800).iter()).id(800), 5);
    }

    #[test]
    fn children_that_differ_anywhere_are_written_again() {
        let mut shared = SharedChildren::default();
        assert_eq!(earlier(&mut shared, 1, &point(1, 2, 1)), None);
        assert_eq!(earlier(&mut shared, 3, &point(1, 3, 3)), None);
        assert_eq!(earlier(&mut shared, 5, &point(2, 1, 5)), None);
        let mut renamed = point(1, 2, 7);
        if let Aux::Child { key, .. } = &mut renamed[1] {
            *key = "z".into();
        }
        assert_eq!(earlier(&mut shared, 7, &renamed), None);
        // An int and a float that print alike, a str cut and one not.
        assert_eq!(
            earlier(&mut shared, 9, &[child(9, 0, "x", Value::Int(1))]),
            None
        );
        assert_eq!(
            earlier(&mut shared, 11, &[child(11, 0, "x", Value::Float(1.0))]),
            None
        );
        let text = |t: &str, truncated| Value::Str {
            text: t.into(),
            truncated,
        };
        assert_eq!(
            earlier(&mut shared, 13, &[child(13, 0, "s", text("ab", false))]),
            None
        );
        assert_eq!(
            earlier(&mut shared, 15, &[child(15, 0, "s", text("ab", true))]),
            None
        );
        // A grandchild that differs, and the same grandchild under another position.
        assert_eq!(earlier(&mut shared, 20, &list(20, "[7]")), None);
        assert_eq!(earlier(&mut shared, 30, &list(30, "[8]")), None);
        let mut moved = list(40, "[7]");
        if let Aux::Child { position, .. } = &mut moved[1] {
            *position = 1;
        }
        assert_eq!(earlier(&mut shared, 40, &moved), None);
        // Everything above is still found (ids: one per point, two per list).
        assert_eq!(earlier(&mut shared, 50, &point(1, 3, 50)), Some(2));
        assert_eq!(earlier(&mut shared, 60, &list(60, "[8]")), Some(11));
    }

    #[test]
    fn every_column_of_a_child_tells_children_apart() {
        let repr = |type_name: &str, truncated: bool, length: Option<u64>, expanded: bool| {
            Value::from(ReprValue {
                type_name: type_name.into(),
                text: "[1]".into(),
                truncated,
                length,
                // The child's own children would be the next id (not written in this test).
                object_id: expanded.then_some(1),
            })
        };
        // Values that look alike somewhere (same text, same digits, same number), each the only
        // child of its value: every one is new, and each is found again under its own id.
        let kinds = [
            Value::Deleted,
            Value::None,
            Value::Bool(true),
            Value::Int(1),
            Value::BigInt("1".into()),
            Value::Float(1.0),
            Value::Str {
                text: "[1]".into(),
                truncated: false,
            },
            repr("list", false, Some(1), false),
            repr("L", false, Some(1), false),
            repr("list", true, Some(1), false),
            repr("list", false, Some(2), false),
            repr("list", false, None, false),
            repr("list", false, Some(1), true),
            Value::Redacted {
                type_name: "list".into(),
            },
        ];
        // The child as the tree with id `id` holds it (an object id relative to the tree's).
        let at = |value: &Value, id: u64| {
            let mut value = value.clone();
            if let Value::Repr(r) = &mut value {
                r.object_id = r.object_id.map(|o| o + id);
            }
            [child(id, 0, "x", value)]
        };
        let mut shared = SharedChildren::default();
        let mut ids = Vec::new();
        for (i, value) in kinds.iter().enumerate() {
            let id = 100 * i as u64;
            let placed = shared.place(id, at(value, id).iter());
            assert!(
                matches!(placed, Placed::New { .. }),
                "{value:?} taken for an earlier child"
            );
            ids.push(placed.id(id));
        }
        for (i, value) in kinds.iter().enumerate() {
            let id = 10_000 + 100 * i as u64;
            let placed = shared.place(id, at(value, id).iter());
            assert_eq!(placed, Placed::Earlier(ids[i]), "{value:?}");
        }
    }

    #[test]
    fn what_it_remembers_is_bounded_and_recent_children_survive() {
        let mut shared = SharedChildren::default();
        let many = |i: i64, id: u64| point(i, -i, id);
        assert_eq!(earlier(&mut shared, 1, &many(0, 1)), None);
        let mut id = 2;
        // Fill far past two generations, looking up the first children now and then.
        for i in 1..400_000 {
            if i % 1000 == 0 {
                assert_eq!(earlier(&mut shared, id, &many(0, id)), Some(1));
                id += 1;
            }
            earlier(&mut shared, id, &many(i, id));
            id += 1;
        }
        let held: usize = [&shared.current, &shared.previous]
            .iter()
            .flat_map(|m| m.keys())
            .map(|k| k.len() + ENTRY_OVERHEAD)
            .sum();
        assert!(held <= 2 * GENERATION_BYTES, "{held} bytes remembered");
        // Children not seen since two generations ago are forgotten and written again.
        assert_eq!(earlier(&mut shared, id, &many(5, id)), None);
    }
}
