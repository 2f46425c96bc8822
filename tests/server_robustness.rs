//! Requests no well-behaved client sends: garbage, oversized heads and
//! bodies, a client that sends a byte at a time (slowloris), more
//! connections than the endpoint takes. Each gets a clear status, and the
//! endpoint keeps serving.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::http::{get, raw, read_answer};
use profiling_alloc::server::{Server, ServerHandle};
use profiling_alloc::ProfilingAllocator;

#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system();

fn server(workers: usize, queued: usize, request_timeout: Duration) -> ServerHandle {
    Server::builder()
        .addr(([127, 0, 0, 1], 0))
        .workers(workers)
        .max_queued_connections(queued)
        .request_timeout(request_timeout)
        .start()
        .expect("starting the endpoint")
}

#[test]
fn malformed_requests_are_400_with_the_reason() {
    let endpoint = server(2, 8, Duration::from_secs(5));
    let addr = endpoint.addr();
    let (status, text) = raw(addr, b"HELLO THERE\r\n\r\n");
    assert_eq!(status, 400);
    assert!(text.contains("not an HTTP/1.x request"), "{text}");
    let (status, text) = raw(
        addr,
        b"POST /snapshot HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(status, 400);
    assert!(text.contains("Content-Length"), "{text}");
    let (status, _) = raw(addr, b"GET /%zz HTTP/1.1\r\n\r\n");
    assert_eq!(status, 400);
    // A request cut off in the middle.
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost:").unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_answer(&mut stream).0, 400);
    assert_eq!(get(addr, "/jobs").status, 200, "still serving");
}

#[test]
fn oversized_heads_and_bodies_are_refused() {
    let endpoint = server(2, 8, Duration::from_secs(5));
    let addr = endpoint.addr();
    let long = format!(
        "GET /metrics HTTP/1.1\r\nX-Long: {}\r\n\r\n",
        "a".repeat(10_000)
    );
    assert_eq!(raw(addr, long.as_bytes()).0, 431);
    let mut many = String::from("GET /metrics HTTP/1.1\r\n");
    for i in 0..40 {
        many.push_str(&format!("X-{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(raw(addr, many.as_bytes()).0, 431);
    let body = b"POST /snapshot HTTP/1.1\r\nContent-Length: 100000\r\n\r\n";
    assert_eq!(raw(addr, body).0, 413);
    assert_eq!(get(addr, "/jobs").status, 200, "still serving");
}

#[test]
fn head_answers_headers_only() {
    let endpoint = server(2, 8, Duration::from_secs(5));
    let (status, text) = raw(endpoint.addr(), b"HEAD /jobs HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 200);
    assert!(text.contains("Content-Length: "), "{text}");
    assert!(
        text.ends_with("\r\n\r\n"),
        "a body came with HEAD: {text:?}"
    );
}

#[test]
fn a_client_sending_a_byte_at_a_time_is_cut_off() {
    let endpoint = server(1, 8, Duration::from_secs(1));
    let addr = endpoint.addr();
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let request = b"GET /metrics HTTP/1.1\r\nHost: slowloris\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut answer = Vec::new();
    // One byte, then a wait for an answer, until the server answers; the
    // request never completes, so only the deadline can end it.
    for byte in request.iter().cycle().take(10_000) {
        if slow.write_all(&[*byte]).is_err() {
            break;
        }
        let mut buffer = [0u8; 512];
        match std::io::Read::read(&mut slow, &mut buffer) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
            Err(_) => {}
        }
        if answer.ends_with(b"}") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    // The only worker is free again.
    assert_eq!(get(addr, "/jobs").status, 200);
}

#[test]
fn connections_beyond_the_queue_are_turned_away_with_503() {
    let endpoint = server(1, 1, Duration::from_secs(2));
    let addr = endpoint.addr();
    // Idle connections: one held by the worker, one queued, the rest
    // answered 503 at once.
    let mut idle: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let statuses: Vec<u16> = idle.iter_mut().map(|s| read_answer(s).0).collect();
    assert!(
        statuses.iter().filter(|s| **s == 503).count() >= 3,
        "{statuses:?}"
    );
    assert!(statuses.contains(&408), "{statuses:?}");
    assert_eq!(get(addr, "/jobs").status, 200, "still serving");
}
