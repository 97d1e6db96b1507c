//! A destination's rate limit, shared by all instances: each instance sends at the configured
//! rate divided by the number of live instances (`queue.rate_limits`; instances find each other
//! through heartbeats in the database, see `store::leases::heartbeat`).

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

/// The limiter of one destination.
pub struct SharedRate {
    /// Messages per second for all instances together.
    total: f64,
    /// (instances sharing, this instance's limiter).
    share: Mutex<(u32, Arc<DefaultDirectRateLimiter>)>,
}

impl SharedRate {
    /// A limit of `total` messages per second, taken by this instance alone until told otherwise.
    pub fn new(total: f64) -> SharedRate {
        SharedRate {
            total,
            share: Mutex::new((1, Arc::new(limiter(total)))),
        }
    }

    /// This instance's share, in messages per second.
    pub fn per_instance(&self) -> f64 {
        self.total / f64::from(self.lock().0)
    }

    /// Divides the limit among `instances` (at least one). Returns whether the share changed.
    pub fn set_instances(&self, instances: u32) -> bool {
        let instances = instances.max(1);
        let mut share = self.lock();
        if share.0 == instances {
            return false;
        }
        *share = (
            instances,
            Arc::new(limiter(self.total / f64::from(instances))),
        );
        true
    }

    /// Waits until this instance may send the next message.
    pub async fn until_ready(&self) {
        let current = self.lock().1.clone();
        current.until_ready().await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u32, Arc<DefaultDirectRateLimiter>)> {
        self.share.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A limiter for `rate` messages per second; below one per second, one per period. Its burst
/// is one second's worth.
fn limiter(rate: f64) -> DefaultDirectRateLimiter {
    let quota = if rate >= 1.0 {
        Quota::per_second(NonZeroU32::new(rate as u32).unwrap_or(NonZeroU32::MIN))
    } else {
        Quota::with_period(std::time::Duration::from_secs_f64(1.0 / rate))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
    };
    RateLimiter::direct(quota)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many messages the limiter lets through at once (its burst).
    fn burst(r: &SharedRate) -> u32 {
        let l = r.lock().1.clone();
        (0..1000).take_while(|_| l.check().is_ok()).count() as u32
    }

    #[test]
    fn the_limit_is_divided_among_the_live_instances() {
        let r = SharedRate::new(40.0);
        assert_eq!(r.per_instance(), 40.0);
        assert_eq!(burst(&r), 40, "alone, an instance has the whole rate");
        assert!(r.set_instances(4));
        assert_eq!(r.per_instance(), 10.0);
        assert_eq!(burst(&r), 10, "one of four instances gets a quarter");
        assert!(!r.set_instances(4), "the same count changes nothing");
        assert!(r.set_instances(0), "no count means alone");
        assert_eq!(r.per_instance(), 40.0);
    }

    #[test]
    fn a_share_below_one_per_second_still_lets_messages_through() {
        let r = SharedRate::new(2.0);
        r.set_instances(3);
        assert!((r.per_instance() - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(burst(&r), 1);
    }
}
