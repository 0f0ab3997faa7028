//! Event timestamps: nanoseconds since the recording started, read at every event.
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

    /// Nanoseconds since [`Clock::start`].
    #[inline]
    pub fn now_ns(&self) -> i64 {
        if let Some(tsc) = self.tsc
            && let Some(now) = read_tsc()
        {
            let ticks = (now as i64).wrapping_sub(tsc.start as i64).max(0);
            return (ticks as f64 * tsc.ns_per_tick) as i64;
        }
        self.start.elapsed().as_nanos() as i64
    }
}

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
