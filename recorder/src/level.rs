//! The zstd level of each flush, chosen from the flush thread's spare time (DESIGN.md 5.4).
//!
//! The flush thread runs beside the program, not in it: time it spends compressing harder costs
//! the program nothing while the thread stays mostly idle, and buys a smaller trace. After every
//! flush, [`LevelControl::after_flush`] looks at how busy the thread was during the interval and
//! moves the level for the next one: up while it is mostly idle, down fast when it gets busy, and
//! straight back to the configured level when a producer had to wait for a ring (compression
//! must never become backpressure on the program). Just before each flush,
//! [`LevelControl::for_flush`] checks the interval's draining and merging time, which grows with
//! the event rate: a burst is compressed at the configured level, a first interval that was
//! nearly idle starts high, and the final flush (the program's exit waits for it) keeps the level
//! only when the last interval was light.

use std::time::Duration;

/// The highest level the control climbs to. Beyond it zstd switches to its optimal parsers,
/// several times slower per byte for a few percent smaller output (BENCHMARKS.md, "recorder").
pub const MAX_LEVEL: i32 = 15;

/// The first interval's level above the configured one (zstd's levels 1 to 3 cost about the same).
const START_ABOVE_FLOOR: i32 = 2;
/// The first flush's level when the rounds before it were nearly idle (below `QUIET`).
const QUIET_START: i32 = 9;
const QUIET: f64 = 0.15;
/// Busy fractions of the flush interval below which the level climbs three and one steps.
const IDLE: f64 = 0.25;
const LIGHT: f64 = 0.40;
/// Busy fraction above which the level drops two steps; above `OVERLOADED` it drops to the floor.
const BUSY: f64 = 0.55;
const OVERLOADED: f64 = 0.75;

/// Chooses the zstd level of the next flush interval.
#[derive(Debug, Clone)]
pub(crate) struct LevelControl {
    floor: i32,
    level: i32,
    stall_ns: u64,
    /// The busy fraction of the last full interval (`None` before the first flush).
    last: Option<f64>,
}

impl LevelControl {
    /// Never goes below `floor`, the level the writer was configured with, and starts a little
    /// above it.
    pub(crate) fn new(floor: i32) -> Self {
        LevelControl {
            floor,
            level: (floor + START_ABOVE_FLOOR).min(MAX_LEVEL).max(floor),
            stall_ns: 0,
            last: None,
        }
    }

    /// The level of the current interval.
    #[cfg(test)]
    pub(crate) fn level(&self) -> i32 {
        self.level
    }

    /// The level of the flush about to be written, given the time the thread spent so far in this
    /// `interval` (draining and merging, and any segment that filled up early), and whether it is
    /// the final flush.
    pub(crate) fn for_flush(&mut self, preparing: Duration, interval: Duration, last: bool) -> i32 {
        let fraction = fraction(preparing, interval);
        if fraction > BUSY {
            return self.floor;
        }
        if last {
            return match self.last {
                Some(f) if f < LIGHT => self.level,
                _ => self.floor,
            };
        }
        if self.last.is_none() && fraction < QUIET {
            self.level = self.level.max(QUIET_START.min(MAX_LEVEL));
        }
        self.level
    }

    /// The level for the next interval, given the time the flush thread was busy during the
    /// `interval` that just ended and the session's total producer stall time so far.
    pub(crate) fn after_flush(&mut self, busy: Duration, interval: Duration, stall_ns: u64) -> i32 {
        let stalled = stall_ns > self.stall_ns;
        self.stall_ns = stall_ns;
        let fraction = fraction(busy, interval);
        self.last = Some(fraction);
        self.level = if stalled || fraction > OVERLOADED {
            self.floor
        } else if fraction > BUSY {
            self.level - 2
        } else if fraction < IDLE {
            self.level + 3
        } else if fraction < LIGHT {
            self.level + 1
        } else {
            self.level
        }
        .clamp(self.floor, MAX_LEVEL.max(self.floor));
        self.level
    }
}

fn fraction(busy: Duration, interval: Duration) -> f64 {
    busy.as_secs_f64() / interval.as_secs_f64().max(1e-3)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_millis(80);

    fn busy(percent: u64) -> Duration {
        INTERVAL * percent as u32 / 100
    }

    #[test]
    fn an_idle_flush_thread_climbs_to_the_highest_level_and_stays() {
        let mut c = LevelControl::new(1);
        assert_eq!(c.level(), 3);
        let levels: Vec<i32> = (0..6)
            .map(|_| c.after_flush(busy(5), INTERVAL, 0))
            .collect();
        assert_eq!(levels, [6, 9, 12, 15, 15, 15]);
    }

    #[test]
    fn the_level_settles_where_the_thread_is_moderately_busy() {
        let mut c = LevelControl::new(1);
        assert_eq!(c.after_flush(busy(30), INTERVAL, 0), 4);
        assert_eq!(c.after_flush(busy(50), INTERVAL, 0), 4);
        assert_eq!(c.after_flush(busy(60), INTERVAL, 0), 2);
        assert_eq!(
            c.after_flush(busy(60), INTERVAL, 0),
            1,
            "never below the floor"
        );
    }

    #[test]
    fn a_stalled_producer_or_an_overloaded_thread_drops_straight_to_the_floor() {
        let mut c = LevelControl::new(1);
        for _ in 0..2 {
            c.after_flush(busy(5), INTERVAL, 0);
        }
        assert_eq!(c.level(), 9);
        assert_eq!(
            c.after_flush(busy(5), INTERVAL, 1_000),
            1,
            "a producer waited"
        );
        assert_eq!(
            c.after_flush(busy(5), INTERVAL, 1_000),
            4,
            "no new stall: climbs again"
        );
        assert_eq!(c.after_flush(busy(90), INTERVAL, 1_000), 1);
    }

    #[test]
    fn a_quiet_first_interval_starts_high_and_a_busy_one_does_not() {
        let mut quiet = LevelControl::new(1);
        assert_eq!(quiet.for_flush(busy(5), INTERVAL, false), 9);
        let mut busy_start = LevelControl::new(1);
        assert_eq!(busy_start.for_flush(busy(30), INTERVAL, false), 3);
        busy_start.after_flush(busy(50), INTERVAL, 0);
        assert_eq!(
            busy_start.for_flush(busy(5), INTERVAL, false),
            3,
            "only the first flush jumps"
        );
    }

    #[test]
    fn a_burst_is_compressed_at_the_floor_without_losing_the_level() {
        let mut c = LevelControl::new(1);
        c.for_flush(busy(5), INTERVAL, false);
        c.after_flush(busy(10), INTERVAL, 0);
        assert_eq!(c.level(), 12);
        assert_eq!(c.for_flush(busy(70), INTERVAL, false), 1);
        assert_eq!(c.after_flush(busy(90), INTERVAL, 0), 1, "overloaded");
    }

    #[test]
    fn the_final_flush_keeps_the_level_only_after_a_light_interval() {
        let mut c = LevelControl::new(1);
        assert_eq!(
            c.for_flush(busy(5), INTERVAL, true),
            1,
            "no interval measured yet"
        );
        c.for_flush(busy(5), INTERVAL, false);
        c.after_flush(busy(30), INTERVAL, 0);
        assert_eq!(c.for_flush(busy(1), INTERVAL, true), 10);
        assert_eq!(
            c.for_flush(busy(70), INTERVAL, true),
            1,
            "a burst before exit"
        );
        c.after_flush(busy(50), INTERVAL, 0);
        assert_eq!(c.for_flush(busy(1), INTERVAL, true), 1);
    }

    #[test]
    fn a_floor_above_the_highest_level_is_kept() {
        let mut c = LevelControl::new(19);
        assert_eq!(c.after_flush(busy(5), INTERVAL, 0), 19);
        assert_eq!(c.after_flush(busy(90), INTERVAL, 0), 19);
    }
}
