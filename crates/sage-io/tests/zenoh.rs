#![allow(clippy::unwrap_used)]
//! Two Zenoh peers on loopback: one publishes as a robot does (rmw_zenoh keys, CDR payloads,
//! JSON), the other is SAGE's transport; SAGE's outputs come back to the robot's subscriber.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sage_io::inputs::ZenohSettings;
use sage_io::msgs::StringMsg;
use sage_io::{InputsFile, Sink, ZenohIo};
use sage_kernel::{Observation, Payload};
use zenoh::Wait;

#[derive(Default)]
struct Collect {
    obs: Mutex<Vec<Observation>>,
    crises: Mutex<usize>,
    bad: Mutex<Vec<(String, String)>>,
}

impl Sink for Collect {
    fn observe(&self, o: Observation) -> Result<(), String> {
        self.obs.lock().unwrap().push(o);
        Ok(())
    }
    fn crisis(&self) {
        *self.crises.lock().unwrap() += 1;
    }
    fn undecodable(&self, source: &str, why: &str) {
        self.bad.lock().unwrap().push((source.into(), why.into()));
    }
}

/// Samples heard: `(key, payload)`.
type Heard = Vec<(String, Vec<u8>)>;

fn wait(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn port() -> u16 {
    sage_io::loopback::unused_port().unwrap()
}

#[test]
fn a_robot_peer_feeds_sage_and_hears_its_answers() {
    let endpoint = format!("tcp/127.0.0.1:{}", port());
    let file = InputsFile::parse(
        &format!(
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
key = "0/chatter/**"
source = "operator"
[[input]]
key = "robot/text"
source = "tablet"
format = "json"
[[input]]
key = "0/estop/**"
source = "estop"
crisis = true
"#
        ),
        "test",
    )
    .unwrap();
    let sink = Arc::new(Collect::default());
    let io = ZenohIo::start(&file, sink.clone()).unwrap();
    let robot =
        sage_io::zenoh_io::open(&ZenohSettings { connect: vec![endpoint], ..ZenohSettings::default() })
            .unwrap();
    let heard: Arc<Mutex<Heard>> = Arc::default();
    let h = heard.clone();
    let _sub = robot
        .declare_subscriber("**")
        .callback(move |s| {
            if s.key_expr().as_str().contains("sage/") {
                h.lock().unwrap().push((s.key_expr().to_string(), s.payload().to_bytes().to_vec()));
            }
        })
        .wait()
        .unwrap();
    let fixtures = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let imu = std::fs::read(fixtures.join("imu.cdr")).unwrap();
    let text = std::fs::read(fixtures.join("string.cdr")).unwrap();
    // Until the peers see each other, publications go nowhere: repeat the first one.
    wait("the peers to connect", || {
        robot.put("0/imu/sensor_msgs::msg::dds_::Imu_/RIHS01_7d9a", imu.clone()).wait().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        !sink.obs.lock().unwrap().is_empty()
    });
    robot.put("0/chatter/std_msgs::msg::dds_::String_/RIHS01_df66", text).wait().unwrap();
    robot.put("robot/text", r#"{"text": "Where is the dock?"}"#).wait().unwrap();
    robot
        .put(
            "0/estop/std_msgs::msg::dds_::String_/RIHS01_df66",
            sage_io::cdr::encode(&StringMsg { data: "STOP".into() }, "s").unwrap(),
        )
        .wait()
        .unwrap();
    // Bad input: garbage CDR, a wrong type in the key, garbage JSON.
    robot.put("0/imu/sensor_msgs::msg::dds_::Imu_/RIHS01_7d9a", vec![0u8, 1, 0, 0, 1]).wait().unwrap();
    robot.put("0/chatter/geometry_msgs::msg::dds_::Twist_/RIHS01_00", vec![0u8, 1, 0, 0]).wait().unwrap();
    robot.put("robot/text", "{not json").wait().unwrap();
    wait("every input", || sink.obs.lock().unwrap().len() >= 4 && sink.bad.lock().unwrap().len() >= 3);
    let obs = sink.obs.lock().unwrap().clone();
    assert!(obs
        .iter()
        .any(|o| o.source == "imu" && matches!(&o.payload, Payload::Sensor(v) if v.len() == 6)));
    assert!(obs.iter().any(|o| o.source == "operator"
        && o.payload == Payload::Text("Is the charging dock free? ünïcode ✓".into())));
    assert!(obs
        .iter()
        .any(|o| o.source == "tablet" && o.payload == Payload::Text("Where is the dock?".into())));
    assert!(*sink.crises.lock().unwrap() >= 1, "the e-stop input signals a crisis");
    let bad = sink.bad.lock().unwrap().clone();
    assert!(bad.iter().any(|(s, w)| s == "imu" && w.contains("Imu")), "{bad:?}");
    assert!(bad.iter().any(|(s, w)| s == "operator" && w.contains("unknown ROS 2 type")), "{bad:?}");
    assert!(bad.iter().any(|(s, w)| s == "tablet" && w.contains("not JSON")), "{bad:?}");
    assert!(io.counts.undecodable.load(std::sync::atomic::Ordering::Relaxed) >= 3);

    // Outputs: JSON under the prefix, and the answer as rmw_zenoh's std_msgs/String.
    io.publish("answers", &serde_json::json!({"job": 1, "answer": "The dock is free."}));
    wait("the answer", || heard.lock().unwrap().len() >= 2);
    let heard = heard.lock().unwrap().clone();
    let json = heard.iter().find(|(k, _)| k == "sage/answers").unwrap();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&json.1).unwrap()["answer"], "The dock is free.");
    let ros = heard
        .iter()
        .find(|(k, _)| k.starts_with("0/sage/answers/std_msgs::msg::dds_::String_/RIHS01_"))
        .unwrap();
    let msg: StringMsg = sage_io::cdr::decode(&ros.1, "std_msgs/msg/String").unwrap();
    assert_eq!(msg.data, "The dock is free.");
}
