//! A minimal HTTP/1.x client for the metrics endpoint: one request per connection, the answer
//! read to the end and checked (status line, headers, Content-Length against the body).

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

use anyhow::{Context as _, ensure};

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Parses a whole response; a HEAD answer has `Content-Length` but no body.
    pub fn parse(bytes: &[u8], head_only: bool) -> anyhow::Result<Self> {
        let text = std::str::from_utf8(bytes).context("response is not UTF-8")?;
        let (head, body) = text
            .split_once("\r\n\r\n")
            .context("response without an empty line after its head")?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        ensure!(
            matches!(parts.next(), Some("HTTP/1.1" | "HTTP/1.0")),
            "bad status line {status_line:?}"
        );
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {status_line:?}"))?;
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line
                .split_once(':')
                .with_context(|| format!("bad header {line:?}"))?;
            headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
        }
        let response = Response {
            status,
            headers,
            body: body.to_string(),
        };
        let length: usize = response
            .header("content-length")
            .context("no Content-Length")?
            .parse()
            .context("bad Content-Length")?;
        let expected = if head_only { 0 } else { length };
        ensure!(
            response.body.len() == expected,
            "Content-Length {length}, body of {} bytes",
            response.body.len()
        );
        Ok(response)
    }
}

/// Sends `request` as it is, reads the whole answer, and parses it.
pub fn exchange(addr: SocketAddr, request: &[u8], head_only: bool) -> anyhow::Result<Response> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(request)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Response::parse(&answer, head_only)
        .with_context(|| format!("answer: {:?}", String::from_utf8_lossy(&answer)))
}

/// `GET path`.
pub fn get(addr: SocketAddr, path: &str) -> anyhow::Result<Response> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    exchange(addr, request.as_bytes(), false)
}

/// `GET path` with an `Accept` header.
pub fn get_accepting(addr: SocketAddr, path: &str, accept: &str) -> anyhow::Result<Response> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\n\r\n");
    exchange(addr, request.as_bytes(), false)
}

/// What Prometheus asks for.
pub const ACCEPT_OPENMETRICS: &str = "application/openmetrics-text;version=1.0.0,\
     application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/// What a client of the text format asks for.
pub const ACCEPT_TEXT: &str = "text/plain;version=0.0.4";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_responses() {
        let ok = Response::parse(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc",
            false,
        )
        .unwrap();
        assert_eq!(ok.status, 200);
        assert_eq!(ok.header("content-type"), Some("text/plain"));
        assert_eq!(ok.body, "abc");
        let head = Response::parse(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", true).unwrap();
        assert_eq!(head.body, "");
        for bad in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabc"[..],
            b"HTTP/1.1 200 OK\r\n\r\nabc",
            b"HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 OK\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n",
        ] {
            assert!(Response::parse(bad, false).is_err(), "{bad:?}");
        }
    }
}
