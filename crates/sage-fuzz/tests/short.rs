#![allow(clippy::unwrap_used)]

//! Short campaigns of every target, run by CI: no input panics, none hangs (the watchdog
//! would end the process), and memory stays bounded. The long ones are in docs/BENCHMARKS.md.

use sage_fuzz::{campaign, peak_rss, targets};

#[test]
fn every_parser_survives_a_short_campaign() {
    let work = tempfile::tempdir().unwrap();
    for name in targets::NAMES {
        let mut t = targets::target(name, &targets::workspace_root(), work.path()).unwrap();
        let execs = if *name == "hf_import" { 300 } else { 3_000 };
        let r = campaign(&mut t, execs, 7);
        assert_eq!(r.execs, execs);
        let found: Vec<(String, String)> =
            r.panicking.iter().map(|(m, p)| (m.clone(), String::from_utf8_lossy(p).into_owned())).collect();
        assert_eq!(r.panics, 0, "{name} panicked: {found:?}");
    }
    assert!(peak_rss() < 2 << 30, "peak memory {} MiB", peak_rss() >> 20);
}
