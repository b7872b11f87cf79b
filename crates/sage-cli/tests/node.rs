#![allow(clippy::unwrap_used)]
//! `sage node` as a process, fed over Zenoh on loopback by a peer that publishes as a robot
//! does (rmw_zenoh keys, CDR payloads written by rosbags), and heard back by it.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zenoh::Wait;

/// Samples heard: `(key, payload)`.
type Heard = Vec<(String, Vec<u8>)>;

fn wait(what: &str, secs: u64, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sage-io/tests/fixtures").join(name);
    std::fs::read(p).unwrap()
}

#[test]
fn a_node_hears_the_robot_answers_it_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = sage_io::loopback::unused_port().unwrap();
    let endpoint = format!("tcp/127.0.0.1:{port}");
    let inputs = dir.path().join("inputs.toml");
    std::fs::write(
        &inputs,
        format!(
            r#"
[zenoh]
listen = ["{endpoint}"]
[outputs]
prefix = "sage"
ros_domain = 0
[[input]]
key = "0/imu/**"
source = "imu"
[[input]]
key = "0/operator/**"
source = "operator"
"#
        ),
    )
    .unwrap();
    let record = dir.path().join("live.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sage"))
        .args(["node", "--inputs"])
        .arg(&inputs)
        .args(["--listen", "127.0.0.1:0", "--store"])
        .arg(dir.path().join("sage.db"))
        .arg("--record")
        .arg(&record)
        .env("SAGE_MODEL", common::model())
        .env_remove("SAGE_API_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("sage node ended before listening").unwrap();
        if line.starts_with("sage node:") {
            let url = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap();
            break url.trim_start_matches("http://").to_string();
        }
    };
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let l = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            l.lock().unwrap().push(line);
        }
    });

    let robot = sage_io::zenoh_io::open(&sage_io::inputs::ZenohSettings {
        connect: vec![endpoint],
        ..Default::default()
    })
    .unwrap();
    let heard: Arc<Mutex<Heard>> = Arc::default();
    let h = heard.clone();
    let _sub = robot
        .declare_subscriber("**")
        .callback(move |s| {
            let k = s.key_expr().to_string();
            if k.starts_with("sage/") || k.starts_with("0/sage/") {
                h.lock().unwrap().push((k, s.payload().to_bytes().to_vec()));
            }
        })
        .wait()
        .unwrap();
    let saw = |key: &str| heard.lock().unwrap().iter().filter(|(k, _)| k.starts_with(key)).count();
    wait("the node's state on Zenoh", 60, || saw("sage/state") > 0);

    // A burst of IMU readings (coalesced), a garbage payload (counted), a question.
    let imu = fixture("imu.cdr");
    // Zenoh's default for a put is to drop it when the link is congested (a fresh-clone run
    // received 140 of the 201); the robot here blocks instead, so the garbage is sure to arrive.
    let put = |key: &str, payload: Vec<u8>| {
        robot.put(key, payload).congestion_control(zenoh::qos::CongestionControl::Block).wait().unwrap()
    };
    for _ in 0..200 {
        put("0/imu/sensor_msgs::msg::dds_::Imu_/RIHS01_7d9a", imu.clone());
    }
    put("0/imu/sensor_msgs::msg::dds_::Imu_/RIHS01_7d9a", vec![0u8, 1, 0, 0, 9]);
    let question = sage_io::cdr::encode(
        &sage_io::msgs::StringMsg { data: "What is the battery level of the robot?".into() },
        "std_msgs/msg/String",
    )
    .unwrap();
    put("0/operator/std_msgs::msg::dds_::String_/RIHS01_df66", question.clone());
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut asked = Instant::now();
    while saw("sage/answers") == 0 {
        // Zenoh drops a put that reaches no subscriber; if the node's subscription had not
        // reached the robot's session yet, the question is asked again, as an operator would.
        if asked.elapsed() > Duration::from_secs(15) {
            put("0/operator/std_msgs::msg::dds_::String_/RIHS01_df66", question.clone());
            asked = Instant::now();
        }
        // On a timeout, say what the node said (its log) and what was heard.
        assert!(
            Instant::now() < deadline,
            "timed out waiting for an answer on sage/answers; heard keys {:?}; the node's log:\n{}",
            heard.lock().unwrap().iter().map(|(k, _)| k.clone()).collect::<std::collections::BTreeSet<_>>(),
            log.lock().unwrap().join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    wait("the answer as std_msgs/String", 10, || saw("0/sage/answers/std_msgs::msg::dds_::String_/") > 0);
    let answers = heard.lock().unwrap().clone();
    let (_, json) = answers.iter().find(|(k, _)| k == "sage/answers").unwrap();
    let v: serde_json::Value = serde_json::from_slice(json).unwrap();
    assert!(!v["answer"].as_str().unwrap().is_empty(), "{v}");
    assert!(saw("sage/tokens") > 0, "tokens are streamed as they are generated");
    let (_, ros) = answers.iter().find(|(k, _)| k.starts_with("0/sage/answers/")).unwrap();
    let msg: sage_io::msgs::StringMsg = sage_io::cdr::decode(ros, "std_msgs/msg/String").unwrap();
    assert_eq!(msg.data, v["answer"].as_str().unwrap());

    // The HTTP side shares the kernel: an observation goes to the same inbox.
    let r = common::post(&addr, "/sage/observations", r#"{"source": "tablet", "text": "Is aisle 4 clear?"}"#);
    assert!(r.starts_with("HTTP/1.1 202"), "{r}");
    let undecodable = "sage:inputs_total{source=\"imu\",outcome=\"undecodable\"} 1";
    wait("the garbage payload counted as undecodable", 10, || {
        common::get(&addr, "/metrics").contains(undecodable)
    });
    let m = common::get(&addr, "/metrics");
    assert!(m.contains(undecodable), "{m}");
    let coalesced: u64 = m
        .lines()
        .find(|l| l.starts_with("sage:inputs_total{source=\"imu\",outcome=\"coalesced\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(coalesced > 0, "a burst of 200 readings is coalesced");
    assert!(m.contains("sage:live_ticks"));
    let state = common::get(&addr, "/sage/state");
    assert!(state.contains("\"live\""), "{state}");

    // The node keeps running after bad input, and stops cleanly on SIGTERM.
    let before = saw("sage/state");
    wait("more ticks", 10, || saw("sage/state") > before + 5);
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "sage node did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}: {:?}", log.lock().unwrap());
    let replay = Command::new(env!("CARGO_BIN_EXE_sage")).arg("replay").arg(&record).output().unwrap();
    let out = String::from_utf8_lossy(&replay.stdout);
    assert!(replay.status.success(), "{out} {}", String::from_utf8_lossy(&replay.stderr));
    assert!(out.contains("identical to the recording"), "{out}");
}

#[test]
fn a_recording_plays_in_recorded_time_and_a_corrupt_one_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let examples = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/inputs.toml");
    let bag =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sage-io/tests/fixtures/robot.mcap");
    let run = |bag: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_sage"))
            .args(["run", "--fast", "--inputs"])
            .arg(&examples)
            .arg(bag)
            .arg("--store")
            .arg(dir.path().join("sage.db"))
            .env("SAGE_MODEL", common::model())
            .output()
            .unwrap()
    };
    let out = run(&bag);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text} {}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("219 messages of the declared inputs (0 undecodable, 0 of other topics)"),
        "{text}"
    );
    assert!(text.contains("job 1 dispatched to") && text.contains("job 1 answered by"), "{text}");
    // Cut in the middle: what came before is played, the rest reported.
    let bytes = std::fs::read(&bag).unwrap();
    let cut = dir.path().join("cut.mcap");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = run(&cut);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success() && stdout.contains("corrupt"), "{stdout} {stderr}");
    // Not an MCAP file at all: a clear error.
    let junk = dir.path().join("junk.mcap");
    std::fs::write(&junk, b"hello").unwrap();
    let out = run(&junk);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("junk.mcap"), "{stderr}");
}

#[test]
fn a_tick_rate_that_is_not_a_rate_is_refused_before_anything_starts() {
    for hz in ["nan", "0", "-5", "inf", "fast", "1e9"] {
        let out = Command::new(env!("CARGO_BIN_EXE_sage"))
            .args(["node", "--inputs", "missing.toml", &format!("--hz={hz}")])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains("ticks per second"), "{hz}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
