//! A small HTTP service with the live endpoint on. An axum app, its router
//! wrapped in `profiling_alloc::tower::JobLayer` (each request a job named
//! by its route, body included) and its handlers in `tracing` spans
//! (`profiling_alloc::tracing::JobLayer` makes them jobs), calls
//! `#[profile_job]` functions; two client threads ask it over loopback. With
//! `--leak`, each new session and each page rendered is kept for ever: a
//! `Vec` and a `HashMap` that grow a few hundred KB a second, which `/leaks`
//! names.
//!
//! ```text
//! cargo run --release --features server,tower,tracing --example service -- --leak --seconds 120
//! curl -s localhost:6464/metrics | grep job_calls
//! curl -s localhost:6464/jobs
//! curl -s localhost:6464/leaks
//! go tool pprof -top http://localhost:6464/debug/pprof/heap
//! ```
//!
//! Options: `--leak` (keep 16 KiB per session and 200 bytes per page), `--seconds N` (stop after N
//! seconds; default: run until Ctrl-C), `--leak-interval S` (seconds between
//! leak observations; default 5, the library's default is 60). The
//! profiling endpoint's address is `$PROFILING_ALLOC_ADDR` (default
//! 127.0.0.1:6464), its token `$PROFILING_ALLOC_TOKEN`; the app listens on
//! `$SERVICE_ADDR` (default 127.0.0.1:6465).

use std::collections::HashMap;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::routing::{get, post};
use axum::Router;
use profiling_alloc::server::ServerBuilder;
use profiling_alloc::{profile_job, ProfilingAllocator, Sampling};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

/// Poisson sampling a little denser than the default, so that a short demo
/// has callsites to show.
#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Poisson {
    mean_bytes: 64 * 1024,
});

/// What `--leak` keeps: every session, and every page rendered (two caches
/// that grow without bound, a few hundred KB a second together).
static SESSIONS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
static PAGES: Mutex<Option<HashMap<u64, String>>> = Mutex::new(None);

/// Keeps the page rendered for `id` (with `--leak`), under a new key each
/// time: a cache that is never evicted.
#[inline(never)]
fn cache_page(page: &str) {
    let mut pages = PAGES.lock().unwrap_or_else(|e| e.into_inner());
    let pages = pages.get_or_insert_with(HashMap::new);
    let key = pages.len() as u64;
    pages.insert(key, page.chars().take(200).collect());
}

struct Options {
    leak: bool,
    seconds: Option<u64>,
    leak_interval: u64,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        leak: false,
        seconds: None,
        leak_interval: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            let value = args.next().ok_or(format!("{name} needs a number"))?;
            value
                .parse()
                .map_err(|_| format!("{name} {value:?} is not a whole number"))
        };
        match arg.as_str() {
            "--leak" => options.leak = true,
            "--seconds" => options.seconds = Some(number("--seconds")?),
            "--leak-interval" => options.leak_interval = number("--leak-interval")?.max(1),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(options)
}

/// A request: parse a form, look things up, render an answer.
#[profile_job]
fn handle_request(id: u64) -> String {
    let form: String = (0..40)
        .map(|i| format!("field{i}=value{}&", id + i))
        .collect();
    let fields: HashMap<&str, &str> = form
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .collect();
    render(&fields)
}

#[profile_job]
fn render(fields: &HashMap<&str, &str>) -> String {
    let mut keys: Vec<_> = fields.keys().collect();
    keys.sort();
    keys.iter().map(|k| format!("<li>{k}</li>")).collect()
}

/// A session that, with `--leak`, is remembered for ever.
#[profile_job]
fn open_session(leak: bool) {
    let session = vec![7u8; 16 * 1024];
    if leak {
        SESSIONS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(session);
    }
}

/// An async job: fetches (makes up) a user, yielding in between.
#[profile_job]
async fn fetch_user(id: u64) -> Vec<String> {
    let mut fields = Vec::new();
    for i in 0..8 {
        fields.push(format!("user{id}-attribute{i}"));
        tokio::task::yield_now().await;
    }
    fields
}

/// `GET /items/{id}`: a page.
#[tracing::instrument]
async fn item(Path(id): Path<u64>) -> String {
    let page = handle_request(id);
    if LEAK.load(Ordering::Relaxed) {
        cache_page(&page);
    }
    page
}

/// `GET /users/{id}`: a user, and an audit record written by a task of its
/// own (a span of its own, under this one).
#[tracing::instrument]
async fn user(Path(id): Path<u64>) -> String {
    let fields = fetch_user(id).await;
    let audit = async move { black_box(format!("audit: user {id} read")) };
    let _ = tokio::spawn(audit.instrument(tracing::info_span!("audit"))).await;
    fields.join(",")
}

/// `POST /sessions`: a session, kept for ever with `--leak`.
#[tracing::instrument]
async fn session() -> &'static str {
    open_session(LEAK.load(Ordering::Relaxed));
    "ok"
}

static LEAK: AtomicBool = AtomicBool::new(false);

fn app() -> Router {
    Router::new()
        .route("/items/{id}", get(item))
        .route("/users/{id}", get(user))
        .route("/sessions", post(session))
        // Last, so that it covers the routes and every layer above it.
        .layer(profiling_alloc::tower::JobLayer::new())
}

/// Sends `method path` on a kept-alive connection and reads the answer.
fn ask(stream: &mut BufReader<TcpStream>, method: &str, path: &str) -> std::io::Result<usize> {
    // One write: several small ones would wait on each other's ACKs.
    let request = format!("{method} {path} HTTP/1.1\r\nHost: service\r\nContent-Length: 0\r\n\r\n");
    stream.get_mut().write_all(request.as_bytes())?;
    let mut length = 0;
    let mut line = String::new();
    loop {
        line.clear();
        stream.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body)?;
    Ok(body.len())
}

/// A client: pages, users and now and then a session, until told to stop.
fn client(app: SocketAddr, first: u64, stop: &AtomicBool) -> std::io::Result<()> {
    let connection = TcpStream::connect(app)?;
    connection.set_nodelay(true)?;
    let mut stream = BufReader::new(connection);
    let mut id = first;
    while !stop.load(Ordering::Relaxed) {
        ask(&mut stream, "GET", &format!("/items/{id}"))?;
        if id.is_multiple_of(5) {
            ask(&mut stream, "GET", &format!("/users/{id}"))?;
        }
        if id.is_multiple_of(50) {
            ask(&mut stream, "POST", "/sessions")?;
        }
        id += 2;
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("service: {message}");
            std::process::exit(2);
        }
    };
    LEAK.store(options.leak, Ordering::Relaxed);
    // Spans become jobs: the layer in the process's subscriber.
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(profiling_alloc::tracing::JobLayer::new()),
    )
    .expect("no other subscriber is set");
    let endpoint = ServerBuilder::from_env()
        .and_then(|builder| {
            builder
                .leak_interval(Duration::from_secs(options.leak_interval))
                .start()
        })
        .unwrap_or_else(|error| {
            eprintln!("{error}");
            std::process::exit(1);
        });
    println!("profiling endpoint: http://{}/", endpoint.addr());
    println!("  curl -s http://{}/metrics", endpoint.addr());
    println!("  curl -s http://{}/jobs", endpoint.addr());
    println!("  curl -s http://{}/leaks", endpoint.addr());
    if options.leak {
        println!("leaking 16 KiB per session (--leak)");
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let app_addr = std::env::var("SERVICE_ADDR").unwrap_or_else(|_| "127.0.0.1:6465".to_string());
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(&app_addr))
        .unwrap_or_else(|error| {
            eprintln!("service: cannot listen on {app_addr} (SERVICE_ADDR): {error}");
            std::process::exit(1);
        });
    let app_addr = listener.local_addr().expect("a bound address");
    println!("service: http://{app_addr}/items/1");
    runtime.spawn(async move { axum::serve(listener, app()).await });

    static STOP: AtomicBool = AtomicBool::new(false);
    let clients: Vec<_> = (0..2)
        .map(|first| std::thread::spawn(move || client(app_addr, first, &STOP)))
        .collect();

    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        if options
            .seconds
            .is_some_and(|limit| started.elapsed() >= Duration::from_secs(limit))
        {
            break;
        }
    }
    STOP.store(true, Ordering::Relaxed);
    for client in clients {
        if let Err(error) = client.join().expect("a client panicked") {
            eprintln!("service: a client stopped: {error}");
        }
    }
    runtime.shutdown_background();
    endpoint.shutdown();
    println!(
        "stopped after {:.0} s; {} sessions kept",
        started.elapsed().as_secs_f64(),
        SESSIONS.lock().map_or(0, |s| s.len())
    );
}
