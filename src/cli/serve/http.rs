//! Just enough HTTP/1.1 for the service's API: requests with a Content-Length body (no
//! chunked bodies, no upgrades), keep-alive, and hard limits on every part a peer sends.

use std::io::{BufRead, Write};

/// The largest request or status line and header block read.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The most header lines read.
pub const MAX_HEADERS: usize = 64;

#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Lowercased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    /// Whether the peer asked to close the connection after this request.
    pub fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a message could not be read.
#[derive(Debug)]
pub enum HttpError {
    /// The peer closed the connection before a new message began (not an error).
    Closed,
    /// What the peer sent is not a message this reads; the status to answer with.
    Bad(u16, String),
    Io(std::io::Error),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Closed => f.write_str("the connection was closed"),
            HttpError::Bad(s, m) => write!(f, "{m} (HTTP {s})"),
            HttpError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Reads one line, of at most `budget` bytes (which it lowers), without its line ending.
fn read_line(r: &mut impl BufRead, budget: &mut usize) -> Result<Option<String>, HttpError> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf().map_err(HttpError::Io)?;
        if buf.is_empty() {
            return if line.is_empty() {
                Ok(None)
            } else {
                Err(HttpError::Bad(400, "the message ends inside a line".into()))
            };
        }
        let (take, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if take > *budget {
            return Err(HttpError::Bad(431, "the message head is too large".into()));
        }
        *budget -= take;
        line.extend_from_slice(&buf[..take]);
        r.consume(take);
        if done {
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            return String::from_utf8(line)
                .map(Some)
                .map_err(|_| HttpError::Bad(400, "the message head is not UTF-8".into()));
        }
    }
}

fn read_head(r: &mut impl BufRead) -> Result<(String, Vec<(String, String)>), HttpError> {
    let mut budget = MAX_HEAD_BYTES;
    let first = loop {
        match read_line(r, &mut budget)? {
            None => return Err(HttpError::Closed),
            // Blank lines before a message are ignored (RFC 9112, 2.2).
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let mut headers = Vec::new();
    loop {
        let Some(line) = read_line(r, &mut budget)? else {
            return Err(HttpError::Bad(
                400,
                "the message ends inside its head".into(),
            ));
        };
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(HttpError::Bad(431, "too many header lines".into()));
        }
        let Some((n, v)) = line.split_once(':') else {
            return Err(HttpError::Bad(400, "a header line has no ':'".into()));
        };
        if n.is_empty() || n.contains(char::is_whitespace) {
            return Err(HttpError::Bad(400, "a header name is malformed".into()));
        }
        headers.push((n.to_ascii_lowercase(), v.trim().to_string()));
    }
    Ok((first, headers))
}

fn read_body(
    r: &mut impl BufRead,
    headers: &[(String, String)],
    max: usize,
) -> Result<Vec<u8>, HttpError> {
    if headers.iter().any(|(n, _)| n == "transfer-encoding") {
        return Err(HttpError::Bad(
            411,
            "chunked bodies are not read; send Content-Length".into(),
        ));
    }
    let lens: Vec<&String> = headers
        .iter()
        .filter(|(n, _)| n == "content-length")
        .map(|(_, v)| v)
        .collect();
    let len = match lens.as_slice() {
        [] => 0,
        [one] => one
            .parse::<usize>()
            .map_err(|_| HttpError::Bad(400, "Content-Length is not a number".into()))?,
        _ => return Err(HttpError::Bad(400, "Content-Length is given twice".into())),
    };
    if len > max {
        return Err(HttpError::Bad(
            413,
            format!("the body is {len} bytes, over the limit of {max}"),
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            HttpError::Bad(400, "the body is shorter than Content-Length".into())
        } else {
            HttpError::Io(e)
        }
    })?;
    Ok(body)
}

/// Reads one request, its body at most `max_body` bytes.
pub fn read_request(r: &mut impl BufRead, max_body: usize) -> Result<Request, HttpError> {
    let (line, headers) = read_head(r)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::Bad(400, "the request line is malformed".into()));
    };
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(HttpError::Bad(505, format!("{version} is not served")));
    }
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(HttpError::Bad(400, "the method is malformed".into()));
    }
    let path = target.split('?').next().unwrap_or(target).to_string();
    let body = read_body(r, &headers, max_body)?;
    Ok(Request {
        method: method.to_string(),
        path,
        headers,
        body,
    })
}

/// Reads one response, its body at most `max_body` bytes.
pub fn read_response(r: &mut impl BufRead, max_body: usize) -> Result<Response, HttpError> {
    let (line, headers) = read_head(r)?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| HttpError::Bad(502, "the status line is malformed".into()))?;
    let body = read_body(r, &headers, max_body)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

pub fn write_response(w: &mut impl Write, resp: &Response, close: bool) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (n, v) in &resp.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n", resp.body.len()));
    if close {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    w.write_all(&resp.body)?;
    w.flush()
}

pub fn write_request(
    w: &mut impl Write,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    w.write_all(head.as_bytes())?;
    w.write_all(body)?;
    w.flush()
}

/// Standard base64 with padding (a request header carries the armored signature this way).
pub fn base64_encode(bytes: &[u8]) -> String {
    use base64ct::Encoding;
    base64ct::Base64::encode_string(bytes)
}

/// The inverse of [`base64_encode`]; `None` for anything else.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64ct::Encoding;
    base64ct::Base64::decode_vec(text.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn parse(raw: &[u8]) -> Result<Request, HttpError> {
        read_request(&mut BufReader::new(raw), 1024)
    }

    #[test]
    fn reads_a_request_with_a_body() {
        let r = parse(
            b"POST /v1/invoke?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nX-A:  b \r\n\r\n{}",
        )
        .unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/v1/invoke");
        assert_eq!(r.header("x-a"), Some("b"));
        assert_eq!(r.body, b"{}");
    }

    #[test]
    fn refuses_what_it_does_not_read() {
        let code = |raw: &[u8]| match parse(raw) {
            Err(HttpError::Bad(s, _)) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            code(b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            411
        );
        assert_eq!(
            code(b"POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n"),
            413
        );
        assert_eq!(
            code(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"),
            400
        );
        assert_eq!(code(b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nx"), 400);
        assert_eq!(code(b"GET / HTTP/2\r\n\r\n"), 505);
        assert_eq!(code(b"get / HTTP/1.1\r\n\r\n"), 400);
        let long = format!(
            "GET / HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_HEAD_BYTES)
        );
        assert_eq!(code(long.as_bytes()), 431);
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X{i}: a\r\n")).collect();
        assert_eq!(
            code(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()),
            431
        );
        assert!(matches!(parse(b""), Err(HttpError::Closed)));
    }

    #[test]
    fn base64_round_trips() {
        for n in 0..40usize {
            let v: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            let e = base64_encode(&v);
            assert_eq!(base64_decode(&e).as_deref(), Some(v.as_slice()), "{e}");
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_decode("Zm8"), None);
        assert_eq!(base64_decode("Z=8="), None);
        assert_eq!(base64_decode("Zm8*"), None);
    }

    #[test]
    fn a_response_round_trips() {
        let mut out = Vec::new();
        let resp = Response {
            status: 401,
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{}".to_vec(),
        };
        write_response(&mut out, &resp, true).unwrap();
        let back = read_response(&mut BufReader::new(out.as_slice()), 10).unwrap();
        assert_eq!(back.status, 401);
        assert_eq!(back.body, b"{}");
    }
}
