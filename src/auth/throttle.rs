//! Slows down password guessing and mass registration. Failed logins count per (account,
//! address) pair, per address and per account; an address is held back only by its own
//! failures: the pair's, its own across accounts, and, once it has failed on an account, that
//! account's failures from everywhere (guessing spread over many addresses). So an attacker
//! cannot lock the real user out from an address that has not failed. Registrations count per
//! address. Each delay doubles with every attempt over the free ones.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per (account, address) pair before attempts are delayed.
const PAIR_FREE_FAILURES: u32 = 5;
/// Failures allowed per account, from every address together, before addresses that failed on
/// it are delayed.
const ACCOUNT_FREE_FAILURES: u32 = 10;
/// Failures allowed per client address before attempts are delayed.
const ADDRESS_FREE_FAILURES: u32 = 20;
/// Registrations allowed per client address before more are delayed.
const ADDRESS_FREE_REGISTRATIONS: u32 = 10;
/// Longest delay imposed.
const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Attempts older than this are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);

#[derive(Clone, Copy)]
struct Attempts {
    count: u32,
    last: Instant,
}

/// In-memory attempt counters keyed by account, address and both.
#[derive(Default)]
pub struct LoginThrottle {
    entries: Mutex<HashMap<String, Attempts>>,
}

impl LoginThrottle {
    /// Seconds the caller must still wait before trying `username` from `address`, if any
    /// (rounded up, so a client that waits that long gets through).
    pub fn wait_secs(&self, username: &str, address: &str) -> Option<u64> {
        let pair = pair_key(username, address);
        let mut keys = vec![
            (pair.clone(), PAIR_FREE_FAILURES),
            (address_key(address), ADDRESS_FREE_FAILURES),
        ];
        if self.count(&pair) > 0 {
            keys.push((account_key(username), ACCOUNT_FREE_FAILURES));
        }
        self.longest_wait(&keys)
    }

    /// Records a failed login.
    pub fn failed(&self, username: &str, address: &str) {
        self.record(&[
            pair_key(username, address),
            address_key(address),
            account_key(username),
        ]);
    }

    /// Clears the failures of `username` from `address` after a successful login.
    pub fn succeeded(&self, username: &str, address: &str) {
        self.lock().remove(&pair_key(username, address));
    }

    /// Seconds before `address` may register again, if any; otherwise counts this attempt.
    pub fn registration(&self, address: &str) -> Option<u64> {
        let key = format!("register:{address}");
        let wait = self.longest_wait(&[(key.clone(), ADDRESS_FREE_REGISTRATIONS)]);
        if wait.is_none() {
            self.record(&[key]);
        }
        wait
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Attempts>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, key: &str) -> u32 {
        self.lock().get(key).map_or(0, |a| a.count)
    }

    fn longest_wait(&self, keys: &[(String, u32)]) -> Option<u64> {
        let now = Instant::now();
        let mut entries = self.lock();
        entries.retain(|_, a| now.duration_since(a.last) < FORGET_AFTER);
        keys.iter()
            .filter_map(|(key, free)| {
                let a = entries.get(key)?;
                let until = a.last + delay(a.count, *free)?;
                (until > now).then(|| until.duration_since(now).as_secs_f64().ceil() as u64)
            })
            .max()
    }

    fn record(&self, keys: &[String]) {
        let now = Instant::now();
        let mut entries = self.lock();
        for key in keys {
            let a = entries.entry(key.clone()).or_insert(Attempts {
                count: 0,
                last: now,
            });
            a.count += 1;
            a.last = now;
        }
    }
}

fn account_key(username: &str) -> String {
    format!("user:{}", username.to_lowercase())
}

fn address_key(address: &str) -> String {
    format!("addr:{address}")
}

fn pair_key(username: &str, address: &str) -> String {
    format!("pair:{}|{address}", username.to_lowercase())
}

/// The delay after `count` failures when `free` are allowed: none, then 1 s, 2 s, 4 s, ….
fn delay(count: u32, free: u32) -> Option<Duration> {
    let over = count.checked_sub(free)?;
    Some(Duration::from_secs(1u64 << over.min(20)).min(MAX_DELAY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_after_the_free_failures_and_double() {
        assert_eq!(delay(4, 5), None);
        assert_eq!(delay(5, 5), Some(Duration::from_secs(1)));
        assert_eq!(delay(8, 5), Some(Duration::from_secs(8)));
        assert_eq!(delay(99, 5), Some(MAX_DELAY));
    }

    #[test]
    fn failures_hold_back_the_failing_address_not_the_owner_elsewhere() {
        let t = LoginThrottle::default();
        for _ in 0..PAIR_FREE_FAILURES {
            assert_eq!(t.wait_secs("Ann", "10.0.0.66"), None);
            t.failed("Ann", "10.0.0.66");
        }
        assert!(t.wait_secs("ann", "10.0.0.66").is_some());
        assert_eq!(
            t.wait_secs("ann", "10.0.0.1"),
            None,
            "the owner's address is not held"
        );
        t.succeeded("ANN", "10.0.0.1");
        assert!(t.wait_secs("ann", "10.0.0.66").is_some());
    }

    #[test]
    fn guessing_spread_over_addresses_holds_back_those_addresses() {
        let t = LoginThrottle::default();
        for i in 0..ACCOUNT_FREE_FAILURES {
            t.failed("ann", &format!("10.0.1.{i}"));
        }
        assert!(t.wait_secs("ann", "10.0.1.3").is_some());
        assert_eq!(t.wait_secs("ann", "10.0.0.1"), None);
    }

    #[test]
    fn an_address_is_throttled_across_accounts() {
        let t = LoginThrottle::default();
        for i in 0..ADDRESS_FREE_FAILURES {
            t.failed(&format!("user{i}"), "10.0.0.1");
        }
        assert!(t.wait_secs("someone-new", "10.0.0.1").is_some());
        assert_eq!(t.wait_secs("someone-new", "10.0.0.2"), None);
    }

    #[test]
    fn registrations_are_counted_per_address() {
        let t = LoginThrottle::default();
        for _ in 0..ADDRESS_FREE_REGISTRATIONS {
            assert_eq!(t.registration("10.0.0.1"), None);
        }
        assert_eq!(t.registration("10.0.0.1"), Some(1));
        assert_eq!(t.registration("10.0.0.2"), None);
    }
}
