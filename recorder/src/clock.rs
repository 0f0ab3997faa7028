//! Event timestamps: nanoseconds since the recording started, read at every event (and scaled
//! to nanoseconds on the flush thread).
//!
//! `clock_gettime` costs about 20 ns through the vDSO, a noticeable share of a recorded event.
//! Where the kernel itself keeps time with the TSC (its clocksource is `tsc`, which it only
//! chooses when the counter is invariant and synchronized across CPUs), the counter is read
//! directly and scaled by a rate measured against the monotonic clock at start. Elsewhere
//! (another clocksource, another architecture) the monotonic clock is used.

use std::time::{Duration, Instant};

/// How long the TSC rate is measured at start.
const CALIBRATION: Duration = Duration::from_millis(2);

#[derive(Debug)]
pub(crate) struct Clock {
    start: Instant,
    tsc: Option<Tsc>,
}

#[derive(Debug, Clone, Copy)]
struct Tsc {
    start: u64,
    ns_per_tick: f64,
}

impl Clock {
    /// A clock reading 0 now.
    pub fn start() -> Clock {
        let tsc = if kernel_uses_tsc() { calibrate() } else { None };
        let start = Instant::now();
        let tsc = tsc.map(|rate| Tsc {
            start: read_tsc().unwrap_or(0),
            ..rate
        });
        Clock { start, tsc }
    }

    /// The time now as a raw reading, for [`Clock::ns`] to turn into nanoseconds later: the
    /// producers read the clock at every event and leave the scaling to the flush thread. (A
    /// clock with a TSC rate always reads the TSC: `read_tsc` fails only on other architectures,
    /// where the rate is never measured.)
    #[inline]
    pub fn now(&self) -> Reading {
        if self.tsc.is_some()
            && let Some(now) = read_tsc()
        {
            return Reading(now as i64);
        }
        Reading(self.start.elapsed().as_nanos() as i64)
    }

    /// Nanoseconds since [`Clock::start`] at `reading` (taken by this clock's [`Clock::now`]).
    #[inline]
    pub fn ns(&self, reading: Reading) -> i64 {
        match self.tsc {
            Some(tsc) => {
                let ticks = reading.0.wrapping_sub(tsc.start as i64).max(0);
                (ticks as f64 * tsc.ns_per_tick) as i64
            }
            None => reading.0,
        }
    }

    /// Nanoseconds since [`Clock::start`].
    #[cfg(test)]
    pub fn now_ns(&self) -> i64 {
        self.ns(self.now())
    }
}

/// A reading of a [`Clock`]: TSC ticks, or nanoseconds where the TSC is not used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Reading(pub i64);

/// The TSC's rate in ns/tick, measured against the monotonic clock.
fn calibrate() -> Option<Tsc> {
    let (t0, c0) = (Instant::now(), read_tsc()?);
    while t0.elapsed() < CALIBRATION {
        std::hint::spin_loop();
    }
    let (elapsed, c1) = (t0.elapsed(), read_tsc()?);
    let ticks = c1.checked_sub(c0).filter(|&t| t > 0)?;
    Some(Tsc {
        start: c0,
        ns_per_tick: elapsed.as_nanos() as f64 / ticks as f64,
    })
}

fn kernel_uses_tsc() -> bool {
    cfg!(target_arch = "x86_64")
        && std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .is_ok_and(|s| s.trim() == "tsc")
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn read_tsc() -> Option<u64> {
    // SAFETY: RDTSC has no preconditions on x86_64; it only reads the time-stamp counter.
    Some(unsafe { core::arch::x86_64::_rdtsc() })
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn read_tsc() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_monotonic_clock() {
        let clock = Clock::start();
        let t0 = Instant::now();
        let a = clock.now_ns();
        std::thread::sleep(Duration::from_millis(50));
        let b = clock.now_ns();
        let wall = t0.elapsed().as_nanos() as i64;
        assert!(a >= 0 && b > a);
        // Within 2% of the monotonic clock over 50 ms.
        assert!(((b - a) - wall).abs() < wall / 50, "{a} {b} {wall}");
    }
}
