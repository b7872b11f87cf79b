//! CDR payloads as ROS 2 publishes them: a 4-byte encapsulation header (`00 01 00 00` for
//! little-endian CDR, `00 00 00 00` for big-endian), then the message, aligned from the end
//! of the header.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Largest payload decoded (a 1080p RGB frame is 6.2 MB).
pub const MAX_PAYLOAD: usize = 32 << 20;

/// A payload that is not a valid CDR message of the expected type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CdrError {
    /// Shorter than the encapsulation header.
    #[error("payload of {0} bytes is shorter than the 4-byte CDR header")]
    Short(usize),
    /// Larger than [`MAX_PAYLOAD`].
    #[error("payload of {0} bytes is over the {MAX_PAYLOAD}-byte limit")]
    TooLarge(usize),
    /// An encapsulation other than plain CDR.
    #[error("unsupported CDR encapsulation {0:02x} {1:02x} (plain CDR is 00 00 or 00 01)")]
    Encapsulation(u8, u8),
    /// The bytes do not decode as the type.
    #[error("not a {ty}: {message}")]
    Decode {
        /// The ROS type expected.
        ty: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// Decode a payload as `T` (named `ty` in errors).
pub fn decode<T: DeserializeOwned>(payload: &[u8], ty: &'static str) -> Result<T, CdrError> {
    if payload.len() < 4 {
        return Err(CdrError::Short(payload.len()));
    }
    if payload.len() > MAX_PAYLOAD {
        return Err(CdrError::TooLarge(payload.len()));
    }
    let body = &payload[4..];
    let out = match (payload[0], payload[1]) {
        (0, 1) => cdr_encoding::from_bytes::<T, byteorder::LittleEndian>(body),
        (0, 0) => cdr_encoding::from_bytes::<T, byteorder::BigEndian>(body),
        (a, b) => return Err(CdrError::Encapsulation(a, b)),
    };
    out.map(|(v, _)| v).map_err(|e| CdrError::Decode { ty, message: e.to_string() })
}

/// Encode `value` as a little-endian CDR payload with its header.
pub fn encode<T: Serialize>(value: &T, ty: &'static str) -> Result<Vec<u8>, CdrError> {
    let body = cdr_encoding::to_vec::<T, byteorder::LittleEndian>(value)
        .map_err(|e| CdrError::Decode { ty, message: e.to_string() })?;
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&[0, 1, 0, 0]);
    out.extend_from_slice(&body);
    Ok(out)
}
