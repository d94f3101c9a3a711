//! `ringside top` in a real terminal: tmux runs it against a sidecar fed by
//! writers of known speed; the screen, read with `capture-pane`, shows the
//! slow node's slow operation first by p99; keys re-sort, switch views and
//! quit with exit status 0 and the terminal restored.

mod common;
mod span_metrics_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn role_ops_writer() {
    if role().as_deref() == Some("ops_writer") {
        span_metrics_support::ops_writer();
    }
}

/// A tmux server of this test's own (its own socket name), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux is installed (.ci/run installs it)");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "top"])
    }

    fn keys(&self, keys: &str) {
        self.run(&["send-keys", "-t", "top", keys]);
    }

    /// Waits until the screen satisfies `cond`; returns that screen.
    fn wait_screen(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let mut screen = String::new();
        wait_for(what, Duration::from_secs(60), || {
            screen = self.screen();
            cond(&screen)
        });
        screen
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// The first row under the column headings.
fn first_row(screen: &str) -> String {
    let mut lines = screen
        .lines()
        .skip_while(|l| !l.contains("OPERATION") && !l.contains("DURATION"));
    lines.next();
    lines.next().unwrap_or("").trim().to_string()
}

fn writer(rings: &Path, service: &str, slow_ms: u64) -> Proc {
    spawn_role(
        "role_ops_writer",
        "ops_writer",
        &[
            ("RINGSIDE_DIR", rings.display().to_string()),
            ("SERVICE", service.into()),
            ("SLOW_MS", slow_ms.to_string()),
            ("FOREVER", "1".into()),
        ],
    )
}

#[test]
fn top_shows_the_slow_operation_first_and_follows_keys() {
    let tmp = TempDir::new("top-tmux");
    let (rings, spool, out, log) = layout(&tmp);
    let mut sidecar = start_sidecar(&rings, &spool, &out, &log, &[]);
    wait_for("live socket", Duration::from_secs(30), || {
        rings.join("ringside-live.sock").exists()
    });
    let mut fast = writer(&rings, "data-1", 0);
    let mut slow = writer(&rings, "data-3", 20);

    let tmux = Tmux {
        socket: format!("ringside-top-test-{}", std::process::id()),
    };
    let command = format!(
        "{} top --ring-dir {} --interval 500; echo TOP_EXIT=$?; sleep 120",
        env!("CARGO_BIN_EXE_ringside"),
        rings.display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "160",
        "-y",
        "30",
        &command,
    ]);

    // Sorted by p99 (the default): data-3's scrub, 20 ms each, is first.
    let screen = tmux.wait_screen("data-3 scrub first by p99", |s| {
        s.contains("sorted by p99 ") && first_row(s).starts_with("data-3 scrub")
    });
    assert!(screen.contains("data-1 get"), "{screen}");

    // r reverses: the slowest goes last.
    tmux.keys("r");
    let screen = tmux.wait_screen("reversed", |s| s.contains("(reversed)"));
    assert!(!first_row(&screen).starts_with("data-3 scrub"), "{screen}");
    tmux.keys("r");

    // s and the arrows move the sort column.
    tmux.keys("s");
    tmux.wait_screen("sorted by p99.9", |s| {
        s.contains("sorted by p99.9") && first_row(s).starts_with("data-3 scrub")
    });
    tmux.keys("Left");
    tmux.keys("Left");
    tmux.wait_screen("sorted by p50", |s| s.contains("sorted by p50 "));
    tmux.keys("Left");
    tmux.keys("Left");
    tmux.keys("Left");
    tmux.wait_screen("sorted by name", |s| {
        s.contains("sorted by name") && first_row(s).starts_with("data-1 get")
    });

    // v switches to services, then to the slowest kept traces, whose trace
    // ids `ringside trace` can follow.
    tmux.keys("v");
    tmux.wait_screen("services view", |s| {
        s.contains("services over") && first_row(s).starts_with("data-1")
    });
    tmux.keys("v");
    let screen = tmux.wait_screen("slowest traces", |s| {
        s.contains("slowest traces over") && first_row(s).contains("data-3 scrub")
    });
    let id = first_row(&screen)
        .split_whitespace()
        .last()
        .unwrap_or("")
        .to_string();
    assert!(
        id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "no trace id in {screen}"
    );

    // q quits with status 0, and the shell's screen is back.
    tmux.keys("q");
    let screen = tmux.wait_screen("top exited", |s| s.contains("TOP_EXIT="));
    assert!(screen.contains("TOP_EXIT=0"), "{screen}");
    assert!(
        !screen.contains("OPERATION"),
        "alternate screen left behind: {screen}"
    );

    drop(tmux);
    fast.stop_with(libc::SIGKILL, Duration::from_secs(10));
    slow.stop_with(libc::SIGKILL, Duration::from_secs(10));
    sidecar.stop_with(libc::SIGTERM, Duration::from_secs(30));
}
