//! Which fast-local slots each line of a function may rebind (DESIGN.md 5.6).
//!
//! Between two events of a frame, only that frame's own instructions rebind its plain slots, and
//! they belong to the lines the two events report (CPython reports a line event whenever
//! execution enters another line; instructions with no line are counted at every event). A slot
//! that no such instruction stores to, deletes or clears holds the very object it held at the
//! previous event, referenced by the frame all along: if that object renders by its content and
//! is immutable (an int, float, str, None or bool), its rendering has not changed either, and the
//! slot need not be read. Cells and free variables are shared with other frames, and anything
//! can change a container's contents, so those are read at every event; so is every slot of a
//! frame that has a frame object, through which other code can rebind its locals.

use pyo3::prelude::*;

use crate::cpython::{CO_FAST_CELL, CO_FAST_FREE};
use crate::session::NO_LINE;

/// Slots `0..64` as bits; slots from 64 on are always read.
pub(crate) type SlotMask = u64;

/// Every slot.
pub(crate) const ALL_SLOTS: SlotMask = SlotMask::MAX;

/// Lines spanned by one code object beyond which its table is not kept (every slot is read).
const MAX_SPAN: usize = 1 << 16;

/// The opcodes that bind, delete or clear a fast local, numbered as the running CPython numbers
/// them (`opcode.opmap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StoreOps {
    extended_arg: u8,
    /// `CACHE`: a specialized instruction's inline cache, not an instruction.
    cache: u8,
    /// `STORE_FAST`, `DELETE_FAST`, `LOAD_FAST_AND_CLEAR`: slot `oparg`.
    single: [u8; 3],
    /// 3.13's `STORE_FAST_LOAD_FAST` (slot `oparg >> 4`).
    store_load: Option<u8>,
    /// 3.13's `STORE_FAST_STORE_FAST` (slots `oparg >> 4` and `oparg & 15`).
    store_store: Option<u8>,
}

impl StoreOps {
    pub fn of_running_python(py: Python<'_>) -> PyResult<StoreOps> {
        let opmap = py.import("opcode")?.getattr("opmap")?;
        let op = |name: &str| -> PyResult<Option<u8>> {
            match opmap.get_item(name) {
                Ok(v) => Ok(Some(v.extract()?)),
                Err(_) => Ok(None),
            }
        };
        let required = |name: &str| -> PyResult<u8> {
            op(name)?.ok_or_else(|| {
                pyo3::exceptions::PyRuntimeError::new_err(format!("opcode.opmap has no {name}"))
            })
        };
        Ok(StoreOps {
            extended_arg: required("EXTENDED_ARG")?,
            cache: required("CACHE")?,
            single: [
                required("STORE_FAST")?,
                required("DELETE_FAST")?,
                required("LOAD_FAST_AND_CLEAR")?,
            ],
            store_load: op("STORE_FAST_LOAD_FAST")?,
            store_store: op("STORE_FAST_STORE_FAST")?,
        })
    }

    /// The slots the instruction `op oparg` rebinds.
    fn slots(&self, op: u8, oparg: u32) -> impl Iterator<Item = u32> {
        let (a, b) = if self.single.contains(&op) {
            (Some(oparg), None)
        } else if Some(op) == self.store_load {
            (Some(oparg >> 4), None)
        } else if Some(op) == self.store_store {
            (Some(oparg >> 4), Some(oparg & 15))
        } else {
            (None, None)
        };
        a.into_iter().chain(b)
    }
}

/// Per line of one code object, the slots its instructions may rebind.
#[derive(Debug, Default)]
pub(crate) struct LineStores {
    /// Slots read at every event: cells, free variables, slots rebound by instructions with no
    /// line; every slot when the table is not kept.
    always: SlotMask,
    /// Line of `by_line[0]`.
    base: u32,
    by_line: Box<[SlotMask]>,
}

impl LineStores {
    /// Reads `co_code` (deoptimized: what `code.co_code` returns) with `lines` (the line of each
    /// code unit, [`NO_LINE`] for none) and `kinds` (`co_localspluskinds`).
    pub fn of(co_code: &[u8], lines: &[u32], kinds: &[u8], ops: &StoreOps) -> LineStores {
        let mut always: SlotMask = 0;
        for (i, kind) in kinds.iter().enumerate().take(64) {
            if kind & (CO_FAST_CELL | CO_FAST_FREE) != 0 {
                always |= 1 << i;
            }
        }
        let mut stores: Vec<(u32, u32)> = Vec::new();
        let mut extended = 0u32;
        // The line of the instruction before, in code order (`None` before the first).
        let mut before: Option<u32> = None;
        for (unit, pair) in co_code.chunks_exact(2).enumerate() {
            let (op, arg) = (pair[0], u32::from(pair[1]));
            let oparg = extended << 8 | arg;
            if op == ops.extended_arg {
                extended = oparg;
                continue;
            }
            extended = 0;
            if op == ops.cache {
                continue;
            }
            let line = lines.get(unit).copied().unwrap_or(NO_LINE);
            for slot in ops.slots(op, oparg) {
                if slot >= 64 {
                    continue;
                }
                // Also counted on the line of the instruction before: a specialized instruction
                // may do the store itself and skip this one, line event and all
                // (`BINARY_OP_INPLACE_ADD_UNICODE` for `s = (s + t)` split over lines, when the
                // code ran before recording started).
                for line in [Some(line), before].into_iter().flatten() {
                    if line == NO_LINE {
                        always |= 1 << slot;
                    } else {
                        stores.push((line, slot));
                    }
                }
            }
            before = Some(line);
        }
        let (Some(min), Some(max)) = (
            stores.iter().map(|s| s.0).min(),
            stores.iter().map(|s| s.0).max(),
        ) else {
            return LineStores {
                always,
                ..LineStores::default()
            };
        };
        let span = (max - min) as usize + 1;
        if span > MAX_SPAN {
            return LineStores {
                always: ALL_SLOTS,
                ..LineStores::default()
            };
        }
        let mut by_line = vec![0; span];
        for (line, slot) in stores {
            by_line[(line - min) as usize] |= 1 << slot;
        }
        LineStores {
            always,
            base: min,
            by_line: by_line.into_boxed_slice(),
        }
    }

    /// The slots to read at an event reporting line `now` when the frame's previous event
    /// reported `previous`.
    #[inline]
    pub fn may_rebind(&self, previous: u32, now: u32) -> SlotMask {
        self.always | self.at(previous) | self.at(now)
    }

    #[inline]
    fn at(&self, line: u32) -> SlotMask {
        line.checked_sub(self.base)
            .and_then(|i| self.by_line.get(i as usize))
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 3.13's numbering.
    const OPS: StoreOps = StoreOps {
        extended_arg: 71,
        cache: 0,
        single: [110, 65, 86],
        store_load: Some(111),
        store_store: Some(112),
    };
    const STORE_FAST: u8 = 110;
    const LOAD_FAST: u8 = 85;
    const NOP: u8 = 30;

    #[test]
    fn each_line_rebinds_the_slots_it_stores_to() {
        // line 10: x = ...  (slot 0); line 11: reads x; line 12: del y (slot 1), a, b = ...
        // (slots 2 and 3). `del y` also counts on line 11, the line of the instruction before.
        let code = [STORE_FAST, 0, LOAD_FAST, 0, 65, 1, 112, 0x23, NOP, 0];
        let lines = [10, 11, 12, 12, NO_LINE];
        let s = LineStores::of(&code, &lines, &[0; 4], &OPS);
        assert_eq!(s.may_rebind(10, 10), 0b1);
        assert_eq!(s.may_rebind(11, 11), 0b10);
        assert_eq!(s.may_rebind(12, 12), 0b1110);
        assert_eq!(s.may_rebind(10, 11), 0b11);
        assert_eq!(s.may_rebind(11, 12), 0b1110);
        assert_eq!(s.may_rebind(9, 13), 0);
    }

    #[test]
    fn a_store_counts_on_the_line_of_the_instruction_before_it() {
        // `s = (\n s + t\n)`: BINARY_OP (line 6) and its cache, then STORE_FAST s (line 5). A
        // BINARY_OP specialized before recording stores `s` itself and skips line 5's event.
        const BINARY_OP: u8 = 44;
        let code = [BINARY_OP, 0, 0, 0, STORE_FAST, 0, NOP, 0];
        let lines = [6, 6, 5, 7];
        let s = LineStores::of(&code, &lines, &[0; 1], &OPS);
        assert_eq!(s.may_rebind(6, 7), 0b1);
        assert_eq!(s.may_rebind(5, 5), 0b1);
        assert_eq!(s.may_rebind(7, 7), 0);
    }

    #[test]
    fn cells_and_lineless_stores_are_always_read() {
        // slot 2 is a cell; slot 3 is stored by an instruction with no line (exception cleanup).
        let code = [STORE_FAST, 0, STORE_FAST, 3];
        let lines = [5, NO_LINE];
        let s = LineStores::of(&code, &lines, &[0, 0, CO_FAST_CELL, 0], &OPS);
        assert_eq!(s.may_rebind(6, 6), 0b1100);
        assert_eq!(s.may_rebind(5, 6), 0b1101);
    }

    #[test]
    fn extended_args_and_slots_past_64() {
        // STORE_FAST 0x141 (slot 321: read at every event anyway) then STORE_FAST 40.
        let code = [71, 1, STORE_FAST, 0x41, STORE_FAST, 40];
        let lines = [7, 7, 8];
        let s = LineStores::of(&code, &lines, &[0; 64], &OPS);
        assert_eq!(s.may_rebind(6, 6), 0);
        assert_eq!(s.may_rebind(7, 7), 1 << 40);
        assert_eq!(s.may_rebind(8, 8), 1 << 40);
    }

    #[test]
    fn a_code_object_spanning_too_many_lines_reads_every_slot() {
        let code = [STORE_FAST, 0, STORE_FAST, 1];
        let lines = [1, 1 + MAX_SPAN as u32];
        let s = LineStores::of(&code, &lines, &[0; 2], &OPS);
        assert_eq!(s.may_rebind(1, 1), ALL_SLOTS);
    }
}
