//! The inputs file: which Zenoh key expressions (or MCAP topics) SAGE listens to, what each
//! becomes, and where SAGE publishes. See `examples/inputs.toml` for a commented example.

use std::path::Path;

use serde::{Deserialize, Serialize};

use sage_kernel::Observation;

use crate::msgs::{decode_message, Message, RosType};

/// Inputs one file may declare.
pub const MAX_INPUTS: usize = 256;

/// How an input's payloads are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// ROS 2 CDR as rmw_zenoh and rosbag2 carry it.
    Ros2,
    /// JSON: `{"text": ...}`, `{"values": [...]}`, a bare string or a bare array of numbers.
    Json,
}

/// One input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Zenoh key expression to subscribe to (e.g. `0/imu/**` for rmw_zenoh's `/imu` in domain
    /// 0). Optional when only `topic` is used.
    #[serde(default)]
    pub key: Option<String>,
    /// The same input's topic in an MCAP recording (e.g. `/imu`).
    #[serde(default)]
    pub topic: Option<String>,
    /// The observation's source name.
    pub source: String,
    /// Payload format.
    #[serde(default = "ros2")]
    pub format: Format,
    /// ROS 2 type; when absent, taken from the key (rmw_zenoh puts it after the topic) or the
    /// recording's schema.
    #[serde(default, rename = "type")]
    pub ros_type: Option<String>,
    /// Whether a message of this input signals a crisis: `true` (every message: an emergency
    /// stop, a fire alarm), `"hazard"` (a text that warns of a hazard by the salience rule's
    /// hazard cue, not in a routine frame: "fire in aisle 4", not "fire drill on Friday"), or
    /// `false` (the default).
    #[serde(default)]
    pub crisis: Crisis,
}

/// When an input's messages signal a crisis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Crisis {
    /// Never.
    #[default]
    Never,
    /// Every message.
    Always,
    /// A text whose hazard cue fires (decision 0013).
    OnHazard,
}

impl Serialize for Crisis {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Crisis::Never => s.serialize_bool(false),
            Crisis::Always => s.serialize_bool(true),
            Crisis::OnHazard => s.serialize_str("hazard"),
        }
    }
}

impl<'de> Deserialize<'de> for Crisis {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Word(String),
        }
        match Raw::deserialize(d)? {
            Raw::Flag(true) => Ok(Crisis::Always),
            Raw::Flag(false) => Ok(Crisis::Never),
            Raw::Word(w) if w == "hazard" => Ok(Crisis::OnHazard),
            Raw::Word(w) => {
                Err(serde::de::Error::custom(format!("crisis is true, false or \"hazard\", not \"{w}\"")))
            }
        }
    }
}

fn ros2() -> Format {
    Format::Ros2
}

/// The Zenoh session's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZenohSettings {
    /// `peer` or `client`.
    #[serde(default = "peer")]
    pub mode: String,
    /// Endpoints to connect to (`tcp/host:port`).
    #[serde(default)]
    pub connect: Vec<String>,
    /// Endpoints to listen on.
    #[serde(default)]
    pub listen: Vec<String>,
    /// Multicast scouting (off unless asked: endpoints are explicit).
    #[serde(default)]
    pub multicast: bool,
}

impl Default for ZenohSettings {
    fn default() -> Self {
        Self { mode: peer(), connect: vec![], listen: vec![], multicast: false }
    }
}

fn peer() -> String {
    "peer".into()
}

/// Where SAGE publishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSettings {
    /// Key prefix: `<prefix>/state`, `<prefix>/decisions`, `<prefix>/answers`,
    /// `<prefix>/alerts`, `<prefix>/tokens` (JSON).
    #[serde(default = "sage")]
    pub prefix: String,
    /// Also publish answers and alerts as ROS 2 `std_msgs/String` the way rmw_zenoh does, on
    /// `<domain>/<prefix>/answers/<type>/<hash>` and `<domain>/<prefix>/alerts/...`.
    #[serde(default)]
    pub ros_domain: Option<u32>,
}

impl Default for OutputSettings {
    fn default() -> Self {
        Self { prefix: sage(), ros_domain: None }
    }
}

fn sage() -> String {
    "sage".into()
}

/// The whole inputs file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputsFile {
    /// Zenoh session.
    #[serde(default)]
    pub zenoh: ZenohSettings,
    /// Outputs.
    #[serde(default)]
    pub outputs: OutputSettings,
    /// Inputs.
    #[serde(default, rename = "input")]
    pub inputs: Vec<Input>,
}

/// An inputs file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InputsError {
    /// Unreadable.
    #[error("cannot read the inputs file {path}: {source}")]
    Read {
        /// Path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid TOML or wrong fields.
    #[error("inputs file {origin}: {message}")]
    Invalid {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

impl InputsFile {
    /// Read and check the file at `path`.
    pub fn load(path: &Path) -> Result<Self, InputsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| InputsError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parse and check `text` (named `origin` in errors).
    pub fn parse(text: &str, origin: &str) -> Result<Self, InputsError> {
        let bad = |message: String| InputsError::Invalid { origin: origin.to_string(), message };
        let f: InputsFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if f.inputs.len() > MAX_INPUTS {
            return Err(bad(format!("{} inputs; at most {MAX_INPUTS}", f.inputs.len())));
        }
        if !matches!(f.zenoh.mode.as_str(), "peer" | "client") {
            return Err(bad(format!("zenoh mode {:?}: use \"peer\" or \"client\"", f.zenoh.mode)));
        }
        if f.outputs.prefix.is_empty() || f.outputs.prefix.contains(['*', '$', '?', '#']) {
            return Err(bad(format!("output prefix {:?} must be a plain key", f.outputs.prefix)));
        }
        for (i, input) in f.inputs.iter().enumerate() {
            let at = |m: &str| bad(format!("input {} ({}): {m}", i + 1, input.source));
            if input.source.trim().is_empty() {
                return Err(at("source is empty"));
            }
            if input.key.is_none() && input.topic.is_none() {
                return Err(at("give a key (Zenoh) or a topic (recordings), or both"));
            }
            if let Some(t) = &input.ros_type {
                if input.format == Format::Json {
                    return Err(at("a type is for ros2 inputs; json inputs carry text or values"));
                }
                if RosType::parse(t).is_none() {
                    return Err(at(&format!(
                        "unsupported type {t:?}; supported: {}",
                        RosType::ALL.map(RosType::name).join(", ")
                    )));
                }
            }
        }
        Ok(f)
    }

    /// The input a recording's `topic` belongs to.
    pub fn for_topic(&self, topic: &str) -> Option<&Input> {
        self.inputs.iter().find(|i| i.topic.as_deref() == Some(topic))
    }
}

/// Why a payload did not become an observation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PayloadError {
    /// Its ROS type is not known (not declared, not in the key or schema, or unsupported).
    #[error("{input}: unknown ROS 2 type {ty:?} (supported: std_msgs/String, sensor_msgs/Imu, BatteryState, LaserScan, Range, Image)")]
    UnknownType {
        /// Input.
        input: String,
        /// The type as found, or empty.
        ty: String,
    },
    /// CDR that does not decode.
    #[error("{input}: {error}")]
    Cdr {
        /// Input.
        input: String,
        /// Why.
        error: crate::cdr::CdrError,
    },
    /// JSON that is not an observation.
    #[error("{input}: {message}")]
    Json {
        /// Input.
        input: String,
        /// Why.
        message: String,
    },
}

/// What one payload gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// For the kernel.
    pub observation: Observation,
    /// The decoded ROS message (for outputs and perception: a camera frame is kept whole).
    pub message: Option<Message>,
}

impl Input {
    /// Whether `observation`, decoded from this input, signals a crisis.
    pub fn signals_crisis(&self, observation: &Observation) -> bool {
        match (self.crisis, &observation.payload) {
            (Crisis::Always, _) => true,
            (Crisis::OnHazard, sage_kernel::Payload::Text(text)) => {
                let none = std::collections::HashSet::new();
                sage_kernel::snarc::cues::read(text, &|_| true, &none).hazard
                    >= sage_kernel::snarc::cues::HAZARD
            }
            _ => false,
        }
    }

    /// Decode one payload; `found_type` is the type a key or a recording's schema names.
    pub fn decode(&self, payload: &[u8], found_type: Option<&str>) -> Result<Decoded, PayloadError> {
        match self.format {
            Format::Json => json_observation(&self.source, payload)
                .map(|observation| Decoded { observation, message: None }),
            Format::Ros2 => {
                let named = self.ros_type.as_deref().or(found_type).unwrap_or("");
                let ty = RosType::parse(named).ok_or_else(|| PayloadError::UnknownType {
                    input: self.source.clone(),
                    ty: named.to_string(),
                })?;
                let message = decode_message(ty, payload)
                    .map_err(|error| PayloadError::Cdr { input: self.source.clone(), error })?;
                Ok(Decoded { observation: message.observation(&self.source), message: Some(message) })
            }
        }
    }
}

/// The type segment of an rmw_zenoh key `<domain>/<topic...>/<type>/<hash>`: the segment
/// before the last, when it looks like a type (`pkg::msg::dds_::Name_`).
pub fn type_from_key(key: &str) -> Option<&str> {
    let mut segs = key.rsplit('/');
    let _hash = segs.next()?;
    let ty = segs.next()?;
    ty.contains("::").then_some(ty)
}

/// Texts and readings a JSON payload may carry at most (characters, values).
pub const MAX_JSON_TEXT: usize = 64 * 1024;

fn json_observation(source: &str, payload: &[u8]) -> Result<Observation, PayloadError> {
    let bad = |message: String| PayloadError::Json { input: source.to_string(), message };
    if payload.len() > crate::cdr::MAX_PAYLOAD {
        return Err(bad(format!("{} bytes is over the limit", payload.len())));
    }
    let v: serde_json::Value = serde_json::from_slice(payload).map_err(|e| bad(format!("not JSON: {e}")))?;
    let values = |a: &Vec<serde_json::Value>| -> Result<Vec<f64>, PayloadError> {
        a.iter().map(|x| x.as_f64().ok_or_else(|| bad(format!("{x} is not a number")))).collect()
    };
    match &v {
        serde_json::Value::String(t) if t.len() <= MAX_JSON_TEXT => Ok(Observation::text(source, t)),
        serde_json::Value::Array(a) => Ok(Observation::sensor(source, values(a)?)),
        serde_json::Value::Object(o) => match (o.get("text"), o.get("values"), o.get("data")) {
            (Some(serde_json::Value::String(t)), None, _)
            | (None, None, Some(serde_json::Value::String(t)))
                if t.len() <= MAX_JSON_TEXT =>
            {
                Ok(Observation::text(source, t))
            }
            (None, Some(serde_json::Value::Array(a)), _) => Ok(Observation::sensor(source, values(a)?)),
            _ => Err(bad("expected {\"text\": ...} or {\"values\": [...]}".into())),
        },
        serde_json::Value::String(_) => Err(bad(format!("text over {MAX_JSON_TEXT} bytes"))),
        other => Err(bad(format!("expected text or numbers, got {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inputs_file_is_checked() {
        let ok = r#"
[zenoh]
connect = ["tcp/127.0.0.1:7447"]
[[input]]
key = "0/imu/**"
topic = "/imu"
source = "imu"
[[input]]
key = "robot/operator"
source = "operator"
format = "json"
"#;
        let f = InputsFile::parse(ok, "test").unwrap();
        assert_eq!(f.inputs.len(), 2);
        assert_eq!(f.outputs.prefix, "sage");
        assert_eq!(f.for_topic("/imu").unwrap().source, "imu");
        for (bad, says) in [
            ("[[input]]\nsource = \"x\"\n", "give a key"),
            (
                "[[input]]\nkey = \"a\"\nsource = \"x\"\ntype = \"geometry_msgs/msg/Twist\"\n",
                "unsupported type",
            ),
            ("[zenoh]\nmode = \"router\"\n", "zenoh mode"),
            ("[[input]]\nkey = \"a\"\nsource = \"x\"\nformat = \"xml\"\n", "unknown variant"),
            ("[[input]]\nkey = \"a\"\nsource = \"x\"\nspeed = 3\n", "unknown field"),
            ("[outputs]\nprefix = \"a/*\"\n", "plain key"),
        ] {
            let e = InputsFile::parse(bad, "test").unwrap_err().to_string();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn json_payloads_become_observations_or_clear_errors() {
        let input = Input {
            key: Some("k".into()),
            topic: None,
            source: "op".into(),
            format: Format::Json,
            ros_type: None,
            crisis: Crisis::Never,
        };
        let d = |p: &str| input.decode(p.as_bytes(), None);
        assert_eq!(d(r#"{"text": "hi?"}"#).unwrap().observation, Observation::text("op", "hi?"));
        assert_eq!(d(r#""hi""#).unwrap().observation, Observation::text("op", "hi"));
        assert_eq!(d("[1, 2.5]").unwrap().observation, Observation::sensor("op", vec![1.0, 2.5]));
        assert_eq!(d(r#"{"values": [3]}"#).unwrap().observation, Observation::sensor("op", vec![3.0]));
        for bad in ["{", "null", r#"{"values": ["a"]}"#, r#"{"other": 1}"#, "\u{0}\u{1}"] {
            assert!(matches!(d(bad), Err(PayloadError::Json { .. })), "{bad}");
        }
    }

    #[test]
    fn crisis_is_every_message_a_hazard_text_or_nothing() {
        let file = r#"
[[input]]
key = "estop"
source = "estop"
format = "json"
crisis = true
[[input]]
key = "operator"
source = "operator"
format = "json"
crisis = "hazard"
[[input]]
key = "chat"
source = "chat"
format = "json"
"#;
        let f = InputsFile::parse(file, "test").unwrap();
        let crises: Vec<Crisis> = f.inputs.iter().map(|i| i.crisis).collect();
        assert_eq!(crises, [Crisis::Always, Crisis::OnHazard, Crisis::Never]);
        let (estop, operator, chat) = (&f.inputs[0], &f.inputs[1], &f.inputs[2]);
        let fire = Observation::text("operator", "Fire in aisle 4, everyone out!");
        let drill = Observation::text("operator", "fire drill scheduled for Friday");
        let reading = Observation::sensor("estop", vec![1.0]);
        assert!(estop.signals_crisis(&reading));
        assert!(operator.signals_crisis(&fire));
        assert!(!operator.signals_crisis(&drill));
        assert!(!operator.signals_crisis(&Observation::sensor("operator", vec![9.0])));
        assert!(!chat.signals_crisis(&fire));
        // Written back as it was read.
        let back = toml::to_string(&f).unwrap();
        assert_eq!(InputsFile::parse(&back, "test").unwrap().inputs, f.inputs);
        let e = InputsFile::parse("[[input]]\nkey = \"a\"\nsource = \"x\"\ncrisis = \"sometimes\"\n", "test")
            .unwrap_err()
            .to_string();
        assert!(e.contains("true, false or \"hazard\""), "{e}");
    }

    #[test]
    fn the_type_is_read_from_an_rmw_zenoh_key() {
        assert_eq!(
            type_from_key("0/chatter/std_msgs::msg::dds_::String_/RIHS01_df66"),
            Some("std_msgs::msg::dds_::String_")
        );
        assert_eq!(type_from_key("robot/operator"), None);
        assert_eq!(type_from_key(""), None);
    }
}
