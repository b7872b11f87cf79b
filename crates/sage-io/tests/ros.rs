#![allow(clippy::unwrap_used)]
//! ROS 2 payloads written by a tool nobody here wrote (the `rosbags` package; see
//! `tools/ros/make_fixtures.py`) decode field by field to what that tool reads back; bad
//! payloads and recordings are errors, never panics.

use std::ops::ControlFlow;
use std::path::PathBuf;

use proptest::prelude::*;
use sage_io::msgs::{decode_message, BatteryState, Image, Imu, LaserScan, Range, StringMsg};
use sage_io::{recording, InputsFile, RosType};
use sage_kernel::Payload;
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap()).unwrap()
}

/// Equal as JSON, numbers exactly (an `f32` field is compared in `f32`, the precision both
/// tools hold it in).
fn same(ours: &Value, theirs: &Value, path: &str) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: fields {:?} vs {:?}", a.keys(), b.keys());
            for (k, v) in b {
                same(a.get(k).unwrap_or_else(|| panic!("{path}.{k} missing")), v, &format!("{path}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: lengths");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                same(x, y, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            let as_f32 = (b as f32) as f64 == b && a as f32 == b as f32;
            assert!(a == b || as_f32, "{path}: {a} vs {b}");
        }
        (Value::Bool(a), Value::Number(b)) => assert_eq!(*a as u64, b.as_u64().unwrap(), "{path}"),
        (a, b) => assert_eq!(a, b, "{path}"),
    }
}

fn payload(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(format!("{name}.cdr"))).unwrap()
}

#[test]
fn every_fixture_decodes_to_what_rosbags_reads() {
    let exp = expected();
    let check = |name: &str, ours: Value| same(&ours, &exp[name]["fields"], name);
    check(
        "string",
        serde_json::to_value(sage_io::cdr::decode::<StringMsg>(&payload("string"), "s").unwrap()).unwrap(),
    );
    check("imu", serde_json::to_value(sage_io::cdr::decode::<Imu>(&payload("imu"), "i").unwrap()).unwrap());
    check(
        "battery",
        serde_json::to_value(sage_io::cdr::decode::<BatteryState>(&payload("battery"), "b").unwrap())
            .unwrap(),
    );
    check(
        "laserscan",
        serde_json::to_value(sage_io::cdr::decode::<LaserScan>(&payload("laserscan"), "l").unwrap()).unwrap(),
    );
    check(
        "range",
        serde_json::to_value(sage_io::cdr::decode::<Range>(&payload("range"), "r").unwrap()).unwrap(),
    );
    check(
        "image",
        serde_json::to_value(sage_io::cdr::decode::<Image>(&payload("image"), "im").unwrap()).unwrap(),
    );
    // Every type by the name the fixtures were written under, and the std_msgs/String hash the
    // outputs use.
    for (name, v) in exp.as_object().unwrap() {
        let ty = RosType::parse(v["type"].as_str().unwrap()).unwrap();
        decode_message(ty, &payload(name)).unwrap();
    }
    assert_eq!(exp["string"]["rihs01"], sage_io::zenoh_io::STRING_RIHS01);
}

#[test]
fn observations_say_what_the_robot_sensed() {
    let obs = |name: &str, ty: RosType| decode_message(ty, &payload(name)).unwrap().observation(name);
    assert_eq!(
        obs("string", RosType::String).payload,
        Payload::Text("Is the charging dock free? ünïcode ✓".into())
    );
    let Payload::Sensor(imu) = obs("imu", RosType::Imu).payload else { panic!() };
    assert_eq!(imu, vec![0.1, -0.2, 9.81 + 0.01 * 3.0, 0.003, 0.5, -0.25]);
    let Payload::Sensor(b) = obs("battery", RosType::BatteryState).payload else { panic!() };
    assert_eq!(b, vec![0.9f32 as f64, 24.6f32 as f64, -2.25, 31.5]);
    let Payload::Sensor(r) = obs("range", RosType::Range).payload else { panic!() };
    assert_eq!(r, vec![1.25]);
    let Payload::Sensor(s) = obs("laserscan", RosType::LaserScan).payload else { panic!() };
    assert_eq!(s.len(), sage_io::msgs::SCAN_SECTORS);
    assert!((s[0] - 1.01).abs() < 1e-6, "{s:?}");
    let Payload::Sensor(im) = obs("image", RosType::Image).payload else { panic!() };
    assert_eq!(im.len(), 2);
}

#[test]
fn truncated_and_garbage_payloads_are_errors_not_panics() {
    for ty in RosType::ALL {
        let name = match ty {
            RosType::String => "string",
            RosType::Imu => "imu",
            RosType::BatteryState => "battery",
            RosType::LaserScan => "laserscan",
            RosType::Range => "range",
            RosType::Image => "image",
        };
        let p = payload(name);
        for cut in 0..p.len() {
            // Trailing padding may be cut without loss; anything shorter than the fields is
            // an error.
            let r = decode_message(ty, &p[..cut]);
            if cut < p.len() - 3 {
                assert!(r.is_err(), "{name} cut at {cut} decoded");
            }
        }
        // A sequence or string claiming four billion elements.
        let mut huge = p.clone();
        for b in huge.iter_mut().skip(4).take(64) {
            *b = 0xff;
        }
        let _ = decode_message(ty, &huge);
        // Another encapsulation.
        let mut other = p.clone();
        other[1] = 7;
        assert!(decode_message(ty, &other).is_err());
    }
    // A payload too large is refused before it is read.
    let big = vec![0u8; sage_io::cdr::MAX_PAYLOAD + 1];
    assert!(matches!(decode_message(RosType::Image, &big), Err(sage_io::cdr::CdrError::TooLarge(_))));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, rng_seed: proptest::test_runner::RngSeed::Fixed(7), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), t in 0usize..6) {
        let mut b = bytes;
        if b.len() >= 2 { b[0] = 0; b[1] = 1; }
        let _ = decode_message(RosType::ALL[t], &b);
    }
}

const INPUTS: &str = r#"
[[input]]
topic = "/imu"
source = "imu"
[[input]]
topic = "/scan"
source = "lidar"
[[input]]
topic = "/camera/image_raw"
source = "camera"
[[input]]
topic = "/battery"
source = "battery"
[[input]]
topic = "/sonar"
source = "sonar"
[[input]]
topic = "/operator"
source = "operator"
"#;

#[test]
fn a_rosbag2_mcap_recording_is_read_as_the_inputs() {
    let bytes = std::fs::read(fixtures().join("robot.mcap")).unwrap();
    let inputs = InputsFile::parse(INPUTS, "test").unwrap();
    let mut per: std::collections::BTreeMap<String, usize> = Default::default();
    let mut last = 0;
    let mut texts = vec![];
    let summary = recording::read(&bytes, "robot.mcap", &inputs, |m| {
        assert!(m.time_ns >= last, "in recorded order");
        last = m.time_ns;
        let d = m.decoded.unwrap();
        if let Payload::Text(t) = &d.observation.payload {
            texts.push(t.clone());
        }
        *per.entry(d.observation.source).or_default() += 1;
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(summary.messages, 219);
    assert_eq!(summary.undecodable, 0);
    assert_eq!(summary.corrupt, None);
    let expect: Vec<(&str, usize)> =
        vec![("battery", 1), ("camera", 5), ("imu", 200), ("lidar", 10), ("operator", 2), ("sonar", 1)];
    assert_eq!(per.iter().map(|(k, v)| (k.as_str(), *v)).collect::<Vec<_>>(), expect);
    assert_eq!(texts, ["What is the battery level?", "URGENT: smoke near the dock, stop now!"]);
    // Only some topics declared: the rest are counted, not decoded.
    let only_imu = InputsFile::parse("[[input]]\ntopic = \"/imu\"\nsource = \"imu\"\n", "t").unwrap();
    let s = recording::read(&bytes, "robot.mcap", &only_imu, |_| ControlFlow::Continue(())).unwrap();
    assert_eq!((s.messages, s.other_topics), (200, 19));
    // A wrong type for a topic: every message is an error, counted, and reading goes on.
    let wrong = InputsFile::parse(
        "[[input]]\ntopic = \"/imu\"\nsource = \"imu\"\ntype = \"sensor_msgs/msg/Image\"\n",
        "t",
    )
    .unwrap();
    let s = recording::read(&bytes, "robot.mcap", &wrong, |_| ControlFlow::Continue(())).unwrap();
    assert_eq!(s.messages, 200);
    assert_eq!(s.undecodable, 200);
}

#[test]
fn a_corrupt_recording_is_an_error_or_stops_early_never_a_panic() {
    let bytes = std::fs::read(fixtures().join("robot.mcap")).unwrap();
    let inputs = InputsFile::parse(INPUTS, "test").unwrap();
    assert!(
        recording::read(b"not an mcap file at all", "x.mcap", &inputs, |_| ControlFlow::Continue(()))
            .is_err()
            || recording::read(b"not an mcap file at all", "x.mcap", &inputs, |_| ControlFlow::Continue(()))
                .unwrap()
                .corrupt
                .is_some()
    );
    let mut rng = 0x5A6Eu64;
    for round in 0..200 {
        let mut b = bytes.clone();
        if round % 2 == 0 {
            b.truncate((round * 997) % bytes.len());
        } else {
            for _ in 0..8 {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let i = (rng >> 33) as usize % b.len();
                b[i] ^= (rng >> 13) as u8 | 1;
            }
        }
        let mut n = 0;
        let _ = recording::read(&b, "x.mcap", &inputs, |_| {
            n += 1;
            ControlFlow::Continue(())
        });
        assert!(n <= 219);
    }
}
