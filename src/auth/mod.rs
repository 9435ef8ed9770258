//! Authentication: passwords, the session cookie, random tokens and login throttling.

pub mod cookie;
pub mod password;
pub mod throttle;
pub mod token;
