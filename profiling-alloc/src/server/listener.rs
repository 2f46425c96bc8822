//! Threads: one accepts connections into a bounded queue (answering 503
//! when it is full), a fixed number of workers each read one request,
//! answer it and close. Every thread runs with sampling suspended; what the
//! workers allocate is added up apart, for `/metrics`.
//!
//! The accept thread waits for connections with `poll` and a timeout, so it
//! sees the endpoint stop without being woken, and backs off when `accept`
//! fails (out of file descriptors) instead of spinning.

use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{sync_channel, Receiver, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::http::{close_gracefully, read_request, HttpLimits, ReadError, Response};
use super::{lock, routes, Shared};

/// How often the accept thread looks at the stop flag while idle.
const STOP_CHECK: Duration = Duration::from_millis(250);
/// How long the accept thread waits after `accept` failed.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// A connection, and when it was accepted.
type Queued = (TcpStream, Instant);

/// Starts the accept thread and the workers.
pub(super) fn spawn(
    listener: TcpListener,
    shared: Arc<Shared>,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    listener.set_nonblocking(true)?;
    let (sender, receiver) = sync_channel::<Queued>(shared.settings.max_queued_connections);
    let receiver = Arc::new(Mutex::new(receiver));
    let mut threads = Vec::with_capacity(shared.settings.workers + 1);
    for number in 0..shared.settings.workers {
        let shared = Arc::clone(&shared);
        let receiver = Arc::clone(&receiver);
        let worker = std::thread::Builder::new()
            .name(format!("profiling-alloc-http-{number}"))
            .spawn(move || work(&shared, &receiver));
        match worker {
            Ok(worker) => threads.push(worker),
            Err(error) => {
                // The workers started so far end when `sender` is dropped.
                drop(sender);
                for worker in threads {
                    let _ = worker.join();
                }
                return Err(error);
            }
        }
    }
    let accept_shared = Arc::clone(&shared);
    let accept = std::thread::Builder::new()
        .name("profiling-alloc-accept".into())
        .spawn(move || accept_loop(&listener, &accept_shared, &sender));
    match accept {
        Ok(accept) => threads.push(accept),
        Err(error) => return Err(error),
    }
    Ok(threads)
}

/// Accepts until the endpoint stops; dropping the sender then ends the
/// workers once the queue is empty.
fn accept_loop(
    listener: &TcpListener,
    shared: &Shared,
    sender: &std::sync::mpsc::SyncSender<Queued>,
) {
    crate::capture::reading(|| {
        while !shared.stopping() {
            if !wait_readable(listener, STOP_CHECK) {
                continue;
            }
            match listener.accept() {
                Ok((stream, _)) => {
                    // Accepted sockets do not inherit non-blocking mode on
                    // Linux, but do on some BSDs: make sure.
                    if stream.set_nonblocking(false).is_err() {
                        continue;
                    }
                    match sender.try_send((stream, Instant::now())) {
                        Ok(()) => {}
                        Err(TrySendError::Full((mut stream, _))) => turn_away(&mut stream),
                        Err(TrySendError::Disconnected(_)) => return,
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => std::thread::sleep(ACCEPT_BACKOFF),
            }
        }
    })
}

/// Waits up to `timeout` for a connection to accept: whether one may be
/// there (on platforms without `poll`, after a short sleep).
#[cfg(unix)]
fn wait_readable(listener: &TcpListener, timeout: Duration) -> bool {
    use std::os::fd::AsRawFd;
    let mut fd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `fd` is one valid, initialised pollfd for the listener's open
    // descriptor, and 1 is the number of entries passed.
    let ready = unsafe { libc::poll(&mut fd, 1, millis) };
    ready > 0
}

#[cfg(not(unix))]
fn wait_readable(_listener: &TcpListener, timeout: Duration) -> bool {
    std::thread::sleep(timeout.min(Duration::from_millis(10)));
    true
}

/// Answers 503 to a connection no worker can take, without waiting on it.
fn turn_away(stream: &mut TcpStream) {
    let response = Response::error(
        503,
        "overloaded",
        "every worker is busy and the queue is full; retry shortly",
    )
    .with_header("Retry-After", "1");
    let _ = response.write_to(stream, false, Duration::from_millis(100));
}

/// A worker: takes connections until the queue closes.
fn work(shared: &Arc<Shared>, receiver: &Mutex<Receiver<Queued>>) {
    crate::capture::reading(|| {
        loop {
            let next = lock(receiver).recv();
            let Ok((mut stream, accepted)) = next else {
                return;
            };
            if shared.stopping() {
                continue; // closed unanswered: the endpoint is going away
            }
            let ((), delta) = crate::measure(|| serve(shared, &mut stream, accepted));
            shared.count_own(delta.total_bytes, delta.total_blocks);
        }
    })
}

/// Reads one request from `stream` and answers it.
fn serve(shared: &Arc<Shared>, stream: &mut TcpStream, accepted: Instant) {
    let settings = &shared.settings;
    let limits = HttpLimits {
        max_head_bytes: 8 * 1024,
        max_body_bytes: 4 * 1024,
        request_timeout: settings.request_timeout,
    };
    shared.count_request();
    let (response, head_only) = match read_request(stream, accepted, &limits) {
        Ok(request) => (routes::respond(shared, &request), request.method == "HEAD"),
        Err(ReadError::Closed) => return,
        Err(error) => (refuse(error), false),
    };
    if response
        .write_to(stream, head_only, settings.write_timeout)
        .is_ok()
    {
        close_gracefully(stream);
    }
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
