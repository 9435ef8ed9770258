//! Slows down password guessing: after a few failed logins for one account or from one
//! address, further attempts are refused for a delay that doubles with each failure.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per account before attempts are delayed.
const ACCOUNT_FREE_FAILURES: u32 = 5;
/// Failures allowed per client address before attempts are delayed.
const ADDRESS_FREE_FAILURES: u32 = 20;
/// Longest delay imposed.
const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Failures older than this are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// In-memory failure counters keyed by account and by client address.
#[derive(Default)]
pub struct LoginThrottle {
    entries: Mutex<HashMap<String, Failures>>,
}

impl LoginThrottle {
    /// Seconds the caller must still wait before trying `username` from `address`, if any.
    pub fn wait_secs(&self, username: &str, address: &str) -> Option<u64> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
        [
            (account_key(username), ACCOUNT_FREE_FAILURES),
            (address_key(address), ADDRESS_FREE_FAILURES),
        ]
        .into_iter()
        .filter_map(|(key, free)| {
            let f = entries.get(&key)?;
            let until = f.last + delay(f.count, free)?;
            (until > now).then(|| until.duration_since(now).as_secs().max(1))
        })
        .max()
    }

    /// Records a failed attempt.
    pub fn failed(&self, username: &str, address: &str) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for key in [account_key(username), address_key(address)] {
            let f = entries.entry(key).or_insert(Failures {
                count: 0,
                last: now,
            });
            f.count += 1;
            f.last = now;
        }
    }

    /// Clears the account's failures after a successful login.
    pub fn succeeded(&self, username: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&account_key(username));
    }
}

fn account_key(username: &str) -> String {
    format!("user:{}", username.to_lowercase())
}

fn address_key(address: &str) -> String {
    format!("addr:{address}")
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
    fn an_account_is_throttled_across_addresses_and_cleared_by_success() {
        let t = LoginThrottle::default();
        for i in 0..ACCOUNT_FREE_FAILURES {
            assert_eq!(t.wait_secs("Ann", &format!("10.0.0.{i}")), None);
            t.failed("Ann", &format!("10.0.0.{i}"));
        }
        assert!(t.wait_secs("ann", "10.9.9.9").is_some());
        assert_eq!(t.wait_secs("bob", "10.9.9.9"), None);
        t.succeeded("ANN");
        assert_eq!(t.wait_secs("ann", "10.9.9.9"), None);
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
}
