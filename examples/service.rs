//! A small service with the live endpoint on: worker threads run
//! `#[profile_job]` jobs (sync, and async on a tokio runtime), and with
//! `--leak` one of them keeps a little memory on every call, for ever.
//!
//! ```text
//! cargo run --release --features server --example service -- --leak --seconds 120
//! curl -s localhost:6464/metrics | grep job_calls
//! curl -s localhost:6464/leaks
//! go tool pprof -top http://localhost:6464/debug/pprof/heap
//! ```
//!
//! Options: `--leak` (leak 16 KiB per session), `--seconds N` (stop after N
//! seconds; default: run until Ctrl-C), `--leak-interval S` (seconds between
//! leak observations; default 5, the library's default is 60). The address is
//! `$PROFILING_ALLOC_ADDR` (default 127.0.0.1:6464), the token
//! `$PROFILING_ALLOC_TOKEN`.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use profiling_alloc::server::ServerBuilder;
use profiling_alloc::{profile_job, ProfilingAllocator, Sampling};

/// Poisson sampling a little denser than the default, so that a short demo
/// has callsites to show.
#[global_allocator]
static ALLOC: ProfilingAllocator = ProfilingAllocator::system().sampling(Sampling::Poisson {
    mean_bytes: 64 * 1024,
});

/// What `--leak` keeps.
static SESSIONS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

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

fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("service: {message}");
            std::process::exit(2);
        }
    };
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
    println!("  curl -s http://{}/leaks", endpoint.addr());
    if options.leak {
        println!("leaking 16 KiB per session (--leak)");
    }

    static STOP: AtomicBool = AtomicBool::new(false);
    let leak = options.leak;
    let workers: Vec<_> = (0..2)
        .map(|worker| {
            std::thread::spawn(move || {
                let mut id = worker;
                while !STOP.load(Ordering::Relaxed) {
                    black_box(handle_request(id));
                    if id % 50 == 0 {
                        open_session(leak);
                    }
                    id += 2;
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("a tokio runtime");
    let async_jobs = runtime.spawn(async {
        let mut id = 0;
        while !STOP.load(Ordering::Relaxed) {
            black_box(fetch_user(id).await);
            id += 1;
            tokio::task::yield_now().await;
            std::thread::sleep(Duration::from_millis(5));
        }
    });

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
    for worker in workers {
        worker.join().expect("a worker panicked");
    }
    runtime
        .block_on(async_jobs)
        .expect("the async jobs panicked");
    endpoint.shutdown();
    println!(
        "stopped after {:.0} s; {} sessions kept",
        started.elapsed().as_secs_f64(),
        SESSIONS.lock().map_or(0, |s| s.len())
    );
}
