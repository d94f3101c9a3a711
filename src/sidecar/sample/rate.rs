//! Per-service rate limit: one token bucket per `service.name`, so a noisy
//! daemon runs out of its own tokens and cannot starve the others.

use std::collections::HashMap;
use std::time::Instant;

/// A token bucket: `rate` tokens per second, holding at most `burst`.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    fn full(burst: f64, now: Instant) -> TokenBucket {
        TokenBucket {
            tokens: burst,
            last: now,
        }
    }

    /// Refills for the time since the last call, then takes one token if
    /// there is one.
    fn take(&mut self, rate: f64, burst: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The buckets of every service seen, and their common settings.
#[derive(Debug, Default)]
pub struct RateLimits {
    /// Spans per second per service; 0 turns the limit off.
    rate: f64,
    /// Bucket size in spans (at least 1 when the limit is on).
    burst: f64,
    buckets: HashMap<String, TokenBucket>,
}

impl RateLimits {
    /// Limits of `rate` spans/s with bursts of `burst` spans. A `burst` of 0
    /// means one second's worth (`rate`, at least 1).
    pub fn new(rate: f64, burst: f64) -> RateLimits {
        let mut r = RateLimits::default();
        r.set(rate, burst);
        r
    }

    /// Changes the settings, keeping each bucket's tokens (cut to the new burst).
    pub fn set(&mut self, rate: f64, burst: f64) {
        self.rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            0.0
        };
        self.burst = if burst.is_finite() && burst > 0.0 {
            burst
        } else {
            self.rate
        }
        .max(1.0);
        if self.rate == 0.0 {
            self.buckets.clear();
        }
        for b in self.buckets.values_mut() {
            b.tokens = b.tokens.min(self.burst);
        }
    }

    /// Whether a limit is set.
    pub fn enabled(&self) -> bool {
        self.rate > 0.0
    }

    /// A copy of `service`'s bucket (`None`: it has none yet), for
    /// [`restore`](Self::restore).
    pub fn save(&self, service: &str) -> Option<TokenBucket> {
        self.buckets.get(service).cloned()
    }

    /// Puts back a bucket taken by [`save`](Self::save): the tokens taken
    /// since are returned.
    pub fn restore(&mut self, service: &str, saved: Option<TokenBucket>) {
        match saved {
            Some(b) => {
                if let Some(now) = self.buckets.get_mut(service) {
                    *now = b;
                }
            }
            None => {
                self.buckets.remove(service);
            }
        }
    }

    /// The bucket of `service` (created full on first use), `None` when the
    /// limit is off. Look it up once per batch, then [`Limiter::take`] per span.
    pub fn limiter(&mut self, service: &str, now: Instant) -> Option<Limiter<'_>> {
        if !self.enabled() {
            return None;
        }
        let (rate, burst) = (self.rate, self.burst);
        if !self.buckets.contains_key(service) {
            self.buckets
                .insert(service.to_string(), TokenBucket::full(burst, now));
        }
        let bucket = self.buckets.get_mut(service)?;
        Some(Limiter {
            bucket,
            rate,
            burst,
        })
    }
}

/// One service's bucket with the current settings.
#[derive(Debug)]
pub struct Limiter<'a> {
    bucket: &'a mut TokenBucket,
    rate: f64,
    burst: f64,
}

impl Limiter<'_> {
    /// Takes one token if there is one (after refilling up to `now`).
    pub fn take(&mut self, now: Instant) -> bool {
        self.bucket.take(self.rate, self.burst, now)
    }
}
