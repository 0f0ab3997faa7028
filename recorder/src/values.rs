//! Per-frame value tracking: read a frame's locals straight from the frame (DESIGN.md 2.4, 2.5),
//! compare them with what the frame last recorded, and produce `values` rows for the changes,
//! deletions and snapshots (SPEC section 6, `values`).
//!
//! The cache per name is `(pointer, immortal-when-cached, rendered value)` and holds **no
//! reference**. A matching pointer is trusted without re-rendering only when the object was
//! already immortal when it was cached: such an object is never freed, so its address cannot
//! have been reused by another object. (Being immortal *now* is not enough: a freed object's
//! address may be reused by a new string that was interned, i.e. immortalized, since.) Scalars are
//! compared by value; objects with a repr stamp (a version CPython keeps, e.g. a class's) by
//! stamp; lists, tuples and dicts, whatever they hold, by their shape (`shape.rs`: scalars by
//! value, dicts by version tag, other objects in them by their rendering). Everything else is
//! rendered again at every event of its frame and compared with the recorded rendering, which
//! also catches in-place mutation (`xs.append(1)`). DESIGN.md 5.6 has the table.
//!
//! A function frame's event reads only the slots it may have rebound since the frame's previous
//! event, plus those holding values that can change in place (`stores.rs`).
//!
//! Snapshots: at the event that opens a frame (the arguments), and every [`SNAPSHOT_EVERY`]
//! events of a frame, so a reader rebuilds any step from at most that many events of the frame.
//!
//! Module and class bodies: their namespace dict (the frame's `f_locals`, the globals dict for a
//! module) is read in full at every event, from its entry table (`cpython::DictEntries`) or with
//! `PyDict_Next` (no Python code runs either way), dunder names skipped, bound hidden
//! comprehension slots laid over it; a table whose keys have not moved since the last walk is
//! read at its recorded names' entries alone ([`NamespaceLayout`]). Cost is O(namespace) per
//! module-level event; dict watchers (DESIGN.md 2.5) would make it O(changes).

use pyo3_ffi as ffi;
use pyttd_format::{Value, ValueRole};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::cpython::{self, CO_FAST_HIDDEN, FramePtr};
use crate::expand::{Expander, Rendered};
use crate::memo::ReprScope;
use crate::names::{NO_NAME, NameId};
use crate::render::{self, is_immortal, same};
use crate::ring::Aux;
use crate::session::CodeInfo;
use crate::shape::Shape;
use crate::stores::{ALL_SLOTS, SlotMask};

/// Events of one frame between two snapshots of its locals.
pub const SNAPSHOT_EVERY: u32 = 256;

#[derive(Debug)]
struct Cached {
    ptr: usize,
    immortal: bool,
    value: Value,
    /// Fingerprint of the children recorded with `value` (0: none).
    children: u64,
    /// [`Expander::repr_stamp`](crate::expand::Expander::repr_stamp) when `value` was rendered.
    stamp: Option<(usize, u64)>,
    /// [`Shape::of`] when `value` was rendered.
    shape: Option<Box<Shape>>,
}

impl Cached {
    /// The cache of `v`, shown as `value` by its content alone: no children, stamp or shape.
    fn plain(v: *mut ffi::PyObject, immortal: bool, value: Value) -> Cached {
        Cached {
            ptr: v as usize,
            immortal,
            value,
            children: 0,
            stamp: None,
            shape: None,
        }
    }

    /// The value is an immutable scalar or str, shown by its content: the same object always
    /// renders the same.
    fn fixed_content(&self) -> bool {
        self.children == 0
            && self.shape.is_none()
            && matches!(
                self.value,
                Value::None
                    | Value::Bool(_)
                    | Value::Int(_)
                    | Value::BigInt(_)
                    | Value::Float(_)
                    | Value::Str { .. }
            )
    }
}

/// What one frame last recorded. Small, since it moves with its frame on the shadow stack.
#[derive(Debug, Default)]
pub(crate) struct FrameVals {
    slots: Vec<Option<Cached>>,
    /// Slots (below 64) whose cached value may change without the slot being rebound: a
    /// container, an object, anything not an immutable scalar or str (stores.rs).
    volatile: SlotMask,
    /// Module and class bodies only.
    namespace: Option<Box<Namespace>>,
    events: u32,
}

/// What objects showed when the locals showing them moved on (rebound to another object, or
/// their frame returned), by the object's address: a local that comes to hold one of them again
/// (a loop variable over the same objects, an argument passed again) takes its rendering from
/// here when the kept shape still matches it, instead of walking and rendering it anew. Values
/// with a shape are kept (an object shown with its attributes, a list, tuple or dict). A shape
/// compares content, not identity, so an entry stays sound if its object is freed and another is
/// made at its address. Per thread, at most [`RECENT_MAX`] values, each within its shape's bounds
/// (`shape.rs`: 512 nodes, 2 KiB of text) and its rows (`expand.rs`: 256); it holds no reference.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    by_addr: HashMap<usize, Cached, BuildHasherDefault<AddressHasher>>,
}

/// Entries [`Recent`] holds at most (it starts over when full).
const RECENT_MAX: usize = 256;

impl Recent {
    fn keep(&mut self, cached: Cached) {
        if self.by_addr.len() >= RECENT_MAX {
            self.by_addr.clear();
        }
        self.by_addr.insert(cached.ptr, cached);
    }

    fn take(&mut self, v: *mut ffi::PyObject) -> Option<Cached> {
        if self.by_addr.is_empty() {
            return None;
        }
        self.by_addr.remove(&(v as usize))
    }

    /// Whether `cached` is worth keeping (see the type's docs), and may be: a text holding
    /// `...` may show a container met inside itself, which depends on the containers being
    /// rendered where it was taken (by the program too: a local of a `__repr__` that
    /// `repr(holder)` runs shows `holder` as `[...]`), and is not taken elsewhere.
    fn worth_keeping(cached: &Cached) -> bool {
        let marked = |value: &Value| matches!(value, Value::Repr(r) if crate::shape::holds_ellipsis(&r.text));
        cached
            .shape
            .as_ref()
            .is_some_and(|s| !marked(&cached.value) && !s.rows().iter().any(|n| marked(n.value())))
    }
}

/// What a module or class body's namespace last recorded.
#[derive(Debug, Default)]
struct Namespace {
    /// Every name the namespace has shown, in first-seen order.
    names: Vec<NsName>,
    /// Index into `names` by name.
    by_name: HashMap<NameId, usize>,
    /// Index into `names` (or [`SKIPPED`] for dunder names) by the address of an immortal key
    /// object (interned identifiers are): such an address always means the same string.
    by_key: HashMap<usize, usize, BuildHasherDefault<AddressHasher>>,
    /// The last namespace walk's keys in dict order: `(immortal key address, index)`. Dict
    /// order rarely changes between two events, so this answers most keys with one compare.
    by_position: Vec<(usize, usize)>,
    /// Where the last walk found each key, to walk an unchanged table by its names alone.
    layout: NamespaceLayout,
    /// Scratch space of `observe_namespace`: (index into `names`, object address, whether
    /// [`unchanged`] found it differing from its cache).
    items: Vec<(usize, usize, bool)>,
}

/// The keys of a namespace's entry table as the last full walk found them, when all were
/// immortal (the interned names of a module or class body are): the same addresses at the same
/// places are then the same names, so a table that [`holds`](NamespaceLayout::holds) them is walked
/// over `named` alone (the same entries, minus the dunders, which are not recorded).
#[derive(Debug, Default)]
struct NamespaceLayout {
    /// Each entry's key address, 0 for a deleted entry; empty when no layout is kept.
    keys: Vec<usize>,
    /// (entry, index into `Namespace::names`) of each recorded name, in table order.
    named: Vec<(usize, usize)>,
}

impl NamespaceLayout {
    /// Whether `table` holds exactly the keys of the last walk, at the same places.
    ///
    /// # Safety
    /// As [`cpython::DictEntries::get`].
    #[inline]
    unsafe fn holds(&self, table: &cpython::DictEntries) -> bool {
        if self.keys.is_empty() || self.keys.len() != table.len() {
            return false;
        }
        for (i, &k) in self.keys.iter().enumerate() {
            // SAFETY: guaranteed by the caller, with `i < table.len()`.
            if unsafe { table.get(i) }.0 as usize != k {
                return false;
            }
        }
        true
    }
}

/// A namespace name, its redaction, and what it last recorded (`None`: unbound).
#[derive(Debug)]
struct NsName {
    name: NameId,
    secret: bool,
    cached: Option<Cached>,
    seen: u32,
}

const SKIPPED: usize = usize::MAX;

/// A copy of `value`: scalars copied here, since `Value::clone` is a call into another crate that
/// every row of a changed int or float would pay.
#[inline]
fn duplicate(value: &Value) -> Value {
    match *value {
        Value::None => Value::None,
        Value::Bool(b) => Value::Bool(b),
        Value::Int(i) => Value::Int(i),
        Value::Float(f) => Value::Float(f),
        _ => value.clone(),
    }
}

fn row(name: NameId, snapshot: bool, value: Value) -> Aux {
    Aux::Value {
        name,
        role: ValueRole::Local,
        snapshot,
        value,
    }
}

impl FrameVals {
    /// Forgets everything recorded, keeping the allocations: the state of a frame that has
    /// recorded nothing yet.
    pub fn clear(&mut self) {
        self.slots.clear();
        self.volatile = 0;
        self.events = 0;
        self.namespace = None;
    }

    /// Hands what the frame's locals showed to `recent` as the frame returns (then [`clear`] it).
    ///
    /// [`clear`]: FrameVals::clear
    pub fn retire(&mut self, recent: &mut Recent) {
        // Only a slot marked volatile can hold a shape (most frames hold none).
        if self.volatile == 0 && self.slots.len() <= 64 {
            return;
        }
        for cached in self.slots.drain(..).flatten() {
            if Recent::worth_keeping(&cached) {
                recent.keep(cached);
            }
        }
    }

    /// Reads the locals of `frame` (executing `info`'s code) and appends the rows for this event
    /// to `out`: changes and deletions, plus every bound local as a snapshot row when `snapshot`
    /// is asked for or the periodic snapshot is due. `lines` is `(previous, now)`: the line the
    /// frame's previous event reported and this event's, when the frame recorded an event
    /// before; a function frame then reads only the slots those lines may have rebound, and the
    /// ones holding values that can change in place (stores.rs).
    ///
    /// # Safety
    /// GIL held; `frame` is the live current frame executing `info`'s code.
    pub unsafe fn observe(
        &mut self,
        info: &CodeInfo,
        frame: FramePtr,
        snapshot: bool,
        lines: Option<(u32, u32)>,
        out: &mut Vec<Aux>,
        recent: &mut Recent,
    ) {
        let snap = snapshot || self.events.is_multiple_of(SNAPSHOT_EVERY);
        self.events = self.events.wrapping_add(1);
        // SAFETY: guaranteed by the caller.
        unsafe {
            if info.optimized {
                let read = match lines {
                    Some((previous, now)) if !snap && !cpython::frame_has_object(frame) => {
                        info.stores.may_rebind(previous, now) | self.volatile
                    }
                    _ => ALL_SLOTS,
                };
                self.observe_fast(info, frame, snap, read, out, recent);
            } else {
                self.observe_namespace(info, frame, snap, out, recent);
            }
        }
    }

    /// # Safety
    /// As [`FrameVals::observe`], for an optimized (function) frame; `read` holds the slots below
    /// 64 to read (those from 64 on are always read).
    unsafe fn observe_fast(
        &mut self,
        info: &CodeInfo,
        frame: FramePtr,
        snap: bool,
        read: SlotMask,
        out: &mut Vec<Aux>,
        recent: &mut Recent,
    ) {
        let n = info.slot_names.len();
        if self.slots.len() != n {
            self.slots.resize_with(n, || None);
        }
        let slots = &mut self.slots[..n];
        let mut event = EventRows {
            rows: out,
            snap,
            scope: None,
            recent,
        };
        let mut volatile = self.volatile;
        let mut visit = |i: usize, slot: &mut Option<Cached>| {
            // SAFETY: `i < co_nlocalsplus`, kind from the same code object.
            let v = unsafe { cpython::frame_local(frame, i, info.slot_kinds[i]) };
            // Most slots hold what they held at the last event: answered here, inline.
            // SAFETY: `v` is null or a live object held by the frame (or its cell).
            if !snap && unsafe { unchanged(slot, v, &info.expand) } {
                return;
            }
            let name = info.slot_names[i];
            let secret = info.secret_slots[i];
            // SAFETY: `v` is a live object held by the frame (or its cell) right now.
            unsafe { update(slot, name, v, secret, !snap, info, &mut event) };
            // An unchanged slot renders as before: only an update can change its kind of value.
            if i < 64 {
                let bit = 1 << i;
                if slot.as_ref().is_some_and(|c| !c.fixed_content()) {
                    volatile |= bit;
                } else {
                    volatile &= !bit;
                }
            }
        };
        if read == ALL_SLOTS || n > 64 {
            for (i, slot) in slots.iter_mut().enumerate() {
                if i < 64 && read & (1 << i) == 0 {
                    continue;
                }
                visit(i, slot);
            }
        } else {
            let mut bits = if n == 64 { read } else { read & ((1 << n) - 1) };
            while bits != 0 {
                let i = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                visit(i, &mut slots[i]);
            }
        }
        self.volatile = volatile;
    }

    /// # Safety
    /// As [`FrameVals::observe`], for a module or class body.
    unsafe fn observe_namespace(
        &mut self,
        info: &CodeInfo,
        frame: FramePtr,
        snap: bool,
        out: &mut Vec<Aux>,
        recent: &mut Recent,
    ) {
        // SAFETY: guaranteed by the caller: reading the frame, its dict and its slots with the
        // GIL held; every object collected is held by a new reference until compared.
        unsafe {
            let d = cpython::frame_locals(frame);
            if d.is_null() || ffi::PyDict_Check(d) == 0 {
                // A non-dict namespace (exec with a custom mapping) is not read: no Python code
                // may run to read it. Its values are not recorded.
                return;
            }
            let mark = self.events;
            let ns = &mut **self.namespace.get_or_insert_with(Default::default);
            // Collect first (no Python code runs), compare afterwards: rendering may run code
            // that changes the dict.
            let mut items = std::mem::take(&mut ns.items);
            items.clear();
            // The table's address and length are read once: nothing from here to the updates
            // below may run Python code or collect garbage (either could resize the dict and
            // free the table).
            let entries = cpython::DictEntries::of(d);
            // When the table holds the same keys at the same places as at the last walk, only
            // its named entries are visited (dunders are most of a small module's entries).
            if let Some(table) = &entries
                && ns.layout.holds(table)
            {
                for &(entry, index) in &ns.layout.named {
                    let (_, v) = table.get(entry);
                    if v.is_null() {
                        // Deleted: left unseen, so recorded as deleted below.
                        continue;
                    }
                    compare_or_collect(&mut ns.names, index, v, snap, mark, info, &mut items);
                }
            } else {
                self::walk_namespace(ns, info, d, entries, snap, mark, &mut items);
            }
            for (i, kind) in info.slot_kinds.iter().enumerate() {
                if kind & CO_FAST_HIDDEN == 0 {
                    continue;
                }
                let v = cpython::frame_local(frame, i, *kind);
                if v.is_null() {
                    continue;
                }
                cpython::incref(v);
                let index = ns.name_index(info.slot_names[i], info.secret_slots[i]);
                match items.iter_mut().find(|(k, ..)| *k == index) {
                    Some(item) => {
                        cpython::decref(item.1 as *mut ffi::PyObject);
                        *item = (index, v as usize, false);
                    }
                    None => items.push((index, v as usize, false)),
                }
            }
            let mut event = EventRows {
                rows: out,
                snap,
                scope: None,
                recent,
            };
            for &(index, v, differs) in &items {
                let v = v as *mut ffi::PyObject;
                let entry = &mut ns.names[index];
                update(
                    &mut entry.cached,
                    entry.name,
                    v,
                    entry.secret,
                    differs,
                    info,
                    &mut event,
                );
                entry.seen = mark;
                cpython::decref(v);
            }
            ns.items = items;
            for entry in &mut ns.names {
                if entry.seen != mark && entry.cached.is_some() {
                    entry.cached = None;
                    out.push(row(entry.name, false, Value::Deleted));
                }
            }
        }
    }
}

/// The walk of every entry of namespace `d` for [`FrameVals::observe_namespace`]: names whose
/// value differs from their cache (or all of them, for a snapshot) go to `items` with a new
/// reference, unchanged ones are marked seen. When `entries` (the dict's combined table) holds
/// only immortal keys, their places are kept in `ns.layout` for the next walk.
///
/// # Safety
/// GIL held; `d` is a live exact dict and `entries` its table (read by
/// [`cpython::DictEntries::of`] just before); nothing here runs Python code or collects garbage
/// (either could resize the dict and free the table).
unsafe fn walk_namespace(
    ns: &mut Namespace,
    info: &CodeInfo,
    d: *mut ffi::PyObject,
    entries: Option<cpython::DictEntries>,
    snap: bool,
    mark: u32,
    items: &mut Vec<(usize, usize, bool)>,
) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        // The entry table read directly when it is a combined one (it always is for a module),
        // else `PyDict_Next`; both walk the same entries in the same order. The walk of
        // `cpython::each_entry`, written out: its closure call per entry cost tight_loop's
        // callbacks 7% more instructions.
        ns.layout.keys.clear();
        ns.layout.named.clear();
        let mut keep_layout = entries.is_some();
        let mut pos: ffi::Py_ssize_t = 0;
        let mut entry = 0;
        let mut ordinal = 0;
        loop {
            let (k, v) = match &entries {
                Some(table) => {
                    if entry == table.len() {
                        break;
                    }
                    entry += 1;
                    let (k, v) = table.get(entry - 1);
                    // A deleted entry has neither key nor value; a key with a null value (not
                    // seen in a combined table) keeps no layout.
                    keep_layout &= v.is_null() == k.is_null() && (k.is_null() || is_immortal(k));
                    ns.layout.keys.push(k as usize);
                    if v.is_null() {
                        continue;
                    }
                    (k, v)
                }
                None => {
                    let (mut k, mut v) = (std::ptr::null_mut(), std::ptr::null_mut());
                    if ffi::PyDict_Next(d, &mut pos, &mut k, &mut v) == 0 {
                        break;
                    }
                    (k, v)
                }
            };
            let index = match ns.by_position.get(ordinal) {
                Some(&(key, index)) if key == k as usize => index,
                _ => {
                    let index = ns.key_index(k, info);
                    // Entries before `ordinal` matched or were just pushed, so this lands at
                    // `ordinal`. Address 0 (a mortal key) never matches.
                    let key = if is_immortal(k) { k as usize } else { 0 };
                    ns.by_position.truncate(ordinal);
                    ns.by_position.push((key, index));
                    index
                }
            };
            ordinal += 1;
            if index == SKIPPED {
                continue;
            }
            if entries.is_some() {
                // `entry` was advanced past this one.
                ns.layout.named.push((entry - 1, index));
            }
            compare_or_collect(&mut ns.names, index, v, snap, mark, info, items);
        }
        if !keep_layout {
            ns.layout.keys.clear();
            ns.layout.named.clear();
        }
    }
}

/// One bound name of a namespace walk: marked seen when `v` is what it last recorded (most names
/// are; `unchanged` runs no Python code, so the walk goes on safely), else collected with a new
/// reference for the updates that follow the walk (all of them for a snapshot).
///
/// # Safety
/// GIL held; `v` is the live value of `names[index]` in the dict being walked.
// Always inlined: called for every name at every module-level event, an outlined call cost
// tight_loop's callbacks 9% more instructions.
#[inline(always)]
unsafe fn compare_or_collect(
    names: &mut [NsName],
    index: usize,
    v: *mut ffi::PyObject,
    snap: bool,
    mark: u32,
    info: &CodeInfo,
    items: &mut Vec<(usize, usize, bool)>,
) {
    let name = &mut names[index];
    // SAFETY: guaranteed by the caller.
    if !snap && unsafe { unchanged(&mut name.cached, v, &info.expand) } {
        name.seen = mark;
        return;
    }
    // SAFETY: as above.
    unsafe { cpython::incref(v) };
    items.push((index, v as usize, !snap));
}

impl Namespace {
    /// The `names` index of the namespace key `k`, [`SKIPPED`] for dunder names and non-str keys.
    ///
    /// # Safety
    /// GIL held; `k` is live.
    unsafe fn key_index(&mut self, k: *mut ffi::PyObject, info: &CodeInfo) -> usize {
        // SAFETY: guaranteed by the caller.
        unsafe {
            if let Some(&index) = self.by_key.get(&(k as usize)) {
                return index;
            }
            if ffi::PyUnicode_Check(k) == 0 {
                return SKIPPED;
            }
            let mut key = String::new();
            render::read_key(k, &mut key);
            let index = if key.len() >= 2 && key.starts_with("__") && key.ends_with("__") {
                SKIPPED
            } else {
                let secret = info.redact.is_secret(&key);
                self.name_index(info.names.id(&key), secret)
            };
            if is_immortal(k) {
                self.by_key.insert(k as usize, index);
            }
            index
        }
    }

    fn name_index(&mut self, name: NameId, secret: bool) -> usize {
        if let Some(&index) = self.by_name.get(&name) {
            return index;
        }
        let index = self.names.len();
        self.names.push(NsName {
            name,
            secret,
            cached: None,
            seen: u32::MAX,
        });
        self.by_name.insert(name, index);
        index
    }
}

/// Hashes an object address (the keys of [`FrameVals::by_key`], of suspended frames): Fibonacci
/// hashing, since addresses are aligned and their low bits carry nothing.
#[derive(Debug, Default)]
pub(crate) struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(32);
    }
}

/// Whether the slot whose cache is `slot` still shows what it recorded, by the cheapest checks of
/// [`update`] (which this mirrors, cache updates included): unbound and uncached, the very object
/// cached when it was immortal, the very object with the same repr stamp (a module, a function,
/// a class), or an object that [`render::renders_as`] the cached value (a redacted value's cache
/// never does). `false` means "ask `update`".
///
/// # Safety
/// GIL held; `v` is null or live.
#[inline(always)]
unsafe fn unchanged(slot: &mut Option<Cached>, v: *mut ffi::PyObject, expand: &Expander) -> bool {
    match slot {
        None => v.is_null(),
        Some(_) if v.is_null() => false,
        Some(c) if c.ptr == v as usize && c.immortal => true,
        // SAFETY: guaranteed by the caller.
        Some(c) if c.ptr == v as usize && c.stamp.is_some() => unsafe {
            c.stamp == expand.repr_stamp(v)
        },
        // SAFETY: guaranteed by the caller.
        Some(c) => unsafe {
            if !render::renders_as(v, &c.value) {
                return false;
            }
            if c.ptr != v as usize {
                c.ptr = v as usize;
                c.stamp = None;
                c.immortal = is_immortal(v);
            }
            true
        },
    }
}

/// Where [`update`] appends one event's rows.
struct EventRows<'a> {
    rows: &'a mut Vec<Aux>,
    /// Every bound name is written (a snapshot), changed or not.
    snap: bool,
    /// The event's repr memo (memo.rs), opened at the first value that may run a `repr()`.
    scope: Option<ReprScope>,
    recent: &'a mut Recent,
}

/// Compares one name's current object `v` (null = unbound) with its cache and appends rows.
/// `differs`: the caller's [`unchanged`] just found `v` differing from the cache (by identity,
/// then by stamp or by rendering), so only a shape is left to compare (checking again would find
/// the same).
///
/// # Safety
/// GIL held; `v` is null or live, and stays referenced while this runs (by the frame, or by the
/// caller).
unsafe fn update(
    slot: &mut Option<Cached>,
    name: NameId,
    v: *mut ffi::PyObject,
    secret: bool,
    differs: bool,
    info: &CodeInfo,
    event: &mut EventRows<'_>,
) {
    let (redact, expand) = (&*info.redact, &*info.expand);
    let (snap, out) = (event.snap, &mut *event.rows);
    if v.is_null() {
        // An unbound slot is checked at every event: `is_some` first, since `take` would copy the
        // whole `Option<Cached>` out even when it is `None`.
        if slot.is_some() {
            *slot = None;
            out.push(row(name, false, Value::Deleted));
        }
        return;
    }
    if secret {
        // Nothing of the value is read: only its type, and whether the name now holds another
        // object.
        // SAFETY: `v` is live (guaranteed by the caller).
        let type_name = unsafe { render::type_name(v) };
        let value = Value::Redacted { type_name };
        let changed = slot
            .as_ref()
            .is_none_or(|c| c.ptr != v as usize || !same(&c.value, &value));
        if snap || changed {
            out.push(row(name, snap, value.clone()));
        }
        *slot = Some(Cached::plain(v, false, value));
        return;
    }
    // The usual changes, a scalar after nothing or after a scalar (an argument, a counter, an
    // index, a flag): compared and cached in place, as the paths below would, without their
    // checks for shapes and stamps.
    if slot
        .as_ref()
        .is_none_or(|c| c.children == 0 && c.shape.is_none())
        // SAFETY: `v` is live (guaranteed by the caller).
        && let Some(value) = unsafe { render::scalar(v) }
    {
        // SAFETY: as above.
        let immortal = unsafe { is_immortal(v) };
        match slot {
            Some(c) => {
                if snap || !same(&c.value, &value) {
                    out.push(row(name, snap, duplicate(&value)));
                }
                c.ptr = v as usize;
                c.immortal = immortal;
                c.value = value;
                c.stamp = None;
            }
            None => {
                out.push(row(name, snap, duplicate(&value)));
                *slot = Some(Cached::plain(v, immortal, value));
            }
        }
        return;
    }
    if let Some(c) = slot.as_mut() {
        let same_object = c.ptr == v as usize;
        // A snapshot of a value with children renders it again: the snapshot row carries its
        // children (which the flush thread usually finds written already, and shares: shared.rs).
        let may_skip = !snap || c.children == 0;
        // SAFETY: `v` is live (guaranteed by the caller).
        let stamped = may_skip
            && !differs
            && same_object
            && c.stamp.is_some()
            && c.stamp == unsafe { expand.repr_stamp(v) };
        let shaped = may_skip
            && !stamped
            && c.shape.as_ref().is_some_and(|s| {
                if s.renders() && event.scope.is_none() {
                    event.scope = Some(ReprScope::open());
                }
                // SAFETY: as above; held meanwhile, since checking may run a `repr()`.
                unsafe {
                    cpython::incref(v);
                    let matches = s.matches(v, redact);
                    cpython::decref(v);
                    matches
                }
            });
        let same_rendering = (same_object && c.immortal)
            || stamped
            || shaped
            // SAFETY: as above.
            || (!differs && unsafe { render::renders_as(v, &c.value) });
        if same_rendering {
            if !same_object {
                c.ptr = v as usize;
                c.stamp = None;
                // SAFETY: as above.
                c.immortal = unsafe { is_immortal(v) };
            }
            if snap {
                out.push(row(name, true, duplicate(&c.value)));
            }
            return;
        }
    }
    // SAFETY: `v` is live (guaranteed by the caller).
    if unsafe { render::is_plain(v) } {
        // A scalar or a str: shown by its content, with no children, and rendering it runs no
        // Python code, so none of the expander's machinery is needed.
        // SAFETY: as above.
        let (value, immortal) = unsafe { (render::render(v, redact), is_immortal(v)) };
        let changed = slot
            .as_ref()
            .is_none_or(|c| c.children != 0 || !same(&c.value, &value));
        if snap || changed {
            out.push(row(name, snap, duplicate(&value)));
        }
        *slot = Some(Cached::plain(v, immortal, value));
        return;
    }
    let rebound = slot.as_ref().is_some_and(|c| c.ptr != v as usize);
    // The shape this value last had, when its unchanged children can keep their rows. (Any
    // other shape stays in the cache, for `recent` when the slot was rebound.)
    let mut last = slot
        .as_mut()
        .and_then(|c| c.shape.take_if(|s| s.reusable()))
        .filter(|_| expand.depth == 1);
    // SAFETY: guaranteed by the caller; a reference is held across the shape and the render,
    // which may run Python code (and release the GIL).
    let (rendered, immortal, stamp, mut shape) = unsafe {
        if event.scope.is_none() {
            event.scope = Some(ReprScope::open());
        }
        cpython::incref(v);
        // Taken before rendering: if the repr changes what the stamp covers, the next event
        // renders again. The shape's walk renders elements too; the render then reuses their
        // reprs (memo.rs).
        let stamp = expand.repr_stamp(v);
        // What the object showed when another local last held it, if its shape says it shows
        // the same now (the shape covers its text and its children, whose rows were kept).
        let known = event.recent.take(v).and_then(|mut c| {
            let mut shape = c.shape.take()?;
            let children = shape.take_rows();
            let same = children.is_empty() == (c.children == 0) && shape.matches(v, redact);
            let value = c.value;
            same.then_some((Rendered { value, children }, Some(shape)))
        });
        let (rendered, shape) = match known {
            Some(known) => known,
            None => {
                let mut shape = Shape::of(v, expand, redact);
                let rendered = match &mut last {
                    Some(last) => {
                        // A rebound slot's old value goes to `recent` with its rows: a copy of
                        // them is rendered from.
                        let rows = if rebound {
                            last.rows().to_vec()
                        } else {
                            last.take_rows()
                        };
                        let previous = slot.as_ref().map(|c| &c.value);
                        expand.render_reusing(v, redact, last, rows, previous)
                    }
                    None => expand.render(v, redact),
                };
                // A `repr()` run by the walk or the render may have changed the value since its
                // shape was taken: a shape that no longer matches is dropped, so that it cannot
                // stand for a rendering it does not show.
                if shape
                    .as_ref()
                    .is_some_and(|s| s.renders() && !s.matches(v, redact))
                {
                    shape = None;
                }
                (rendered, shape)
            }
        };
        let immortal = is_immortal(v);
        cpython::decref(v);
        (rendered, immortal, stamp, shape)
    };
    // The old value's shape, back with it (for `recent`).
    if rebound && let (Some(c), Some(last)) = (slot.as_mut(), last) {
        c.shape = Some(last);
    }
    // The children count too: an element past the text cap may change while the text does not.
    let children = rendered.children_fingerprint();
    let changed = slot
        .as_ref()
        .is_none_or(|c| !same(&c.value, &rendered.value) || c.children != children);
    // The children's rows stay with the shape: the next rendering of a list, tuple or dict takes
    // its unchanged children's rows from them, and `recent` a whole rendering.
    let keep = shape.is_some();
    let (value, rows) = if snap || changed {
        let value = rendered.value.clone();
        let rows = if keep {
            rendered.children.clone()
        } else {
            Vec::new()
        };
        expand.emit(rendered, out, |value| row(name, snap, value));
        (value, rows)
    } else if keep {
        (rendered.value, rendered.children)
    } else {
        (rendered.value, Vec::new())
    };
    if let Some(s) = &mut shape {
        s.keep_rows(rows);
    }
    let previous = slot.replace(Cached {
        ptr: v as usize,
        immortal,
        value,
        children,
        stamp,
        shape,
    });
    if rebound
        && let Some(previous) = previous
        && Recent::worth_keeping(&previous)
    {
        event.recent.keep(previous);
    }
}

/// The rows of a `return`/`yield` value or of an `exception` event's exception (the value's
/// row, then its children's).
///
/// # Safety
/// GIL held; `v` live and referenced by the caller.
/// `secret`: the value is withheld (a return value of a function whose name is secret).
pub unsafe fn value_rows(
    role: ValueRole,
    v: *mut ffi::PyObject,
    secret: bool,
    info: &CodeInfo,
    out: &mut Vec<Aux>,
) {
    let row = |value| Aux::Value {
        name: NO_NAME,
        role,
        snapshot: false,
        value,
    };
    // SAFETY: guaranteed by the caller.
    unsafe {
        if secret {
            out.push(row(Value::Redacted {
                type_name: render::type_name(v),
            }));
        } else if render::is_plain(v) {
            // A scalar or a str: one row, no children, no Python code.
            out.push(row(render::render(v, &info.redact)));
        } else {
            let rendered = info.expand.render(v, &info.redact);
            info.expand.emit(rendered, out, row);
        }
    }
}
