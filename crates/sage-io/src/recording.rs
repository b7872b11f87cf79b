//! MCAP recordings (the ROS 2 bag format since Iron): every message of a topic named in the
//! inputs file, decoded as that input, in recorded order.

use std::ops::ControlFlow;

use crate::inputs::{Decoded, Input, InputsFile, PayloadError};

/// A recording that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// Unreadable file.
    #[error("cannot read the recording {path}: {source}")]
    Read {
        /// Path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not an MCAP file.
    #[error("{path} is not an MCAP recording: {message}")]
    NotMcap {
        /// Path.
        path: String,
        /// Why.
        message: String,
    },
}

/// One recorded message of a declared input.
#[derive(Debug)]
pub struct Recorded<'a> {
    /// Log time, nanoseconds.
    pub time_ns: u64,
    /// The input it belongs to.
    pub input: &'a Input,
    /// What it decoded to.
    pub decoded: Result<Decoded, PayloadError>,
}

/// What reading a recording went through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingSummary {
    /// Messages of declared inputs.
    pub messages: u64,
    /// Messages of topics no input names.
    pub other_topics: u64,
    /// Messages that did not decode.
    pub undecodable: u64,
    /// The error that ended the reading early (a corrupt record), if any.
    pub corrupt: Option<String>,
}

/// Call `f` with every message of a declared input in `bytes` (an MCAP file named `path`),
/// until it breaks. A corrupt record ends the reading; what came before it was delivered, and
/// the summary says where it stopped.
pub fn read(
    bytes: &[u8],
    path: &str,
    inputs: &InputsFile,
    mut f: impl FnMut(Recorded<'_>) -> ControlFlow<()>,
) -> Result<RecordingSummary, RecordingError> {
    if !bytes.starts_with(mcap::MAGIC) {
        return Err(RecordingError::NotMcap {
            path: path.to_string(),
            message: "it does not start with the MCAP magic bytes".into(),
        });
    }
    let stream = mcap::MessageStream::new(bytes)
        .map_err(|e| RecordingError::NotMcap { path: path.to_string(), message: e.to_string() })?;
    let mut summary = RecordingSummary::default();
    for m in stream {
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(path, error = %e, "corrupt record: the rest of the recording is skipped");
                summary.corrupt = Some(e.to_string());
                break;
            }
        };
        let Some(input) = inputs.for_topic(&m.channel.topic) else {
            summary.other_topics += 1;
            continue;
        };
        summary.messages += 1;
        let schema = m.channel.schema.as_ref().map(|s| s.name.clone());
        let decoded = input.decode(&m.data, schema.as_deref());
        if let Err(e) = &decoded {
            summary.undecodable += 1;
            tracing::warn!(path, topic = %m.channel.topic, error = %e, "undecodable message skipped");
        }
        if f(Recorded { time_ns: m.log_time, input, decoded }).is_break() {
            break;
        }
    }
    Ok(summary)
}
