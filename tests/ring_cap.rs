//! Many rings at once, and rings replaced under their name. 2 000 live rings
//! against `rings.max_open` below that: the sidecar stays up, drains the rings
//! under the cap, reports the rest (`ringside_rings_refused`, one log line),
//! and opens them as other rings go away. The cap is cut to the open file
//! limit. A drained ring of a gone writer whose path now names another file
//! is not unlinked: the new file is opened and drained.

mod common;
#[path = "common/roles.rs"]
mod writer_roles;

use std::collections::HashSet;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;

use common::*;
use ringside::ring::Ring;

/// Raises this process's soft open-file limit so it can hold `rings` rings
/// (one descriptor each) and returns the limit; panics with the reason if
/// the hard limit is too low.
fn allow_open_files(rings: usize) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the call.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let want = (rings as u64 + 1024).min(lim.rlim_max);
    assert!(
        want >= rings as u64 + 512,
        "the hard open file limit {} is too low for {rings} rings",
        lim.rlim_max
    );
    if lim.rlim_cur < want {
        lim.rlim_cur = want;
        // SAFETY: as above; the soft limit stays within the hard one.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    }
    lim.rlim_cur
}

/// `count` live rings of the minimum capacity, services `<prefix>0000`…,
/// one span in each.
fn make_rings(dir: &Path, prefix: &str, count: usize) -> Vec<Ring> {
    (0..count)
        .map(|i| {
            let ring = Ring::create(dir, &format!("{prefix}{i:04}"), 8).expect("create ring");
            ring.push(&writer_roles::record(i as i64, 0, 0)).unwrap();
            ring
        })
        .collect()
}

fn services(out: &Path) -> HashSet<String> {
    read_jsonl(out).into_iter().map(|s| s.service).collect()
}

fn config(tmp: &TempDir, max_open: usize) -> String {
    let path = tmp.join("ringside.toml");
    std::fs::write(&path, format!("[rings]\nmax_open = {max_open}\n")).unwrap();
    path.display().to_string()
}

const RINGS: usize = 2000;
const CAP: usize = 1500;

#[test]
fn rings_past_max_open_wait_and_open_as_others_go_away() {
    allow_open_files(RINGS);
    let tmp = TempDir::new("ring-cap");
    let (rings, spool, out, log) = layout(&tmp);
    let mut live = make_rings(&rings, "cap", RINGS);
    let config = config(&tmp, CAP);
    let (mut sidecar, metrics) = scrape::start_sidecar_with_metrics(
        (&rings, &spool, &out, &log),
        &["--config", &config],
        &[],
    );
    let refused = |page: &str, reason: &str| {
        scrape::metric(
            page,
            &["ringside_rings_refused{", &format!("reason=\"{reason}\"")],
        )
    };

    // The rings under the cap are drained; the rest wait, counted.
    wait_for(
        "the rings under the cap drained",
        Duration::from_secs(120),
        || services(&out).len() == CAP,
    );
    wait_for("the refused rings counted", Duration::from_secs(30), || {
        refused(&scrape::page(&metrics), "max_open") == Some((RINGS - CAP) as f64)
    });
    let page = scrape::page(&metrics);
    assert_eq!(
        scrape::metric(&page, &["ringside_rings "]),
        Some(CAP as f64)
    );
    assert_eq!(refused(&page, "fd_limit"), Some(0.0));
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(services(&out).len(), CAP, "no ring past the cap was read");
    let text = std::fs::read_to_string(&log).unwrap();
    let reached: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("rings.max_open (1500) reached"))
        .collect();
    assert_eq!(reached.len(), 1, "logged once, not per scan: {reached:?}");
    assert!(reached[0].contains("500 ring files wait"), "{}", reached[0]);

    // 600 of the drained rings' writers exit: their rings are removed and
    // the 500 waiting ones open.
    let drained = services(&out);
    let mut gone = 0;
    live.retain(|ring| {
        let name = ring.path().file_name().unwrap().to_str().unwrap();
        let service = name.split('.').next().unwrap();
        if gone < 600 && drained.contains(service) {
            gone += 1;
            false
        } else {
            true
        }
    });
    assert_eq!(gone, 600);
    wait_for("every ring drained", Duration::from_secs(120), || {
        services(&out).len() == RINGS
    });
    wait_for("nothing refused", Duration::from_secs(30), || {
        refused(&scrape::page(&metrics), "max_open") == Some(0.0)
    });
    assert_eq!(read_jsonl(&out).len(), RINGS, "each span once");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("every ring file that waited on rings.max_open is open or gone")
    );
    drop(live);
    assert!(
        sidecar
            .stop_with(libc::SIGTERM, Duration::from_secs(30))
            .success(),
        "the sidecar stayed up and stopped cleanly"
    );
}

#[test]
fn max_open_is_cut_to_the_open_file_limit() {
    const SOFT: u64 = 300;
    allow_open_files(400);
    let tmp = TempDir::new("ring-cap-rlimit");
    let (rings, spool, out, log) = layout(&tmp);
    let _live = make_rings(&rings, "lim", 100);
    let mut cmd = sidecar_command(&rings, &spool, &out, &log, &[], &[]);
    // SAFETY: only getrlimit and setrlimit, async-signal-safe, runs in the child before exec.
    unsafe {
        cmd.pre_exec(|| {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            lim.rlim_cur = SOFT;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut sidecar = Proc::spawn(&mut cmd, "ringside run");
    // 300 - 256 descriptors for rings.
    wait_for(
        "the rings under the cut cap drained",
        Duration::from_secs(60),
        || services(&out).len() == 44,
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("rings.max_open (4096) cut to 44: the open file limit is 300"),
        "{text}"
    );
    assert!(text.contains("rings.max_open (44) reached: 56 ring files wait"));
    assert!(
        sidecar
            .stop_with(libc::SIGTERM, Duration::from_secs(30))
            .success()
    );
}

#[test]
fn a_drained_ring_replaced_under_its_name_is_not_unlinked() {
    let tmp = TempDir::new("ring-replaced");
    let (rings, spool, out, log) = layout(&tmp);
    let staging = tmp.join("staging");
    std::fs::create_dir(&staging).unwrap();
    let old = make_rings(&rings, "old", 1).pop().unwrap();
    let path = old.path().to_path_buf();
    let mut sidecar = start_sidecar(&rings, &spool, &out, &log, &[]);
    wait_for("the first ring drained", Duration::from_secs(30), || {
        services(&out).contains("old0000")
    });
    // A new ring takes the old one's name while the sidecar still has the
    // old one open; then the old writer exits.
    let new = make_rings(&staging, "new", 1).pop().unwrap();
    std::fs::rename(new.path(), &path).unwrap();
    drop(old);
    wait_for("the new ring drained", Duration::from_secs(30), || {
        services(&out).contains("new0000")
    });
    assert!(path.exists(), "the new ring was not unlinked");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("ring file replaced under the same name"),
        "{text}"
    );
    assert_eq!(read_jsonl(&out).len(), 2, "each span once");
    drop(new);
    assert!(
        sidecar
            .stop_with(libc::SIGTERM, Duration::from_secs(30))
            .success()
    );
}
