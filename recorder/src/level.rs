//! The zstd level of each flush, chosen from the flush thread's spare time (DESIGN.md 5.4).
//!
//! The flush thread runs beside the program, not in it: time it spends compressing harder costs
//! the program nothing while the thread stays mostly idle, and buys a smaller trace. After every
//! flush, [`LevelControl::after_flush`] looks at how busy the thread was during the interval and
//! moves the level for the next one: up while it is mostly idle, down fast when it gets busy, and
//! straight back to the configured level when a producer had to wait for a ring (compression
//! must never become backpressure on the program).

use std::time::Duration;

/// The highest level the control climbs to. Beyond it zstd switches to its optimal parsers,
/// several times slower per byte for a few percent smaller output (BENCHMARKS.md, "recorder").
pub const MAX_LEVEL: i32 = 15;

/// The first interval's level above the configured one (zstd's levels 1 to 3 cost about the same).
const START_ABOVE_FLOOR: i32 = 2;
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
}

impl LevelControl {
    /// Never goes below `floor`, the level the writer was configured with, and starts a little
    /// above it.
    pub(crate) fn new(floor: i32) -> Self {
        LevelControl {
            floor,
            level: (floor + START_ABOVE_FLOOR).min(MAX_LEVEL).max(floor),
            stall_ns: 0,
        }
    }

    /// The configured level.
    pub(crate) fn floor(&self) -> i32 {
        self.floor
    }

    /// The level of the current interval.
    #[cfg(test)]
    pub(crate) fn level(&self) -> i32 {
        self.level
    }

    /// The level for the next interval, given the time the flush thread was busy during the
    /// `interval` that just ended and the session's total producer stall time so far.
    pub(crate) fn after_flush(&mut self, busy: Duration, interval: Duration, stall_ns: u64) -> i32 {
        let stalled = stall_ns > self.stall_ns;
        self.stall_ns = stall_ns;
        let fraction = busy.as_secs_f64() / interval.as_secs_f64().max(1e-3);
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
    fn a_floor_above_the_highest_level_is_kept() {
        let mut c = LevelControl::new(19);
        assert_eq!(c.after_flush(busy(5), INTERVAL, 0), 19);
        assert_eq!(c.after_flush(busy(90), INTERVAL, 0), 19);
    }
}
