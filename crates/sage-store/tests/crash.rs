#![allow(clippy::unwrap_used)]

//! A process killed while writing loses at most the transaction it was in: the database opens,
//! passes SQLite's integrity check, and every message whose write returned (the child says so
//! on stdout before the next one) is there, in order, with nothing missing before it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sage_store::{NewMessage, Store};

/// Set in the child: the database to write to, and the round.
const CHILD: &str = "SAGE_STORE_CRASH_CHILD";

/// The child's work: append messages as fast as it can, saying which were committed, until killed.
fn write_until_killed(path: &str, round: &str) -> ! {
    let s = Store::open(std::path::Path::new(path)).unwrap();
    if s.session("crash").unwrap().is_none() {
        s.create_session("crash", None, 0.0).unwrap();
    }
    let mut out = std::io::stdout().lock();
    for i in 0u64.. {
        let m = NewMessage {
            role: "user".into(),
            content: format!("round {round} message {i} {}", "x".repeat(200)),
            ..Default::default()
        };
        s.append_message("crash", &m, i as f64).unwrap();
        s.remember(i as f64, "observation", "imu", &format!("reading {i}"), 0.5).unwrap();
        writeln!(out, "{i}").unwrap();
        out.flush().unwrap();
    }
    unreachable!()
}

#[test]
fn killed_while_writing_loses_nothing_committed() {
    if let (Ok(path), Ok(round)) = (std::env::var(CHILD), std::env::var("SAGE_STORE_CRASH_ROUND")) {
        write_until_killed(&path, &round);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    for round in 0..3u64 {
        // This same test, in a child process, as the writer.
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "killed_while_writing_loses_nothing_committed",
                "--exact",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD, &path)
            .env("SAGE_STORE_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_millis(300 + 100 * round);
        let mut acknowledged: Option<u64> = None;
        while Instant::now() < deadline {
            match lines.next() {
                Some(Ok(l)) => acknowledged = l.trim().parse().ok().or(acknowledged),
                _ => break,
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let acknowledged = acknowledged.expect("the child committed something before it was killed");

        let s = Store::open(&path).unwrap();
        let prefix = format!("round {round} message ");
        let ours: Vec<u64> = s
            .messages("crash")
            .unwrap()
            .iter()
            .filter_map(|m| m.message.content.strip_prefix(&prefix))
            .map(|rest| rest.split(' ').next().unwrap().parse().unwrap())
            .collect();
        let expected: Vec<u64> = (0..ours.len() as u64).collect();
        assert_eq!(ours, expected, "round {round}: a gap or a duplicate");
        assert!(
            ours.len() as u64 > acknowledged,
            "round {round}: message {acknowledged} was committed and is lost"
        );
        let conn = rusqlite::Connection::open(&path).unwrap();
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
    }
}
