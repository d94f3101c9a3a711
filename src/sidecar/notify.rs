//! Talking to systemd without libsystemd: the `sd_notify` protocol is one
//! datagram of `KEY=value` lines to the unix socket named by `$NOTIFY_SOCKET`
//! (a path, or an abstract name written with a leading `@`). When the variable
//! is unset the sidecar does not run under a `Type=notify` unit and
//! [`Notifier::from_env`] gives `None`.
//!
//! The watchdog (`WatchdogSec=` in the unit) arrives as `$WATCHDOG_USEC`, meant
//! for the process in `$WATCHDOG_PID` when that is set; ping at least twice per
//! [`Notifier::watchdog_interval`].

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// A connection to systemd's notification socket.
#[derive(Debug)]
pub struct Notifier {
    /// Unbound datagram socket the messages leave from.
    socket: UnixDatagram,
    /// Where they go: the path or abstract name from `$NOTIFY_SOCKET`.
    addr: SocketAddr,
    /// `$WATCHDOG_USEC` when the watchdog is meant for this process.
    watchdog: Option<Duration>,
}

impl Notifier {
    /// The notifier described by `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and
    /// `$WATCHDOG_PID`; `None` when `$NOTIFY_SOCKET` is unset or empty, or
    /// names no usable socket address.
    pub fn from_env() -> Option<Notifier> {
        let var = |name| std::env::var(name).ok();
        Notifier::from_values(
            var("NOTIFY_SOCKET").as_deref(),
            var("WATCHDOG_USEC").as_deref(),
            var("WATCHDOG_PID").as_deref(),
        )
    }

    /// [`Notifier::from_env`] from the variables' values.
    fn from_values(
        socket: Option<&str>,
        watchdog_usec: Option<&str>,
        watchdog_pid: Option<&str>,
    ) -> Option<Notifier> {
        let mut notifier = Notifier::connect(socket.filter(|s| !s.is_empty())?).ok()?;
        notifier.watchdog = watchdog_from(watchdog_usec, watchdog_pid, std::process::id());
        Some(notifier)
    }

    /// A notifier sending to `target`: a socket path, or `@name` for the
    /// abstract socket `name`. No watchdog.
    pub fn connect(target: &str) -> io::Result<Notifier> {
        let addr = match target.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
            None if target.starts_with('/') => SocketAddr::from_pathname(target)?,
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("NOTIFY_SOCKET {target:?} is neither an absolute path nor @name"),
                ));
            }
        };
        Ok(Notifier {
            socket: UnixDatagram::unbound()?,
            addr,
            watchdog: None,
        })
    }

    /// The watchdog interval systemd expects pings within, if it watches this
    /// process. Ping at least twice per interval.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }

    /// `READY=1`: start-up is complete (rings can be created, exporters are
    /// configured).
    pub fn ready(&self) -> io::Result<()> {
        self.send("READY=1")
    }

    /// `STOPPING=1`: shutdown has begun.
    pub fn stopping(&self) -> io::Result<()> {
        self.send("STOPPING=1")
    }

    /// `RELOADING=1` with the current `CLOCK_MONOTONIC` time, as
    /// `Type=notify-reload` requires; send [`Notifier::ready`] when the reload
    /// is done.
    pub fn reloading(&self) -> io::Result<()> {
        self.send(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()))
    }

    /// `WATCHDOG=1`: the main loop is alive.
    pub fn watchdog(&self) -> io::Result<()> {
        self.send("WATCHDOG=1")
    }

    /// `STATUS=...`: one line shown by `systemctl status`. Line breaks in
    /// `text` become spaces, since they would start a new assignment.
    pub fn status(&self, text: &str) -> io::Result<()> {
        self.send(&format!("STATUS={}", text.replace(['\n', '\r'], " ")))
    }

    /// Sends one datagram of assignments.
    fn send(&self, message: &str) -> io::Result<()> {
        let sent = self.socket.send_to_addr(message.as_bytes(), &self.addr)?;
        if sent != message.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "notification datagram cut short",
            ));
        }
        Ok(())
    }
}

/// The watchdog interval from the values of `$WATCHDOG_USEC` and
/// `$WATCHDOG_PID`, for the process `own_pid`: none when unset, unparsable,
/// zero, or meant for another process.
fn watchdog_from(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok()? != own_pid {
            return None;
        }
    }
    Some(Duration::from_micros(usec))
}

/// `CLOCK_MONOTONIC` in microseconds.
fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists
    // on Linux, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Receives one datagram as text.
    fn recv(socket: &UnixDatagram) -> String {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).expect("a notification arrives");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn messages_reach_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("ringside-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier::connect(path.to_str().unwrap()).unwrap();

        notifier.ready().unwrap();
        assert_eq!(recv(&listener), "READY=1");
        notifier.watchdog().unwrap();
        assert_eq!(recv(&listener), "WATCHDOG=1");
        notifier.stopping().unwrap();
        assert_eq!(recv(&listener), "STOPPING=1");
        notifier.status("draining 3 rings\nall well").unwrap();
        assert_eq!(recv(&listener), "STATUS=draining 3 rings all well");

        let before = monotonic_usec();
        notifier.reloading().unwrap();
        let reload = recv(&listener);
        let (first, stamp) = reload.split_once('\n').unwrap();
        assert_eq!(first, "RELOADING=1");
        let usec: u64 = stamp
            .strip_prefix("MONOTONIC_USEC=")
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            usec >= before && usec <= monotonic_usec(),
            "{usec} vs {before}"
        );

        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn messages_reach_an_abstract_socket() {
        let name = format!("ringside-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        let notifier = Notifier::connect(&format!("@{name}")).unwrap();
        notifier.ready().unwrap();
        assert_eq!(recv(&listener), "READY=1");
    }

    #[test]
    fn sending_without_a_listener_is_an_error_not_a_panic() {
        let name = format!("ringside-notify-nobody-{}", std::process::id());
        let notifier = Notifier::connect(&format!("@{name}")).unwrap();
        assert!(notifier.ready().is_err());
    }

    #[test]
    fn relative_or_empty_socket_names_are_refused() {
        assert!(Notifier::connect("notify.sock").is_err());
        assert!(Notifier::connect("").is_err());
    }

    #[test]
    fn from_the_environment() {
        assert!(Notifier::from_values(None, Some("1000000"), None).is_none());
        assert!(Notifier::from_values(Some(""), None, None).is_none());
        assert!(Notifier::from_values(Some("relative"), None, None).is_none());

        let name = format!("ringside-notify-env-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        let me = std::process::id().to_string();
        let at = format!("@{name}");
        let notifier = Notifier::from_values(Some(&at), Some("2000000"), Some(&me)).unwrap();
        assert_eq!(notifier.watchdog_interval(), Some(Duration::from_secs(2)));
        notifier.watchdog().unwrap();
        assert_eq!(recv(&listener), "WATCHDOG=1");
        let other = Notifier::from_values(Some(&at), Some("2000000"), Some("1")).unwrap();
        assert_eq!(
            other.watchdog_interval(),
            None,
            "watchdog meant for another pid"
        );
        let unwatched = Notifier::from_values(Some(&at), None, None).unwrap();
        assert_eq!(unwatched.watchdog_interval(), None);
    }

    #[test]
    fn watchdog_interval_honours_the_pid() {
        let me = 4242;
        assert_eq!(
            watchdog_from(Some("30000000"), None, me),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            watchdog_from(Some("500000"), Some("4242"), me),
            Some(Duration::from_millis(500))
        );
        assert_eq!(watchdog_from(Some("500000"), Some("1"), me), None);
        assert_eq!(watchdog_from(Some("500000"), Some("x"), me), None);
        assert_eq!(watchdog_from(Some("0"), None, me), None);
        assert_eq!(watchdog_from(Some("soon"), None, me), None);
        assert_eq!(watchdog_from(None, Some("4242"), me), None);
    }
}
