//! The session cookie `alcoves-session`: the session id, encrypted and authenticated with
//! AES-256-GCM (the `cookie` crate's private jar), HttpOnly, SameSite=Lax, Secure behind TLS.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use cookie::{Cookie, CookieBuilder, CookieJar, Key, SameSite};
use sha2::{Digest, Sha512};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "alcoves-session";
/// File in the data dir holding the generated secret when none is configured.
pub const SECRET_FILE: &str = "session.secret";
/// Shortest configured secret accepted.
const MIN_SECRET_LEN: usize = 32;

/// Encrypts and decrypts the session cookie.
#[derive(Clone)]
pub struct SessionCookie {
    key: Key,
    secure: bool,
    max_age_days: u64,
}

impl SessionCookie {
    /// A cookie codec keyed by `secret` (any length of 32+ characters, stretched with SHA-512).
    pub fn new(secret: &str, secure: bool, max_age_days: u64) -> SessionCookie {
        let key = Key::from(Sha512::digest(secret.as_bytes()).as_slice());
        SessionCookie {
            key,
            secure,
            max_age_days,
        }
    }

    /// The `Set-Cookie` value that stores `session_id`.
    pub fn set(&self, session_id: &str) -> String {
        let max_age = cookie::time::Duration::days(self.max_age_days as i64);
        self.set_sealed(SESSION_COOKIE, session_id, max_age)
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clear(&self) -> String {
        self.clear_named(SESSION_COOKIE)
    }

    /// The session id from `Cookie` header values, if the cookie is present and authentic.
    pub fn read<'a>(&self, headers: impl Iterator<Item = &'a str>) -> Option<String> {
        self.read_sealed(SESSION_COOKIE, headers)
    }

    /// The `Set-Cookie` value of cookie `name` holding `value` sealed (encrypted and
    /// authenticated, bound to the name), HttpOnly, SameSite=Lax, for `max_age`.
    pub fn set_sealed(&self, name: &str, value: &str, max_age: cookie::time::Duration) -> String {
        let cookie = self
            .base(name.to_owned(), value.to_owned())
            .max_age(max_age)
            .build();
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key).add(cookie);
        jar.get(name)
            .map(|c| c.encoded().to_string())
            .unwrap_or_default()
    }

    /// The `Set-Cookie` value that removes cookie `name`.
    pub fn clear_named(&self, name: &str) -> String {
        self.base(name.to_owned(), String::new())
            .max_age(cookie::time::Duration::ZERO)
            .build()
            .encoded()
            .to_string()
    }

    /// The value of the sealed cookie `name` in `Cookie` header values, if present and
    /// authentic.
    pub fn read_sealed<'a>(
        &self,
        name: &str,
        headers: impl Iterator<Item = &'a str>,
    ) -> Option<String> {
        let mut jar = CookieJar::new();
        for header in headers {
            for cookie in Cookie::split_parse_encoded(header.to_owned()).flatten() {
                if cookie.name() == name {
                    jar.add_original(cookie.into_owned());
                }
            }
        }
        jar.private(&self.key)
            .get(name)
            .map(|c| c.value().to_owned())
    }

    /// `value` encrypted and authenticated under the server's key for `purpose`; only
    /// [`SessionCookie::open`] with the same purpose reads it back.
    pub fn seal(&self, purpose: &str, value: &str) -> String {
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key)
            .add(Cookie::new(purpose.to_owned(), value.to_owned()));
        jar.get(purpose)
            .map(|c| c.value().to_owned())
            .unwrap_or_default()
    }

    /// What [`SessionCookie::seal`] sealed for `purpose`, if `sealed` is authentic.
    pub fn open(&self, purpose: &str, sealed: &str) -> Option<String> {
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new(purpose.to_owned(), sealed.to_owned()));
        jar.private(&self.key)
            .get(purpose)
            .map(|c| c.value().to_owned())
    }

    fn base(&self, name: String, value: String) -> CookieBuilder<'static> {
        Cookie::build((name, value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
    }
}

/// The configured secret, or the one kept in `<data_dir>/session.secret`, generated (mode 0600)
/// on first start.
pub fn load_or_create_secret(configured: Option<&str>, data_dir: &Path) -> Result<String, String> {
    if let Some(secret) = configured {
        if secret.len() < MIN_SECRET_LEN {
            return Err(format!(
                "ALCOVES_SESSION_SECRET must be at least {MIN_SECRET_LEN} characters"
            ));
        }
        return Ok(secret.to_owned());
    }
    let path = data_dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= MIN_SECRET_LEN => return Ok(s.trim().to_owned()),
        Ok(_) => {
            return Err(format!(
                "{} is too short; delete it to generate a new one",
                path.display()
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let secret = super::token::random_secret() + &super::token::random_secret();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(secret.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(set_cookie: &str) -> String {
        set_cookie.split(';').next().unwrap().to_owned()
    }

    #[test]
    fn cookie_round_trips_and_carries_the_safety_attributes() {
        let codec = SessionCookie::new(&"s".repeat(40), true, 30);
        let header = codec.set("session-1");
        assert!(header.starts_with("alcoves-session="));
        assert!(
            !header.contains("session-1"),
            "value must be encrypted: {header}"
        );
        for attr in [
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Max-Age=2592000",
        ] {
            assert!(header.contains(attr), "{attr} missing in {header}");
        }
        let cookie_header = format!("theme=dark; {}", value_of(&header));
        assert_eq!(
            codec.read([cookie_header.as_str()].into_iter()).as_deref(),
            Some("session-1")
        );
        assert!(
            !SessionCookie::new(&"s".repeat(40), false, 30)
                .set("x")
                .contains("Secure")
        );
    }

    #[test]
    fn tampered_or_foreign_cookies_are_rejected() {
        let codec = SessionCookie::new(&"s".repeat(40), false, 30);
        let value = value_of(&codec.set("session-1"));
        let mut bytes = value.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(codec.read([tampered.as_str()].into_iter()), None);
        let other = SessionCookie::new(&"t".repeat(40), false, 30);
        assert_eq!(
            other.read([value_of(&codec.set("session-1")).as_str()].into_iter()),
            None
        );
    }

    #[test]
    fn generated_secret_is_private_and_stable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("alcoves-secret-{}", uuid::Uuid::new_v4()));
        let a = load_or_create_secret(None, &dir).unwrap();
        let b = load_or_create_secret(None, &dir).unwrap();
        assert_eq!(a, b);
        let mode = std::fs::metadata(dir.join(SECRET_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(load_or_create_secret(Some("short"), &dir).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
