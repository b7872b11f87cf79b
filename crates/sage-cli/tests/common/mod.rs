//! Shared by the tests that run `sage serve` as a process.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A `sage serve` process, killed (and its store folder removed) when dropped.
pub struct Server {
    child: Child,
    dir: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    /// `sage serve` on a free loopback port with a store in a fresh folder named after `name`,
    /// `api_key` as `SAGE_API_KEY` (none: no key), and `extra` arguments; returns once it listens.
    pub fn start(name: &str, api_key: Option<&str>, extra: &[&str]) -> Self {
        Self::start_with_env(name, api_key, extra, &[])
    }

    /// As [`Server::start`], with more environment variables.
    pub fn start_with_env(name: &str, api_key: Option<&str>, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("sage-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sage"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--store"])
            .arg(dir.join("sage.db"))
            .args(extra)
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        cmd.env("SAGE_MODEL", model());
        cmd.envs(env.iter().copied());
        match api_key {
            Some(k) => cmd.env("SAGE_API_KEY", k),
            None => cmd.env_remove("SAGE_API_KEY"),
        };
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            let Some(line) = lines.next() else {
                let _ = child.kill();
                panic!("sage serve ended before listening");
            };
            if let Some(rest) = line.unwrap().strip_prefix("sage serve: ") {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        // Keep draining the server's log so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Self { child, dir, url }
    }

    /// The store the server keeps.
    pub fn store(&self) -> PathBuf {
        self.dir.join("sage.db")
    }

    /// Send SIGTERM (what systemd and Docker send) and wait for the process to end.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("sage serve did not stop within 10 s of SIGTERM");
    }

    /// `host:port`.
    pub fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }
}

/// A JSON POST over a fresh connection; the whole HTTP response.
pub fn post(addr: &str, path: &str, body: &str) -> String {
    let mut s = open_post(addr, path, body);
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// A GET over a fresh connection; the whole HTTP response.
pub fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Send a JSON POST and return the connection, to read the response as it comes.
pub fn open_post(addr: &str, path: &str, body: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    s
}

/// The model the tests run: `SAGE_MODEL`, else the default model in the cache. Never fetched
/// from here (that would reach the network from a test): `scripts/setup.sh` fetches it.
pub fn model() -> PathBuf {
    let p = std::env::var_os("SAGE_MODEL")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| cache().join("models/gemma-3-270m-q4_k_m.gguf"));
    assert!(p.exists(), "the test model {} is missing: run scripts/setup.sh or set SAGE_MODEL", p.display());
    p
}

/// SAGE's cache folder (`SAGE_CACHE`, else `$XDG_CACHE_HOME/sage`, else `~/.cache/sage`).
pub fn cache() -> PathBuf {
    if let Some(c) = std::env::var_os("SAGE_CACHE") {
        return c.into();
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(x).join("sage");
    }
    PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/sage")
}
