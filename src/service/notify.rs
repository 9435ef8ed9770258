//! The service manager's readiness protocol (`sd_notify(3)`): one datagram per state change to
//! the Unix socket named by `NOTIFY_SOCKET`, which systemd sets for `Type=notify` units. Without
//! the variable every call does nothing, so a server started by hand behaves as before.

use std::os::unix::net::UnixDatagram;

/// Tells the service manager the server is ready (migrations ran, the port listens), with a
/// one-line status for `systemctl status`.
pub fn ready(status: &str) {
    send(&format!(
        "READY=1\nSTATUS={status}\nMAINPID={}",
        std::process::id()
    ));
}

/// Tells the service manager the server is shutting down (draining requests and jobs).
pub fn stopping() {
    send("STOPPING=1\nSTATUS=stopping");
}

/// Sends `state`; a failure is logged, never fatal: the manager then only misses an update.
fn send(state: &str) {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(e) = send_to(&target, state) {
        tracing::warn!("cannot notify the service manager at {target:?}: {e}");
    }
}

fn send_to(target: &std::ffi::OsStr, state: &str) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::SocketAddr;
    let socket = UnixDatagram::unbound()?;
    let bytes = target.as_bytes();
    // `@name` is a socket in the abstract namespace, anything else a path.
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(std::path::Path::new(target))?,
    };
    socket.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_reach_a_path_and_an_abstract_socket() {
        let dir = std::env::temp_dir().join(format!("alcoves-notify-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        send_to(path.as_os_str(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("alcoves-test-{}", uuid::Uuid::new_v4());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        send_to(std::ffi::OsStr::new(&format!("@{name}")), "STOPPING=1").unwrap();
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
