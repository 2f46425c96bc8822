//! Threads: one accepts connections into a bounded queue (answering 503
//! when it is full), a fixed number of workers each read one request,
//! answer it and close. Every thread runs with sampling suspended; what the
//! workers allocate is added up apart, for `/metrics`.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{sync_channel, Receiver, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::http::{read_request, HttpLimits, ReadError, Response};
use super::{lock, routes, Shared};

/// Starts the accept thread and the workers.
pub(super) fn spawn(
    listener: TcpListener,
    shared: Arc<Shared>,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    let (sender, receiver) = sync_channel::<TcpStream>(shared.settings.max_queued_connections);
    let receiver = Arc::new(Mutex::new(receiver));
    let mut threads = Vec::with_capacity(shared.settings.workers + 1);
    for number in 0..shared.settings.workers {
        let shared = Arc::clone(&shared);
        let receiver = Arc::clone(&receiver);
        threads.push(
            std::thread::Builder::new()
                .name(format!("profiling-alloc-http-{number}"))
                .spawn(move || work(&shared, &receiver))?,
        );
    }
    let accept_shared = Arc::clone(&shared);
    threads.push(
        std::thread::Builder::new()
            .name("profiling-alloc-accept".into())
            .spawn(move || {
                let _not_sampled = crate::reentrancy::SamplingSuspended::enter();
                for stream in listener.incoming() {
                    if accept_shared.stopping() {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    match sender.try_send(stream) {
                        Ok(()) => {}
                        Err(TrySendError::Full(mut stream)) => turn_away(&mut stream),
                        Err(TrySendError::Disconnected(_)) => break,
                    }
                }
                // Dropping the sender ends the workers once the queue is empty.
            })?,
    );
    Ok(threads)
}

/// Answers 503 to a connection no worker can take, without waiting on it.
fn turn_away(stream: &mut TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let response = Response::error(
        503,
        "overloaded",
        "every worker is busy and the queue is full; retry shortly",
    )
    .with_header("Retry-After", "1");
    let _ = response.write_to(stream, false);
}

/// A worker: takes connections until the queue closes.
fn work(shared: &Shared, receiver: &Mutex<Receiver<TcpStream>>) {
    let _not_sampled = crate::reentrancy::SamplingSuspended::enter();
    loop {
        let next = lock(receiver).recv();
        let Ok(mut stream) = next else { return };
        let ((), delta) = crate::measure(|| serve(shared, &mut stream));
        shared.count_own(delta.total_bytes, delta.total_blocks);
    }
}

/// Reads one request from `stream` and answers it.
fn serve(shared: &Shared, stream: &mut TcpStream) {
    let settings = &shared.settings;
    let limits = HttpLimits {
        max_head_bytes: 8 * 1024,
        max_body_bytes: 4 * 1024,
        request_timeout: settings.request_timeout,
        write_timeout: settings.write_timeout,
    };
    if stream
        .set_write_timeout(Some(limits.write_timeout))
        .is_err()
    {
        return;
    }
    shared.requests.fetch_add(1, Relaxed);
    let (response, head_only) = match read_request(stream, &limits) {
        Ok(request) => (routes::respond(shared, &request), request.method == "HEAD"),
        Err(ReadError::Closed) => return,
        Err(error) => (refuse(error), false),
    };
    let _ = response.write_to(stream, head_only);
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// The answer to a request that could not be read.
fn refuse(error: ReadError) -> Response {
    match error {
        ReadError::Timeout => {
            Response::error(408, "request_timeout", "the request did not arrive in time")
        }
        ReadError::HeadTooLarge => Response::error(
            431,
            "head_too_large",
            "the request line and headers are over 8 KiB or 32 headers",
        ),
        ReadError::BodyTooLarge => Response::error(413, "body_too_large", "the body is over 4 KiB"),
        ReadError::Malformed(message) => Response::error(400, "malformed_request", &message),
        ReadError::Closed => Response::error(400, "closed", "the connection closed"),
    }
}
