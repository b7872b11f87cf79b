//! The robot's inputs and outputs.
//!
//! - [`cdr`]: ROS 2 CDR payloads (encapsulation header, little- or big-endian);
//! - [`msgs`]: the ROS 2 messages SAGE reads (`std_msgs/String`, `sensor_msgs/Imu`,
//!   `BatteryState`, `LaserScan`, `Range`, `Image`) and what each becomes for the kernel;
//! - [`inputs`]: the inputs file (key expressions and topics mapped to observation sources,
//!   JSON or CDR, crisis inputs; the Zenoh session; the output prefix);
//! - [`recording`]: MCAP recordings read as the same inputs;
//! - [`outputs`]: what SAGE publishes after a tick, as values;
//! - [`zenoh_io`]: the Zenoh session, subscribers feeding a [`zenoh_io::Sink`] and publishers.
//!
//! The only crate that speaks Zenoh or reads MCAP.

pub mod cdr;
pub mod inputs;
pub mod loopback;
pub mod msgs;
pub mod outputs;
pub mod recording;
pub mod zenoh_io;

pub use inputs::{Crisis, Decoded, Format, Input, InputsError, InputsFile, PayloadError};
pub use msgs::{Message, RosType};
pub use zenoh_io::{Sink, ZenohError, ZenohIo};
