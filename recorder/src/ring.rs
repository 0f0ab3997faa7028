//! Event records, the per-thread rings they travel in, and the merge that puts them back into one
//! global order (DESIGN.md 5.2–5.3).
//!
//! Each recording thread owns the producer end of an `rtrb` ring of fixed-size [`Rec`]s; the
//! flush thread owns every consumer end. A record's `seq` is taken from the shared counter inside
//! the producer's critical section, and the counter is advanced only after the record is pushed,
//! so the counter is also the watermark: every record with `seq < W` is in some ring once the
//! flush thread has read `W`. [`merge_until`] then emits exactly the seqs below `W`, in order.

use std::collections::VecDeque;

/// One event as it travels from the producer to the flush thread (no text: code and thread
/// descriptions travel separately, registered before the first event that uses them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rec {
    pub seq: u64,
    pub call_id: u64,
    /// The caller's call id when this event opens a call; 0 for none.
    pub parent_call_id: u64,
    /// When the event happened, as the session clock read it (scaled by the flush thread).
    pub ts: crate::clock::Reading,
    pub code_id: u32,
    pub line: u32,
    pub depth: u32,
    /// An `events.kind` code.
    pub kind: u8,
    /// This event opens `call_id`: the flush thread writes its `calls` row.
    pub opens_call: bool,
    /// How many [`Aux`] entries of this event are in the thread's auxiliary ring (pushed before
    /// the record itself, so they are there whenever the record is).
    pub naux: u32,
}

const _: () = assert!(std::mem::size_of::<Rec>() <= 56);

/// What an event carries besides its record: values rows and its `exceptions` row, rendered
/// into plain data on the producer. They travel in a second per-thread ring, in event order.
#[derive(Debug, Clone, PartialEq)]
pub enum Aux {
    Value {
        name: crate::names::NameId,
        role: pyttd_format::ValueRole,
        snapshot: bool,
        value: pyttd_format::Value,
    },
    Exception {
        type_name: String,
        message: Option<String>,
    },
    /// A `children` row of a value of this event (after that value's row).
    Child {
        parent_id: u64,
        position: u32,
        key: String,
        value: pyttd_format::Value,
    },
}

// Rows are moved several times on their way to the file (event buffer, ring, flush thread):
// keep them small. `Value` boxes its rare large kind (`Repr`) for this.
const _: () = assert!(std::mem::size_of::<Aux>() <= 72);

/// Records drained from one thread's ring and not yet merged.
#[derive(Debug, Default)]
pub struct Lane {
    pub thread_id: u32,
    pub staged: VecDeque<Rec>,
    /// Auxiliary entries drained from the thread's second ring, front = the next record's.
    pub aux: VecDeque<Aux>,
}

/// The merge found no record for a seq below the watermark: a bug in the producer protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingSeq(pub u64);

/// Emits, in seq order, every staged record with `seq` from `*next` up to (excluding) `watermark`,
/// advancing `*next`. Runs are taken from the lane that supplied the previous record first
/// (`*last`), since the GIL switches threads only every few milliseconds.
pub fn merge_until(
    lanes: &mut [Lane],
    next: &mut u64,
    last: &mut usize,
    watermark: u64,
    mut out: impl FnMut(u32, &Rec, &mut VecDeque<Aux>),
) -> Result<(), MissingSeq> {
    while *next < watermark {
        let lane = if lanes
            .get(*last)
            .and_then(|l| l.staged.front())
            .is_some_and(|r| r.seq == *next)
        {
            *last
        } else {
            lanes
                .iter()
                .position(|l| l.staged.front().is_some_and(|r| r.seq == *next))
                .ok_or(MissingSeq(*next))?
        };
        *last = lane;
        let l = &mut lanes[lane];
        while *next < watermark {
            match l.staged.front() {
                Some(r) if r.seq == *next => {
                    out(l.thread_id, r, &mut l.aux);
                    l.staged.pop_front();
                    *next += 1;
                }
                _ => break,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec(seq: u64) -> Rec {
        Rec {
            seq,
            ..Rec::default()
        }
    }

    #[test]
    fn records_at_or_above_the_watermark_stay_staged() {
        let mut lanes = vec![
            Lane {
                thread_id: 0,
                staged: [0, 2, 5].map(rec).into(),
                aux: VecDeque::new(),
            },
            Lane {
                thread_id: 1,
                staged: [1, 3, 4].map(rec).into(),
                aux: VecDeque::new(),
            },
        ];
        let (mut next, mut last, mut seen) = (0, 0, Vec::new());
        merge_until(&mut lanes, &mut next, &mut last, 4, |t, r, _| {
            seen.push((t, r.seq))
        })
        .unwrap();
        assert_eq!(seen, [(0, 0), (1, 1), (0, 2), (1, 3)]);
        assert_eq!(next, 4);
        assert_eq!(lanes[0].staged.len(), 1);
        assert_eq!(lanes[1].staged.len(), 1);
        seen.clear();
        merge_until(&mut lanes, &mut next, &mut last, 6, |t, r, _| {
            seen.push((t, r.seq))
        })
        .unwrap();
        assert_eq!(seen, [(1, 4), (0, 5)]);
    }

    #[test]
    fn a_missing_seq_below_the_watermark_is_reported() {
        let mut lanes = vec![Lane {
            thread_id: 0,
            staged: [0, 2].map(rec).into(),
            aux: VecDeque::new(),
        }];
        let (mut next, mut last) = (0, 0);
        let r = merge_until(&mut lanes, &mut next, &mut last, 3, |_, _, _| {});
        assert_eq!(r, Err(MissingSeq(1)));
    }

    proptest! {
        /// Random interleavings of threads, drained at random points with the watermark read
        /// before the drain (records pushed after it are drained too and must wait): the output
        /// is every seq exactly once, gapless and increasing, each on its own thread.
        #[test]
        fn merge_is_gapless_and_ordered(
            owners in prop::collection::vec(0usize..4, 0..300),
            drains in prop::collection::vec(0usize..300, 0..20),
        ) {
            let mut rings: Vec<VecDeque<Rec>> = vec![VecDeque::new(); 4];
            let mut lanes: Vec<Lane> = (0..4).map(|t| Lane { thread_id: t, staged: VecDeque::new(), aux: VecDeque::new() }).collect();
            let (mut next, mut last, mut out) = (0u64, 0usize, Vec::new());
            let mut drains = drains;
            drains.sort_unstable();
            let mut pushed = 0u64;
            let mut d = drains.into_iter().peekable();
            for (seq, &owner) in owners.iter().enumerate() {
                rings[owner].push_back(rec(seq as u64));
                pushed = seq as u64 + 1;
                while d.peek().is_some_and(|&p| p <= seq) {
                    d.next();
                    let watermark = pushed;
                    // A record pushed "after" the watermark was read, then drained with it.
                    for (ring, lane) in rings.iter_mut().zip(lanes.iter_mut()) {
                        lane.staged.extend(ring.drain(..));
                    }
                    merge_until(&mut lanes, &mut next, &mut last, watermark, |t, r, _| out.push((t, r.seq))).unwrap();
                }
            }
            for (ring, lane) in rings.iter_mut().zip(lanes.iter_mut()) {
                lane.staged.extend(ring.drain(..));
            }
            merge_until(&mut lanes, &mut next, &mut last, pushed, |t, r, _| out.push((t, r.seq))).unwrap();
            prop_assert_eq!(out.len(), owners.len());
            for (i, &(t, s)) in out.iter().enumerate() {
                prop_assert_eq!(s, i as u64);
                prop_assert_eq!(t as usize, owners[i]);
            }
        }
    }
}
