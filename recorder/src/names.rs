//! Variable names by number. A `values` row travels from the producer to the flush thread with
//! its name's [`NameId`], not the name: no reference count is shared between the two threads, and
//! the row stays small. Names are numbered on first sight (a code object's description, a new
//! module-level name), which is rare; the flush thread copies the new ones when it meets a number
//! it does not know yet.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The number of a variable name within one recording.
pub(crate) type NameId = u32;

/// The empty name of return values, yielded values and exceptions (`values.name` is `""`).
pub(crate) const NO_NAME: NameId = 0;

/// Every name numbered so far; `NameId`s index it.
#[derive(Debug)]
pub(crate) struct Names {
    inner: Mutex<Numbered>,
}

#[derive(Debug)]
struct Numbered {
    ids: HashMap<Arc<str>, NameId>,
    texts: Vec<Arc<str>>,
}

impl Names {
    pub fn new() -> Self {
        let empty: Arc<str> = Arc::from("");
        Names {
            inner: Mutex::new(Numbered {
                ids: HashMap::from([(empty.clone(), NO_NAME)]),
                texts: vec![empty],
            }),
        }
    }

    /// The number of `name`, numbering it if it is new.
    pub fn id(&self, name: &str) -> NameId {
        let mut n = self.inner.lock().expect("not poisoned");
        if let Some(&id) = n.ids.get(name) {
            return id;
        }
        let id = NameId::try_from(n.texts.len()).expect("fewer than 2^32 distinct names");
        let text: Arc<str> = Arc::from(name);
        n.texts.push(text.clone());
        n.ids.insert(text, id);
        id
    }

    /// Appends to `known` (the names `0..known.len()`) every name numbered since.
    pub fn extend(&self, known: &mut Vec<Arc<str>>) {
        let n = self.inner.lock().expect("not poisoned");
        if let Some(new) = n.texts.get(known.len()..) {
            known.extend(new.iter().cloned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_keeps_its_number_and_the_flush_side_catches_up() {
        let names = Names::new();
        let (x, y) = (names.id("x"), names.id("y"));
        assert_eq!((names.id(""), x, y, names.id("x")), (NO_NAME, 1, 2, 1));
        let mut known = Vec::new();
        names.extend(&mut known);
        assert_eq!(
            known.iter().map(|s| &**s).collect::<Vec<_>>(),
            ["", "x", "y"]
        );
        let z = names.id("z");
        names.extend(&mut known);
        assert_eq!(&*known[z as usize], "z");
        assert_eq!(known.len(), 4);
    }
}
