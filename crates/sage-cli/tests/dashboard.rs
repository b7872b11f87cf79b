#![allow(clippy::unwrap_used)]

//! The dashboard in headless Chromium (Debian's `chromium`, installed by `scripts/setup.sh`),
//! against `sage serve` with the default model: the page loads, shows the state and the plots,
//! shows what pushed observations did, and its chat box gets an answer. A screenshot is saved
//! as a test artefact (`target/test-artifacts/dashboard.png`). Ignored by a plain `cargo test`;
//! `scripts/test.sh` installs Chromium and runs it.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{post, Server};

fn browser() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
}

#[test]
#[ignore = "needs headless Chromium: scripts/setup.sh --for-tests (scripts/test.sh runs it)"]
fn the_dashboard_shows_state_plots_decisions_and_chats() {
    let chromium = browser().expect("chromium is missing; run scripts/setup.sh --for-tests");
    let server = Server::start("dashboard", None, &[]);
    let (url, addr) = (server.url.clone(), server.addr());
    let r = post(
        &addr,
        "/sage/observations",
        r#"[{"source":"operator","text":"URGENT: a person is in the corridor, stop the robot now!"},{"source":"imu","values":[0.1,9.8,0.2]}]"#,
    );
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    // events=0 and stream=0: a headless snapshot waits for pending fetches, not for open streams.
    let page = format!("{url}/?events=0&stream=0&ask=Is%20the%20dock%20free%3F");
    let headless = |extra: &[&str]| {
        let mut c = Command::new(chromium);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--window-size=1400,1000",
        ]);
        c.args(extra).arg(&page).stderr(Stdio::null());
        c.output().unwrap()
    };
    let dom = String::from_utf8(headless(&["--dump-dom"]).stdout).unwrap();
    assert!(
        dom.contains(">WAKE<") || dom.contains(">FOCUS<"),
        "the state is shown: {}",
        &dom[..dom.len().min(2000)]
    );
    assert!(dom.contains("id=\"atpline\""), "the ATP plot is drawn");
    assert!(dom.matches("class=\"salbar\"").count() >= 2, "the salience plot shows the pushed observations");
    assert!(dom.contains("class=\"decision\""), "routing decisions are listed");
    assert!(dom.contains("gemma-3-270m-q4_k_m"), "the resident model is listed");
    assert!(dom.contains("class=\"kvbar\""), "the engine's batch and KV cache are shown");
    assert!(dom.contains("class=\"reply done\""), "the chat box got an answer");
    let artefacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&artefacts).unwrap();
    let shot = artefacts.join("dashboard.png");
    let out = headless(&[&format!("--screenshot={}", shot.display())]);
    assert!(out.status.success());
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "a real screenshot");
}
