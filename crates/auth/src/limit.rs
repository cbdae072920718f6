//! Token buckets, one per caller (an API key, a user, a login name).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most this many buckets are kept; beyond it, buckets that have refilled are forgotten
/// (a full bucket is the same as no bucket), so callers that stopped cost no memory.
const MAX_BUCKETS: usize = 10_000;

pub struct Limiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Limiter {
    /// `per_second` of 0 disables the limit.
    pub fn new(per_second: f64, burst: u32) -> Self {
        Limiter {
            per_second,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.per_second > 0.0
    }

    /// Takes a token for `who`; when none is left, how long until one is.
    pub fn take(&self, who: &str) -> Result<(), Duration> {
        self.take_at(who, Instant::now())
    }

    fn take_at(&self, who: &str, now: Instant) -> Result<(), Duration> {
        if !self.enabled() {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(who) {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, b| b.level(now, rate, burst) < burst);
        }
        let b = buckets.entry(who.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        b.tokens = b.level(now, self.per_second, self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.per_second))
        }
    }
}

impl Bucket {
    fn level(&self, now: Instant, rate: f64, burst: f64) -> f64 {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * rate;
        (self.tokens + refill).min(burst)
    }
}

/// Whole seconds for a Retry-After header: never 0, so a client always waits.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let l = Limiter::new(2.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.take_at("k", t0).is_ok());
        }
        let wait = l.take_at("k", t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
        // Other callers have their own bucket.
        assert!(l.take_at("other", t0).is_ok());
        // Half a second later one token is back, and only one.
        let t1 = t0 + Duration::from_millis(500);
        assert!(l.take_at("k", t1).is_ok());
        assert!(l.take_at("k", t1).is_err());
        // Refill stops at the burst.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(l.take_at("k", t2).is_ok());
        }
        assert!(l.take_at("k", t2).is_err());
    }

    #[test]
    fn zero_rate_is_off() {
        let l = Limiter::new(0.0, 1);
        for _ in 0..1000 {
            assert!(l.take("k").is_ok());
        }
    }

    #[test]
    fn idle_buckets_are_forgotten_when_many() {
        let l = Limiter::new(1000.0, 1);
        let t0 = Instant::now();
        for i in 0..MAX_BUCKETS {
            l.take_at(&i.to_string(), t0).unwrap();
        }
        l.take_at("new", t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(l.buckets.lock().unwrap().len(), 1);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
    }
}
