//! The Zenoh session: subscribers for the inputs file's key expressions, whose payloads are
//! decoded (JSON, or ROS 2 CDR as rmw_zenoh publishes it) and handed to a [`Sink`], and
//! publishers for SAGE's outputs under the configured prefix (JSON, and `std_msgs/String` in
//! rmw_zenoh's key form when a ROS domain is set).
//!
//! Subscribers run on Zenoh's threads: a payload is decoded there and offered to the sink,
//! which must not block (the real-time kernel's inbox takes a lock for microseconds).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use zenoh::Wait;

use sage_kernel::Observation;

use crate::inputs::{type_from_key, InputsFile, OutputSettings, ZenohSettings};
use crate::msgs::{RosType, StringMsg};

/// The `RIHS01` hash of `std_msgs/msg/String` (as rosbags computes it; the fixtures check it).
pub const STRING_RIHS01: &str = "RIHS01_df668c740482bbd48fb39d76a70dfd4bd59db1288021743503259e948f6b1a18";

/// Where decoded inputs go.
pub trait Sink: Send + Sync + 'static {
    /// An observation; `Err(why)` when it was refused (counted by the sink).
    fn observe(&self, observation: Observation) -> Result<(), String>;
    /// A crisis signal.
    fn crisis(&self);
    /// A payload of `source` that could not be decoded.
    fn undecodable(&self, source: &str, why: &str);
}

/// Zenoh failed.
#[derive(Debug, thiserror::Error)]
pub enum ZenohError {
    /// A setting Zenoh refused.
    #[error("zenoh setting {key}: {message}")]
    Config {
        /// Setting.
        key: String,
        /// Why.
        message: String,
    },
    /// The session did not open.
    #[error("cannot open the zenoh session: {0}")]
    Open(String),
    /// A key expression was refused.
    #[error("zenoh key expression {key:?}: {message}")]
    Key {
        /// Key.
        key: String,
        /// Why.
        message: String,
    },
}

/// Counts of the transport.
#[derive(Debug, Default)]
pub struct IoCounts {
    /// Payloads received.
    pub received: AtomicU64,
    /// Payloads that did not decode.
    pub undecodable: AtomicU64,
    /// Observations the sink refused.
    pub refused: AtomicU64,
    /// Messages published.
    pub published: AtomicU64,
    /// Publications that failed.
    pub publish_errors: AtomicU64,
}

/// A Zenoh configuration from the inputs file's settings.
pub fn config(settings: &ZenohSettings) -> Result<zenoh::Config, ZenohError> {
    let mut c = zenoh::Config::default();
    let mut set = |key: &str, value: String| {
        c.insert_json5(key, &value)
            .map_err(|e| ZenohError::Config { key: key.to_string(), message: e.to_string() })
    };
    set("mode", serde_json::to_string(&settings.mode).unwrap_or_default())?;
    set("scouting/multicast/enabled", settings.multicast.to_string())?;
    set("connect/endpoints", serde_json::to_string(&settings.connect).unwrap_or_default())?;
    set("listen/endpoints", serde_json::to_string(&settings.listen).unwrap_or_default())?;
    Ok(c)
}

/// Open a session.
pub fn open(settings: &ZenohSettings) -> Result<zenoh::Session, ZenohError> {
    zenoh::open(config(settings)?).wait().map_err(|e| ZenohError::Open(e.to_string()))
}

/// A running Zenoh transport: its subscribers and its publishing side.
pub struct ZenohIo {
    session: zenoh::Session,
    _subscribers: Vec<zenoh::pubsub::Subscriber<()>>,
    outputs: OutputSettings,
    /// Counts.
    pub counts: Arc<IoCounts>,
}

impl ZenohIo {
    /// Open a session for `file` and subscribe to every input with a key; decoded payloads
    /// go to `sink`.
    pub fn start(file: &InputsFile, sink: Arc<dyn Sink>) -> Result<Self, ZenohError> {
        let session = open(&file.zenoh)?;
        Self::with_session(session, file, sink)
    }

    /// The same on an open session.
    pub fn with_session(
        session: zenoh::Session,
        file: &InputsFile,
        sink: Arc<dyn Sink>,
    ) -> Result<Self, ZenohError> {
        let counts = Arc::new(IoCounts::default());
        let mut subscribers = vec![];
        for input in file.inputs.iter().filter(|i| i.key.is_some()) {
            let key = input.key.clone().unwrap_or_default();
            let input = input.clone();
            let sink = sink.clone();
            let counts = counts.clone();
            let sub = session
                .declare_subscriber(key.clone())
                .callback(move |sample| {
                    counts.received.fetch_add(1, Ordering::Relaxed);
                    let payload = sample.payload().to_bytes();
                    match input.decode(&payload, type_from_key(sample.key_expr().as_str())) {
                        Ok(d) => {
                            if input.signals_crisis(&d.observation) {
                                sink.crisis();
                            }
                            if sink.observe(d.observation).is_err() {
                                counts.refused.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(e) => {
                            counts.undecodable.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(key = %sample.key_expr(), error = %e, "undecodable input skipped");
                            sink.undecodable(&input.source, &e.to_string());
                        }
                    }
                })
                .wait()
                .map_err(|e| ZenohError::Key { key, message: e.to_string() })?;
            subscribers.push(sub);
        }
        Ok(Self { session, _subscribers: subscribers, outputs: file.outputs.clone(), counts })
    }

    /// The session.
    pub fn session(&self) -> &zenoh::Session {
        &self.session
    }

    /// Publish `value` as JSON on `<prefix>/<key>`, and as a ROS 2 `std_msgs/String` where a
    /// ROS domain is set and the key has a text form (answers, alerts).
    pub fn publish(&self, key: &str, value: &serde_json::Value) {
        let full = format!("{}/{key}", self.outputs.prefix);
        self.put(&full, value.to_string().into_bytes());
        if let (Some(domain), Some(text)) = (self.outputs.ros_domain, crate::outputs::as_text(key, value)) {
            if let Ok(bytes) = crate::cdr::encode(&StringMsg { data: text }, RosType::String.name()) {
                let ros_key = format!(
                    "{domain}/{}/{key}/{}/{STRING_RIHS01}",
                    self.outputs.prefix,
                    RosType::String.dds_name()
                );
                self.put(&ros_key, bytes);
            }
        }
    }

    fn put(&self, key: &str, bytes: Vec<u8>) {
        match self.session.put(key, bytes).wait() {
            Ok(()) => self.counts.published.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                tracing::warn!(key, error = %e, "publication failed");
                self.counts.publish_errors.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}
