//! HTTP/1.1 on a blocking socket, kept small and bounded: one request per
//! connection (`Connection: close`), a request head of bounded size read
//! against one deadline (a client that sends a byte a second is cut off when
//! the deadline passes, whatever it sends), a bounded body, and a write
//! timeout. Parsing is httparse's; this module owns the limits.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Most headers a request may carry.
const MAX_HEADERS: usize = 32;

/// The bounds on one request and its response.
#[derive(Clone, Copy, Debug)]
pub(super) struct HttpLimits {
    /// Request line and headers, in bytes.
    pub(super) max_head_bytes: usize,
    /// A request body, in bytes.
    pub(super) max_body_bytes: usize,
    /// Time from accepting a connection to having its whole request.
    pub(super) request_timeout: Duration,
}

/// One request, parsed.
#[derive(Debug)]
pub(super) struct Request {
    /// `GET`, `POST`, ... as sent.
    pub(super) method: String,
    /// The path, without the query, percent-decoded.
    pub(super) path: String,
    /// The query's pairs, percent-decoded, in order.
    pub(super) query: Vec<(String, String)>,
    /// Headers, names lower-cased.
    pub(super) headers: Vec<(String, String)>,
}

impl Request {
    /// The first header named `name` (lower case).
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first query parameter named `name`.
    pub(super) fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Why no request could be read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ReadError {
    /// The client closed the connection before sending anything, or the
    /// socket failed: there is nobody to answer.
    Closed,
    /// The request did not arrive before the deadline (408).
    Timeout,
    /// The request line or headers are too long or too many (431).
    HeadTooLarge,
    /// The body is longer than allowed (413).
    BodyTooLarge,
    /// Not HTTP/1.x as this server reads it (400), with what was wrong.
    Malformed(String),
}

/// What `parse_head` found in the bytes so far.
enum Head {
    /// The head is not complete yet.
    Partial,
    /// The request, the head's length, and the body's declared length.
    Complete(Request, usize, usize),
}

/// Reads one request from `stream`, within `limits`, counting the request
/// timeout from `accepted` (when the connection was accepted, so that time
/// spent waiting for a worker counts too).
pub(super) fn read_request(
    stream: &mut TcpStream,
    accepted: Instant,
    limits: &HttpLimits,
) -> Result<Request, ReadError> {
    let deadline = accepted
        .checked_add(limits.request_timeout)
        .unwrap_or_else(Instant::now);
    let mut buffer: Vec<u8> = Vec::with_capacity(1024);
    loop {
        if let Head::Complete(request, head_len, body_len) = parse_head(&buffer)? {
            if body_len > limits.max_body_bytes {
                return Err(ReadError::BodyTooLarge);
            }
            // The body is read and discarded: no route takes one.
            let mut have = buffer.len() - head_len;
            while have < body_len {
                match read_some(stream, &mut buffer, deadline, body_len - have)? {
                    0 => {
                        return Err(ReadError::Malformed(
                            "the connection closed before the whole body".into(),
                        ))
                    }
                    n => have += n,
                }
            }
            return Ok(request);
        }
        if buffer.len() >= limits.max_head_bytes {
            return Err(ReadError::HeadTooLarge);
        }
        let room = limits.max_head_bytes - buffer.len();
        if read_some(stream, &mut buffer, deadline, room)? == 0 {
            return Err(if buffer.is_empty() {
                ReadError::Closed
            } else {
                ReadError::Malformed("the connection closed in the middle of the request".into())
            });
        }
    }
}

/// Reads up to `max` more bytes into `buffer` before `deadline`: how many
/// (0 at end of stream).
fn read_some(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    deadline: Instant,
    max: usize,
) -> Result<usize, ReadError> {
    let mut chunk = [0u8; 1024];
    let want = max.clamp(1, chunk.len());
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(ReadError::Timeout);
        }
        stream
            .set_read_timeout(Some(remaining))
            .map_err(|_| ReadError::Closed)?;
        match stream.read(&mut chunk[..want]) {
            Ok(n) => {
                buffer.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(ReadError::Timeout)
            }
            Err(_) => return Err(ReadError::Closed),
        }
    }
}

/// Parses the request head in `bytes`, if complete.
fn parse_head(bytes: &[u8]) -> Result<Head, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_len = match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(Head::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(ReadError::HeadTooLarge),
        Err(e) => {
            return Err(ReadError::Malformed(format!(
                "not an HTTP/1.x request: {e}"
            )))
        }
    };
    let method = parsed.method.unwrap_or_default().to_string();
    let target = parsed.path.unwrap_or_default();
    let mut header_list = Vec::with_capacity(parsed.headers.len());
    for header in parsed.headers.iter() {
        let value = std::str::from_utf8(header.value)
            .map_err(|_| ReadError::Malformed(format!("header {} is not UTF-8", header.name)))?;
        header_list.push((header.name.to_ascii_lowercase(), value.trim().to_string()));
    }
    let request = Request {
        method,
        path: String::new(),
        query: Vec::new(),
        headers: header_list,
    };
    if request.header("transfer-encoding").is_some() {
        return Err(ReadError::Malformed(
            "Transfer-Encoding is not accepted: send a Content-Length".into(),
        ));
    }
    let body_len = match request.header("content-length") {
        None => 0,
        Some(value) => value.parse::<usize>().map_err(|_| {
            ReadError::Malformed(format!("Content-Length {value:?} is not a number"))
        })?,
    };
    let (path, query) = split_target(target)?;
    Ok(Head::Complete(
        Request {
            path,
            query,
            ..request
        },
        head_len,
        body_len,
    ))
}

/// Splits a request target into its decoded path and query pairs.
pub(super) fn split_target(target: &str) -> Result<(String, Vec<(String, String)>), ReadError> {
    if !target.starts_with('/') {
        return Err(ReadError::Malformed(format!(
            "the request target {target:?} is not a path"
        )));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let pairs = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(key)?, percent_decode(value)?))
        })
        .collect::<Result<_, ReadError>>()?;
    Ok((percent_decode(path)?, pairs))
}

/// Decodes `%XX` escapes and `+` (a space, in a query).
fn percent_decode(text: &str) -> Result<String, ReadError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .ok_or_else(|| ReadError::Malformed(format!("bad escape in {text:?}")))?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| ReadError::Malformed(format!("{text:?} is not UTF-8")))
}

/// One response.
#[derive(Debug)]
pub(super) struct Response {
    /// The status code.
    pub(super) status: u16,
    /// `Content-Type`.
    pub(super) content_type: &'static str,
    /// Further headers.
    pub(super) headers: Vec<(&'static str, String)>,
    /// The body.
    pub(super) body: Vec<u8>,
}

/// The content type of JSON bodies.
pub(super) const JSON: &str = "application/json";

impl Response {
    /// A response of `status` with `body`.
    pub(super) fn new(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body,
        }
    }

    /// 200 with `value` as JSON.
    pub(super) fn json(value: &impl serde::Serialize) -> Response {
        Response::json_status(200, value)
    }

    /// `status` with `value` as JSON.
    pub(super) fn json_status(status: u16, value: &impl serde::Serialize) -> Response {
        match serde_json::to_vec_pretty(value) {
            Ok(body) => Response::new(status, JSON, body),
            Err(e) => Response::error(500, "internal", &format!("serializing the answer: {e}")),
        }
    }

    /// An error answer: `{"status": .., "error": code, "message": ..}`.
    pub(super) fn error(status: u16, code: &str, message: &str) -> Response {
        let body = serde_json::json!({ "status": status, "error": code, "message": message });
        Response::new(status, JSON, body.to_string().into_bytes())
    }

    /// The response with one more header.
    pub(super) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// Writes the response (without its body for `HEAD`) and flushes, all
    /// of it within `timeout`: a client that reads a few bytes now and then
    /// cannot hold the writer longer.
    pub(super) fn write_to(
        &self,
        stream: &mut TcpStream,
        head_only: bool,
        timeout: Duration,
    ) -> std::io::Result<()> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(Instant::now);
        write_before(stream, head.as_bytes(), deadline)?;
        if !head_only {
            write_before(stream, &self.body, deadline)?;
        }
        stream.flush()
    }
}

/// Writes `bytes` in chunks, each with the time left before `deadline`.
fn write_before(stream: &mut TcpStream, bytes: &[u8], deadline: Instant) -> std::io::Result<()> {
    for chunk in bytes.chunks(64 * 1024) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            stream.set_write_timeout(Some(left))?;
            match stream.write(rest) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => rest = rest.get(n..).unwrap_or_default(),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Closes a connection after its answer without a reset: stops writing,
/// then reads (and drops) what the client still sends, briefly, so that an
/// unread request body does not make the kernel reset the connection before
/// the client has read the answer.
pub(super) fn close_gracefully(stream: &mut TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut sink = [0u8; 4096];
    let mut drained = 0usize;
    while drained < 256 * 1024 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// The reason phrase of the codes this server sends.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Head, ReadError> {
        parse_head(text.as_bytes())
    }

    #[test]
    fn a_complete_head_gives_path_query_and_headers() {
        let text =
            "GET /debug/pprof/heap?seconds=5&x=a%20b+c HTTP/1.1\r\nHost: h\r\nX-API-Key: t\r\n\r\n";
        let Ok(Head::Complete(request, len, body)) = head(&format!("{text}body")) else {
            panic!("not complete");
        };
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, "/debug/pprof/heap");
        assert_eq!(request.query("seconds"), Some("5"));
        assert_eq!(request.query("x"), Some("a b c"));
        assert_eq!(request.header("x-api-key"), Some("t"));
        assert_eq!(body, 0);
        assert_eq!(len, text.len());
    }

    #[test]
    fn a_partial_head_waits_for_more() {
        assert!(matches!(head("GET / HTTP/1.1\r\nHost:"), Ok(Head::Partial)));
    }

    #[test]
    fn malformed_heads_say_what_was_wrong() {
        let Err(ReadError::Malformed(message)) = head("GARBAGE\r\n\r\n") else {
            panic!("accepted garbage");
        };
        assert!(message.contains("not an HTTP/1.x request"), "{message}");
        assert!(matches!(
            head("GET * HTTP/1.1\r\n\r\n"),
            Err(ReadError::Malformed(_))
        ));
        assert!(matches!(
            head("GET /%zz HTTP/1.1\r\n\r\n"),
            Err(ReadError::Malformed(_))
        ));
        assert!(matches!(
            head("POST / HTTP/1.1\r\nContent-Length: lots\r\n\r\n"),
            Err(ReadError::Malformed(_))
        ));
        assert!(matches!(
            head("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(ReadError::Malformed(_))
        ));
    }

    #[test]
    fn too_many_headers_is_a_head_too_large() {
        let mut text = String::from("GET / HTTP/1.1\r\n");
        for i in 0..=MAX_HEADERS {
            text.push_str(&format!("X-{i}: v\r\n"));
        }
        text.push_str("\r\n");
        assert_eq!(head(&text).err(), Some(ReadError::HeadTooLarge));
    }

    #[test]
    fn error_bodies_are_json_with_the_message() {
        let response = Response::error(400, "bad_query", "seconds=abc is not a number");
        let value: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(value["status"], 400);
        assert_eq!(value["error"], "bad_query");
        assert_eq!(value["message"], "seconds=abc is not a number");
    }
}
