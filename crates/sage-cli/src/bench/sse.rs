//! The benchmarks' HTTP client for streamed completions: one POST on a fresh connection, the
//! response read as it arrives.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// POST `body` (JSON) to `path` on `addr` and read the response until the server closes it,
/// calling `on_read(text so far, when)` after each read. Returns when the request was sent and
/// the whole response.
pub(super) fn post_streaming(
    addr: &str,
    path: &str,
    body: &str,
    mut on_read: impl FnMut(&str, Instant),
) -> std::io::Result<(Instant, String)> {
    let start = Instant::now();
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(600)))?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let (mut text, mut buf) = (String::new(), [0u8; 4096]);
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok((start, text));
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        on_read(&text, Instant::now());
    }
}
