//! The ROS 2 messages SAGE reads, as serde structs in their CDR field order, and what each
//! becomes for the kernel.
//!
//! | type | observation |
//! |---|---|
//! | `std_msgs/String` | text |
//! | `sensor_msgs/Imu` | `[ax, ay, az, wx, wy, wz]` (linear acceleration, angular velocity) |
//! | `sensor_msgs/BatteryState` | `[percentage, voltage, current, temperature]` |
//! | `sensor_msgs/LaserScan` | the nearest valid range in each of 8 equal sectors (`range_max` where none) |
//! | `sensor_msgs/Range` | `[range]` (`max_range` when out of range) |
//! | `sensor_msgs/Image` | `[mean, spread]` of the pixel bytes in `[0, 1]`; the frame itself is kept for perception |
//!
//! ROS marks unmeasured values with NaN (a battery's temperature); the kernel rejects
//! non-finite readings, so they become 0.

use serde::{Deserialize, Serialize};

use sage_kernel::Observation;

use crate::cdr::{decode, CdrError};

/// `builtin_interfaces/Time`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Time {
    /// Seconds.
    pub sec: i32,
    /// Nanoseconds.
    pub nanosec: u32,
}

/// `std_msgs/Header`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Time stamp.
    pub stamp: Time,
    /// Frame.
    pub frame_id: String,
}

/// `std_msgs/String`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StringMsg {
    /// The text.
    pub data: String,
}

/// `geometry_msgs/Quaternion`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quaternion {
    /// x.
    pub x: f64,
    /// y.
    pub y: f64,
    /// z.
    pub z: f64,
    /// w.
    pub w: f64,
}

/// `geometry_msgs/Vector3`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Vector3 {
    /// x.
    pub x: f64,
    /// y.
    pub y: f64,
    /// z.
    pub z: f64,
}

/// `sensor_msgs/Imu`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Imu {
    /// Header.
    pub header: Header,
    /// Orientation.
    pub orientation: Quaternion,
    /// Its covariance.
    pub orientation_covariance: [f64; 9],
    /// Angular velocity, rad/s.
    pub angular_velocity: Vector3,
    /// Its covariance.
    pub angular_velocity_covariance: [f64; 9],
    /// Linear acceleration, m/s².
    pub linear_acceleration: Vector3,
    /// Its covariance.
    pub linear_acceleration_covariance: [f64; 9],
}

/// `sensor_msgs/BatteryState`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatteryState {
    /// Header.
    pub header: Header,
    /// Volts.
    pub voltage: f32,
    /// °C.
    pub temperature: f32,
    /// Amperes (negative when discharging).
    pub current: f32,
    /// Ah.
    pub charge: f32,
    /// Ah.
    pub capacity: f32,
    /// Ah.
    pub design_capacity: f32,
    /// `[0, 1]`.
    pub percentage: f32,
    /// Charging status.
    pub power_supply_status: u8,
    /// Health.
    pub power_supply_health: u8,
    /// Technology.
    pub power_supply_technology: u8,
    /// Present.
    pub present: bool,
    /// Volts per cell.
    pub cell_voltage: Vec<f32>,
    /// °C per cell.
    pub cell_temperature: Vec<f32>,
    /// Where.
    pub location: String,
    /// Serial number.
    pub serial_number: String,
}

/// `sensor_msgs/LaserScan`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaserScan {
    /// Header.
    pub header: Header,
    /// rad.
    pub angle_min: f32,
    /// rad.
    pub angle_max: f32,
    /// rad.
    pub angle_increment: f32,
    /// s.
    pub time_increment: f32,
    /// s.
    pub scan_time: f32,
    /// m.
    pub range_min: f32,
    /// m.
    pub range_max: f32,
    /// m.
    pub ranges: Vec<f32>,
    /// Device-specific.
    pub intensities: Vec<f32>,
}

/// `sensor_msgs/Range`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// Header.
    pub header: Header,
    /// 0 ultrasound, 1 infrared.
    pub radiation_type: u8,
    /// rad.
    pub field_of_view: f32,
    /// m.
    pub min_range: f32,
    /// m.
    pub max_range: f32,
    /// m.
    pub range: f32,
}

/// `sensor_msgs/Image`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// Header.
    pub header: Header,
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
    /// Pixel encoding (`rgb8`, `mono8`, `bgr8`...).
    pub encoding: String,
    /// Big-endian pixels.
    pub is_bigendian: u8,
    /// Bytes per row.
    pub step: u32,
    /// Pixels.
    pub data: Vec<u8>,
}

/// The message types SAGE decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RosType {
    /// `std_msgs/msg/String`.
    String,
    /// `sensor_msgs/msg/Imu`.
    Imu,
    /// `sensor_msgs/msg/BatteryState`.
    BatteryState,
    /// `sensor_msgs/msg/LaserScan`.
    LaserScan,
    /// `sensor_msgs/msg/Range`.
    Range,
    /// `sensor_msgs/msg/Image`.
    Image,
}

impl RosType {
    /// Every supported type.
    pub const ALL: [RosType; 6] = [
        RosType::String,
        RosType::Imu,
        RosType::BatteryState,
        RosType::LaserScan,
        RosType::Range,
        RosType::Image,
    ];

    /// The canonical name, `pkg/msg/Name`.
    pub fn name(self) -> &'static str {
        match self {
            RosType::String => "std_msgs/msg/String",
            RosType::Imu => "sensor_msgs/msg/Imu",
            RosType::BatteryState => "sensor_msgs/msg/BatteryState",
            RosType::LaserScan => "sensor_msgs/msg/LaserScan",
            RosType::Range => "sensor_msgs/msg/Range",
            RosType::Image => "sensor_msgs/msg/Image",
        }
    }

    /// The type named `name` in any of the spellings ROS 2 tools use: `pkg/msg/Name`,
    /// `pkg/Name`, or rmw_zenoh's `pkg::msg::dds_::Name_`.
    pub fn parse(name: &str) -> Option<Self> {
        let n = name.trim();
        let (pkg, short) = if let Some(rest) = n.strip_suffix('_') {
            // pkg::msg::dds_::Name_
            let mut parts = rest.split("::");
            let pkg = parts.next()?;
            (pkg, parts.last()?)
        } else {
            let mut parts = n.split('/');
            let pkg = parts.next()?;
            (pkg, parts.next_back()?)
        };
        Self::ALL.into_iter().find(|t| {
            let mut parts = t.name().split('/');
            parts.next() == Some(pkg) && parts.next_back() == Some(short)
        })
    }

    /// rmw_zenoh's spelling, `pkg::msg::dds_::Name_`.
    pub fn dds_name(self) -> String {
        let full = self.name();
        let mut parts = full.split('/');
        let pkg = parts.next().unwrap_or_default();
        let short = parts.next_back().unwrap_or_default();
        format!("{pkg}::msg::dds_::{short}_")
    }
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Text.
    String(StringMsg),
    /// IMU.
    Imu(Box<Imu>),
    /// Battery.
    BatteryState(Box<BatteryState>),
    /// Lidar.
    LaserScan(Box<LaserScan>),
    /// Sonar or infrared range.
    Range(Box<Range>),
    /// Camera frame.
    Image(Box<Image>),
}

/// Sectors a laser scan is summarised into.
pub const SCAN_SECTORS: usize = 8;

/// Decode a CDR payload of type `ty`.
pub fn decode_message(ty: RosType, payload: &[u8]) -> Result<Message, CdrError> {
    let name = ty.name();
    Ok(match ty {
        RosType::String => Message::String(decode(payload, name)?),
        RosType::Imu => Message::Imu(Box::new(decode(payload, name)?)),
        RosType::BatteryState => Message::BatteryState(Box::new(decode(payload, name)?)),
        RosType::LaserScan => Message::LaserScan(Box::new(decode(payload, name)?)),
        RosType::Range => Message::Range(Box::new(decode(payload, name)?)),
        RosType::Image => Message::Image(Box::new(decode(payload, name)?)),
    })
}

fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

impl Message {
    /// What the kernel sees of it, from `source`.
    pub fn observation(&self, source: &str) -> Observation {
        match self {
            Message::String(s) => Observation::text(source, &s.data),
            Message::Imu(m) => {
                let (a, w) = (m.linear_acceleration, m.angular_velocity);
                Observation::sensor(source, [a.x, a.y, a.z, w.x, w.y, w.z].map(finite).to_vec())
            }
            Message::BatteryState(b) => Observation::sensor(
                source,
                [b.percentage, b.voltage, b.current, b.temperature].map(|x| finite(x as f64)).to_vec(),
            ),
            Message::LaserScan(s) => Observation::sensor(source, scan_sectors(s)),
            Message::Range(r) => {
                let max = finite(r.max_range as f64);
                let v = r.range as f64;
                let v =
                    if v.is_finite() && v >= r.min_range as f64 && v <= r.max_range as f64 { v } else { max };
                Observation::sensor(source, vec![v])
            }
            Message::Image(i) => Observation::sensor(source, image_summary(&i.data)),
        }
    }
}

/// The nearest valid range in each of [`SCAN_SECTORS`] equal sectors of the scan.
pub fn scan_sectors(s: &LaserScan) -> Vec<f64> {
    let max = finite(s.range_max as f64);
    let mut out = vec![max; SCAN_SECTORS];
    let n = s.ranges.len();
    if n == 0 {
        return out;
    }
    for (i, r) in s.ranges.iter().enumerate() {
        let r = *r as f64;
        if !r.is_finite() || r < s.range_min as f64 || r > s.range_max as f64 {
            continue;
        }
        let sector = i * SCAN_SECTORS / n;
        if r < out[sector] {
            out[sector] = r;
        }
    }
    out
}

/// Mean and spread (standard deviation) of the pixel bytes, in `[0, 1]`.
pub fn image_summary(data: &[u8]) -> Vec<f64> {
    if data.is_empty() {
        return vec![0.0, 0.0];
    }
    let n = data.len() as f64;
    let mean = data.iter().map(|&b| b as f64).sum::<f64>() / n;
    let var = data.iter().map(|&b| (b as f64 - mean).powi(2)).sum::<f64>() / n;
    vec![mean / 255.0, var.sqrt() / 255.0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_in_every_spelling() {
        for t in RosType::ALL {
            assert_eq!(RosType::parse(t.name()), Some(t));
            assert_eq!(RosType::parse(&t.dds_name()), Some(t), "{}", t.dds_name());
        }
        assert_eq!(RosType::parse("sensor_msgs/Imu"), Some(RosType::Imu));
        assert_eq!(RosType::dds_name(RosType::String), "std_msgs::msg::dds_::String_");
        assert_eq!(RosType::parse("geometry_msgs/msg/Twist"), None);
        assert_eq!(RosType::parse(""), None);
        assert_eq!(RosType::parse("std_msgs/msg/Imu"), None);
    }

    #[test]
    fn a_scan_is_summarised_by_its_nearest_valid_range_per_sector() {
        let s = LaserScan {
            header: Header { stamp: Time { sec: 0, nanosec: 0 }, frame_id: String::new() },
            angle_min: 0.0,
            angle_max: 1.0,
            angle_increment: 0.1,
            time_increment: 0.0,
            scan_time: 0.1,
            range_min: 0.1,
            range_max: 10.0,
            ranges: (0..16)
                .map(|i| {
                    if i == 3 {
                        f32::INFINITY
                    } else if i == 5 {
                        0.01
                    } else {
                        1.0 + i as f32
                    }
                })
                .collect(),
            intensities: vec![],
        };
        let v = scan_sectors(&s);
        assert_eq!(v.len(), SCAN_SECTORS);
        assert_eq!(v[0], 1.0);
        assert_eq!(v[1], 3.0, "the infinite range at 3 is skipped");
        assert_eq!(v[2], 5.0, "the range under range_min at 5 is skipped");
        assert_eq!(v[7], 10.0, "ranges past range_max count as range_max");
    }
}
