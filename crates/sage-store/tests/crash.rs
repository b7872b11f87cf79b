#![allow(clippy::unwrap_used)]

//! A process killed while writing loses at most the transaction it was in: the database opens,
//! passes SQLite's integrity check, and every message that was committed is there, in order.

use std::process::Command;
use std::time::Duration;

use sage_store::{NewMessage, Store};

const CHILD: &str = "SAGE_STORE_CRASH_CHILD";

/// The child: writes messages as fast as it can until it is killed.
#[test]
#[ignore = "run by killed_while_writing_loses_nothing_committed as a child process"]
fn child_writer() {
    let Ok(path) = std::env::var(CHILD) else { return };
    let s = Store::open(std::path::Path::new(&path)).unwrap();
    s.create_session("crash", None, 0.0).unwrap();
    for i in 0.. {
        let m = NewMessage {
            role: "user".into(),
            content: format!("message {i} {}", "x".repeat(200)),
            ..Default::default()
        };
        s.append_message("crash", &m, i as f64).unwrap();
        s.remember(i as f64, "observation", "imu", &format!("reading {i}"), 0.5).unwrap();
    }
}

#[test]
fn killed_while_writing_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["child_writer", "--exact", "--ignored", "--nocapture"])
            .env(CHILD, &path)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300 + 100 * round));
        child.kill().unwrap();
        child.wait().unwrap();

        let s = Store::open(&path).unwrap();
        let messages = s.messages("crash").unwrap();
        assert!(!messages.is_empty(), "round {round}: the child wrote something");
        for (i, m) in messages.iter().enumerate() {
            assert_eq!(m.seq, i as u64, "round {round}: no gap, no duplicate");
        }
        let conn = rusqlite::Connection::open(&path).unwrap();
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
    }
}
