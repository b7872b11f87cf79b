//! Measurements of the Zenoh transport on loopback, for `sage bench realtime`: a bare
//! subscriber's throughput (the baseline), SAGE's decoding subscriber's throughput into a sink,
//! and a robot-side asker that times a question to the first answer token.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zenoh::Wait;

use crate::inputs::{InputsFile, ZenohSettings};
use crate::msgs::{RosType, StringMsg};
use crate::zenoh_io::{open, Sink, ZenohError, ZenohIo};

/// Messages through a subscriber.
#[derive(Debug, Clone, Default)]
pub struct Throughput {
    /// Messages received while the publisher sent.
    pub received: u64,
    /// Per second.
    pub per_s: f64,
    /// Resident memory sampled every second, bytes.
    pub rss_samples: Vec<u64>,
}

/// The ports [`unused_port`] picks from: below the range where Linux (32768 and up) and macOS
/// (49152 and up) take ports for outgoing connections and for binding port 0.
const PORTS: std::ops::Range<u32> = 20_000..32_000;

/// A loopback TCP port nothing listens on, for a Zenoh endpoint that must be named before it is
/// opened (a node that others connect to). Asking the system for port 0 and releasing it races:
/// another test's outgoing connection or `bind(0)` may take the port before it is bound again.
/// These ports come from below the system's ephemeral range instead, from a start that differs
/// per process, and never twice in one process.
pub fn unused_port() -> std::io::Result<u16> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = PORTS.end - PORTS.start;
    let start = std::process::id().wrapping_mul(2_654_435_761) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (PORTS.start + (start + n) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrNotAvailable,
        format!("no unused loopback port in {}..{}", PORTS.start, PORTS.end),
    ))
}

fn listen(port: u16) -> ZenohSettings {
    ZenohSettings { listen: vec![format!("tcp/127.0.0.1:{port}")], ..ZenohSettings::default() }
}

fn connect(port: u16) -> ZenohSettings {
    ZenohSettings { connect: vec![format!("tcp/127.0.0.1:{port}")], ..ZenohSettings::default() }
}

const KEY: &str = "0/imu/sensor_msgs::msg::dds_::Imu_/RIHS01_7d9a00ff131080897a5ec7e26e315954b8eae3353c3f995c55faf71574000b5b";

/// Publish `payload` on the IMU key as fast as one thread can for `secs` once `count` moves;
/// what `count` gained meanwhile, per second.
fn blast(
    publisher: &zenoh::Session,
    payload: &[u8],
    secs: f64,
    count: &AtomicU64,
    rss: &dyn Fn() -> u64,
) -> Result<Throughput, ZenohError> {
    let p = publisher
        .declare_publisher(KEY)
        .wait()
        .map_err(|e| ZenohError::Key { key: KEY.into(), message: e.to_string() })?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while count.load(Ordering::Relaxed) == 0 {
        if Instant::now() > deadline {
            return Err(ZenohError::Open("the peers on loopback never connected".into()));
        }
        let _ = p.put(payload.to_vec()).wait();
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let before = count.load(Ordering::Relaxed);
    let start = Instant::now();
    let mut samples = vec![rss()];
    let mut next_sample = 1.0;
    while start.elapsed().as_secs_f64() < secs {
        for _ in 0..256 {
            let _ = p.put(payload.to_vec()).wait();
        }
        if start.elapsed().as_secs_f64() >= next_sample {
            samples.push(rss());
            next_sample += 1.0;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(200));
    let received = count.load(Ordering::Relaxed) - before;
    Ok(Throughput { received, per_s: received as f64 / elapsed, rss_samples: samples })
}

/// The baseline: a subscriber that only counts.
pub fn capacity_baseline(port: u16, payload: &[u8], secs: f64) -> Result<Throughput, ZenohError> {
    let sub_session = open(&listen(port))?;
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    let _sub = sub_session
        .declare_subscriber("0/imu/**")
        .callback(move |_s| {
            c.fetch_add(1, Ordering::Relaxed);
        })
        .wait()
        .map_err(|e| ZenohError::Key { key: "0/imu/**".into(), message: e.to_string() })?;
    let publisher = open(&connect(port))?;
    blast(&publisher, payload, secs, &count, &|| 0)
}

/// SAGE's transport: every message decoded as `sensor_msgs/Imu` and offered to `sink`.
pub fn capacity_through(
    port: u16,
    payload: &[u8],
    secs: f64,
    sink: Arc<dyn Sink>,
    rss: fn() -> u64,
) -> Result<Throughput, ZenohError> {
    let file = InputsFile {
        zenoh: listen(port),
        inputs: vec![crate::Input {
            key: Some("0/imu/**".into()),
            topic: None,
            source: "imu".into(),
            format: crate::Format::Ros2,
            ros_type: None,
            crisis: crate::inputs::Crisis::Never,
        }],
        ..InputsFile::default()
    };
    let io = ZenohIo::start(&file, sink)?;
    let publisher = open(&connect(port))?;
    blast(&publisher, payload, secs, &io.counts.received, &rss)
}

/// A robot-side session that asks questions and times the first answer token.
pub struct Asker {
    session: zenoh::Session,
    tokens: Arc<Mutex<Option<Instant>>>,
    answers: Arc<AtomicU64>,
    _subs: Vec<zenoh::pubsub::Subscriber<()>>,
}

impl Asker {
    /// Connect to a node listening on `endpoint`, hearing `sage/tokens` and `sage/answers`.
    pub fn connect(endpoint: &str) -> Result<Self, ZenohError> {
        let session =
            open(&ZenohSettings { connect: vec![endpoint.to_string()], ..ZenohSettings::default() })?;
        let tokens: Arc<Mutex<Option<Instant>>> = Arc::default();
        let answers = Arc::new(AtomicU64::new(0));
        let t = tokens.clone();
        let a = answers.clone();
        let key = |k: &str, e: zenoh::Error| ZenohError::Key { key: k.into(), message: e.to_string() };
        let s1 = session
            .declare_subscriber("sage/tokens")
            .callback(move |_| {
                let mut first = t.lock().unwrap_or_else(|e| e.into_inner());
                first.get_or_insert_with(Instant::now);
            })
            .wait()
            .map_err(|e| key("sage/tokens", e))?;
        let s2 = session
            .declare_subscriber("sage/answers")
            .callback(move |_| {
                a.fetch_add(1, Ordering::Relaxed);
            })
            .wait()
            .map_err(|e| key("sage/answers", e))?;
        // Until the node is heard, nothing said reaches it.
        let heard = Arc::new(AtomicU64::new(0));
        let h = heard.clone();
        let s3 = session
            .declare_subscriber("sage/state")
            .callback(move |_| {
                h.fetch_add(1, Ordering::Relaxed);
            })
            .wait()
            .map_err(|e| key("sage/state", e))?;
        let deadline = Instant::now() + Duration::from_secs(120);
        while heard.load(Ordering::Relaxed) == 0 {
            if Instant::now() > deadline {
                return Err(ZenohError::Open(format!("no node heard at {endpoint}")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self { session, tokens, answers, _subs: vec![s1, s2, s3] })
    }

    /// Publish `question` as a `std_msgs/String` on `key`; seconds to the first token, then
    /// waits for the whole answer. `None` if no token came within `timeout` seconds (the node
    /// did not attend to it).
    pub fn ask(&self, key: &str, question: &str, timeout: f64) -> Result<Option<f64>, ZenohError> {
        let payload = crate::cdr::encode(&StringMsg { data: question.into() }, RosType::String.name())
            .map_err(|e| ZenohError::Key { key: key.into(), message: e.to_string() })?;
        *self.tokens.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let answered = self.answers.load(Ordering::Relaxed);
        let start = Instant::now();
        self.session
            .put(key, payload)
            .wait()
            .map_err(|e| ZenohError::Key { key: key.into(), message: e.to_string() })?;
        let deadline = start + Duration::from_secs_f64(timeout);
        let first = loop {
            if let Some(t) = *self.tokens.lock().unwrap_or_else(|e| e.into_inner()) {
                break Some(t.duration_since(start).as_secs_f64());
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        while first.is_some() && self.answers.load(Ordering::Relaxed) == answered && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unused_ports_are_bindable_below_the_ephemeral_range_and_never_repeat() {
        let ports: Vec<u16> = (0..50).map(|_| unused_port().unwrap()).collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len(), "{ports:?}");
        for p in ports {
            assert!(PORTS.contains(&u32::from(p)), "{p}");
            std::net::TcpListener::bind(("127.0.0.1", p)).unwrap();
        }
    }
}
