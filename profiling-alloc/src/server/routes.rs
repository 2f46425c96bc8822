//! The routing table: a request's path and method to a route, then the
//! checks every route shares (token, rate limit, query) before its handler,
//! which runs under `catch_unwind` so that a panic answers 500.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use super::http::{Request, Response};
use super::rate_limit::RouteClass;
use super::{page, profiles, sessions, snapshots, views, Shared, MAX_PROFILE_SECONDS};
use crate::FlameKind;

/// What a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    Index,
    Metrics,
    Pprof {
        allocs: bool,
    },
    /// A CPU profile of the next N seconds: pprof, or a flamegraph.
    CpuProfile {
        svg: bool,
    },
    ReportJson,
    Flamegraph(FlameKind),
    Jobs,
    Memory,
    Cpu,
    Allocations,
    Leaks,
    Bottlenecks,
    TakeSnapshot,
    GetSnapshot(String),
    /// `POST /profiles`.
    StartSession,
    /// `GET /profiles`.
    ListSessions,
    /// `GET /profiles/{id}` and `/profiles/{id}/{file}`.
    GetSession {
        id: String,
        file: Option<String>,
    },
}

/// Every path with a route (and `/snapshot/{id}` under `/snapshot/`): what
/// an axum router registers.
#[cfg(any(feature = "axum", test))]
pub(super) const PATHS: [&str; 19] = [
    "/",
    "/metrics",
    "/debug/pprof/heap",
    "/debug/pprof/allocs",
    "/debug/pprof/profile",
    "/flamegraph/cpu.svg",
    "/report.json",
    "/flamegraph/allocated.svg",
    "/flamegraph/blocks.svg",
    "/flamegraph/live.svg",
    "/flamegraph/jobs.svg",
    "/jobs",
    "/memory",
    "/cpu",
    "/allocations",
    "/leaks",
    "/bottlenecks",
    "/snapshot",
    "/profiles",
];

/// A route, or why there is none.
enum Lookup {
    Route(Route),
    /// No such path.
    Missing,
    /// The path exists with these methods.
    WrongMethod(&'static str),
}

/// Finds the route of `method` and `path`.
fn find(method: &str, path: &str) -> Lookup {
    let get = matches!(method, "GET" | "HEAD");
    let route = match path {
        "/" => Route::Index,
        "/metrics" => Route::Metrics,
        "/debug/pprof/heap" => Route::Pprof { allocs: false },
        "/debug/pprof/allocs" => Route::Pprof { allocs: true },
        "/debug/pprof/profile" => Route::CpuProfile { svg: false },
        "/flamegraph/cpu.svg" => Route::CpuProfile { svg: true },
        "/report.json" => Route::ReportJson,
        "/flamegraph/allocated.svg" => Route::Flamegraph(FlameKind::AllocatedBytes),
        "/flamegraph/blocks.svg" => Route::Flamegraph(FlameKind::AllocatedBlocks),
        "/flamegraph/live.svg" => Route::Flamegraph(FlameKind::LiveBytes),
        "/flamegraph/jobs.svg" => Route::Flamegraph(FlameKind::JobTime),
        "/jobs" => Route::Jobs,
        "/memory" => Route::Memory,
        "/cpu" => Route::Cpu,
        "/allocations" => Route::Allocations,
        "/leaks" => Route::Leaks,
        "/bottlenecks" => Route::Bottlenecks,
        "/snapshot" => {
            return if method == "POST" {
                Lookup::Route(Route::TakeSnapshot)
            } else {
                Lookup::WrongMethod("POST")
            };
        }
        "/profiles" => {
            return match method {
                "POST" => Lookup::Route(Route::StartSession),
                "GET" | "HEAD" => Lookup::Route(Route::ListSessions),
                _ => Lookup::WrongMethod("GET, HEAD, POST"),
            };
        }
        _ => {
            if let Some(id) = path.strip_prefix("/snapshot/") {
                if id.is_empty() || id.contains('/') {
                    return Lookup::Missing;
                }
                Route::GetSnapshot(id.to_string())
            } else if let Some(rest) = path.strip_prefix("/profiles/") {
                let mut parts = rest.splitn(2, '/');
                match (parts.next(), parts.next()) {
                    (Some(id), file) if !id.is_empty() && file.is_none_or(|f| !f.contains('/')) => {
                        Route::GetSession {
                            id: id.to_string(),
                            file: file.map(str::to_string),
                        }
                    }
                    _ => return Lookup::Missing,
                }
            } else {
                return Lookup::Missing;
            }
        }
    };
    if get {
        Lookup::Route(route)
    } else {
        Lookup::WrongMethod("GET, HEAD")
    }
}

/// The answer to `request`.
pub(super) fn respond(shared: &Arc<Shared>, request: &Request) -> Response {
    let route = match find(&request.method, &request.path) {
        Lookup::Route(route) => route,
        Lookup::Missing => {
            let message = format!("no route {}; GET / lists them", request.path);
            return Response::error(404, "not_found", &message);
        }
        Lookup::WrongMethod(allowed) => {
            let message = format!("{} takes {allowed}, not {}", request.path, request.method);
            return Response::error(405, "method_not_allowed", &message)
                .with_header("Allow", allowed);
        }
    };
    let authorized = shared
        .token
        .as_ref()
        .is_none_or(|token| token.admits(request));
    if !authorized && route != Route::Index {
        return Response::error(
            401,
            "unauthorized",
            "send the token as `Authorization: Bearer <token>` or `X-API-Key: <token>`",
        )
        .with_header("WWW-Authenticate", "Bearer");
    }
    let seconds = match profile_seconds(&route, request) {
        Ok(seconds) => seconds,
        Err(response) => return response,
    };
    // The index page is free for a client without the token (links only),
    // and a cheap read otherwise: its numbers cost what `/allocations` does.
    let class = match class_of(&route, seconds.is_some()) {
        RouteClass::Exclusive
            if route == Route::Bottlenecks && super::bottlenecks::fresh(shared) =>
        {
            RouteClass::Read
        }
        RouteClass::Free if authorized && shared.token.is_some() => RouteClass::Read,
        RouteClass::Free if shared.token.is_none() => RouteClass::Read,
        class => class,
    };
    let frequency = match cpu_frequency(&route, request) {
        Ok(frequency) => frequency,
        Err(response) => return response,
    };
    let _permit = match shared.limiter.admit(class, Instant::now()) {
        Ok(permit) => permit,
        Err(refusal) => {
            let message = if refusal.busy {
                "another snapshot, delta or CPU profile is running; one runs at a time".to_string()
            } else {
                format!(
                    "rate limit reached; retry in {} s",
                    refusal.retry_after_secs
                )
            };
            return Response::error(429, "rate_limited", &message)
                .with_header("Retry-After", refusal.retry_after_secs.to_string());
        }
    };
    guarded(shared, || {
        handle(shared, request, route, (seconds, frequency), authorized)
    })
}

/// Runs `route`; a panic inside it is counted and answered 500.
fn guarded(shared: &Shared, route: impl FnOnce() -> Response) -> Response {
    catch_unwind(AssertUnwindSafe(route)).unwrap_or_else(|_| {
        shared.handler_panics.fetch_add(1, Relaxed);
        Response::error(
            500,
            "internal",
            "the route panicked; the service is unaffected",
        )
    })
}

/// The rate-limit class of `route`.
fn class_of(route: &Route, delta: bool) -> RouteClass {
    match route {
        Route::Index => RouteClass::Free,
        Route::Leaks => RouteClass::Analysis,
        Route::TakeSnapshot => RouteClass::Exclusive,
        Route::Pprof { .. } if delta => RouteClass::Exclusive,
        Route::CpuProfile { .. } | Route::Bottlenecks => RouteClass::Exclusive,
        _ => RouteClass::Read,
    }
}

/// The `seconds` of a delta or CPU profile, checked: `None` when not asked
/// for (a CPU profile's default is [`CPU_DEFAULT_SECONDS`]); a 400 when not
/// a whole number in 1..=`MAX_PROFILE_SECONDS` or given to a route that
/// takes none.
fn profile_seconds(route: &Route, request: &Request) -> Result<Option<u64>, Response> {
    if *route == Route::StartSession {
        // A session checks its own (up to an hour).
        return Ok(None);
    }
    let Some(text) = request.query("seconds") else {
        return Ok(matches!(route, Route::CpuProfile { .. }).then_some(CPU_DEFAULT_SECONDS));
    };
    if !matches!(route, Route::Pprof { .. } | Route::CpuProfile { .. }) {
        let message = format!("{} takes no `seconds`", request.path);
        return Err(Response::error(400, "bad_query", &message));
    }
    whole_number("seconds", text, MAX_PROFILE_SECONDS, "seconds").map(Some)
}

/// The query parameter `name`'s `text` as a whole number from 1 to `max`,
/// or a 400 that says so (in `unit`).
fn whole_number<T>(name: &str, text: &str, max: T, unit: &str) -> Result<T, Response>
where
    T: std::str::FromStr + PartialOrd + From<u8> + std::fmt::Display + Copy,
{
    match text.parse::<T>() {
        Ok(value) if (T::from(1)..=max).contains(&value) => Ok(value),
        _ => {
            let message =
                format!("{name}={text:?} is not a whole number of {unit} from 1 to {max}");
            Err(Response::error(400, "bad_query", &message))
        }
    }
}

/// Seconds a CPU profile runs when the request does not say (as Go's
/// `/debug/pprof/profile`).
const CPU_DEFAULT_SECONDS: u64 = 30;
/// Samples per CPU-second when the request does not say.
const CPU_DEFAULT_FREQUENCY: u32 = 100;
/// Most samples per CPU-second a request may ask for.
pub(super) const CPU_MAX_FREQUENCY: u32 = 1000;

/// The `frequency` of a CPU profile, checked: the default when not given, a
/// 400 when not a whole number of hertz in 1..=[`CPU_MAX_FREQUENCY`]. Other
/// routes ignore it, as they ignore any parameter they do not take.
fn cpu_frequency(route: &Route, request: &Request) -> Result<u32, Response> {
    let (Route::CpuProfile { .. } | Route::Bottlenecks, Some(text)) =
        (route, request.query("frequency"))
    else {
        return Ok(CPU_DEFAULT_FREQUENCY);
    };
    whole_number(
        "frequency",
        text,
        CPU_MAX_FREQUENCY,
        "samples per CPU-second",
    )
}

/// Runs the route; `(seconds, frequency)` as checked.
fn handle(
    shared: &Arc<Shared>,
    request: &Request,
    route: Route,
    (seconds, frequency): (Option<u64>, u32),
    authorized: bool,
) -> Response {
    match route {
        Route::Index => page::index(shared, authorized),
        Route::Metrics => super::metrics::respond(shared),
        Route::Pprof { allocs } => profiles::pprof(shared, allocs, seconds),
        Route::CpuProfile { svg } => profiles::cpu(
            shared,
            seconds.unwrap_or(CPU_DEFAULT_SECONDS),
            frequency,
            svg,
        ),
        Route::ReportJson => profiles::report_json(shared),
        Route::Flamegraph(kind) => profiles::flamegraph(kind),
        Route::Jobs => Response::json(&crate::job_stats()),
        Route::Memory => views::memory(shared),
        Route::Cpu => views::cpu(shared),
        Route::Allocations => views::allocations(shared),
        Route::Leaks => views::leaks(shared),
        Route::Bottlenecks => super::bottlenecks::respond(shared, frequency),
        Route::TakeSnapshot => snapshots::take(shared),
        Route::GetSnapshot(id) => snapshots::get(shared, &id, request.query("format")),
        Route::StartSession => sessions::start(shared, request),
        Route::ListSessions => sessions::list(shared, request),
        Route::GetSession { id, file } => sessions::get(shared, &id, file.as_deref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_methods_find_their_route() {
        assert!(matches!(
            find("GET", "/metrics"),
            Lookup::Route(Route::Metrics)
        ));
        assert!(matches!(find("HEAD", "/"), Lookup::Route(Route::Index)));
        assert!(matches!(
            find("GET", "/snapshot/17-1"),
            Lookup::Route(Route::GetSnapshot(id)) if id == "17-1"
        ));
        assert!(matches!(
            find("POST", "/snapshot"),
            Lookup::Route(Route::TakeSnapshot)
        ));
        assert!(matches!(
            find("GET", "/snapshot"),
            Lookup::WrongMethod("POST")
        ));
        assert!(matches!(find("DELETE", "/metrics"), Lookup::WrongMethod(_)));
        assert!(matches!(find("GET", "/nope"), Lookup::Missing));
        assert!(matches!(find("GET", "/snapshot/a/b"), Lookup::Missing));
        assert!(matches!(
            find("GET", "/flamegraph/cpu.svg"),
            Lookup::Route(Route::CpuProfile { svg: true })
        ));
        assert!(matches!(
            find("GET", "/debug/pprof/profile"),
            Lookup::Route(Route::CpuProfile { svg: false })
        ));
        assert!(matches!(
            find("GET", "/flamegraph/gpu.svg"),
            Lookup::Missing
        ));
    }

    #[test]
    fn a_panicking_route_answers_500_and_is_counted() {
        let shared = Shared::new(super::super::Server::builder());
        let response = guarded(&shared, || panic!("a bug in a route"));
        assert_eq!(response.status, 500);
        assert_eq!(shared.handler_panics.load(Relaxed), 1);
        let fine = guarded(&shared, || Response::error(404, "not_found", "x"));
        assert_eq!(fine.status, 404);
    }

    #[test]
    fn every_listed_path_has_a_route() {
        for path in PATHS {
            let method = if path == "/snapshot" { "POST" } else { "GET" };
            assert!(matches!(find(method, path), Lookup::Route(_)), "{path}");
        }
    }

    #[test]
    fn only_delta_profiles_and_snapshots_are_exclusive() {
        let heap = Route::Pprof { allocs: false };
        assert_eq!(class_of(&heap, false), RouteClass::Read);
        assert_eq!(class_of(&heap, true), RouteClass::Exclusive);
        assert_eq!(class_of(&Route::TakeSnapshot, false), RouteClass::Exclusive);
        assert_eq!(class_of(&Route::Leaks, false), RouteClass::Analysis);
        assert_eq!(class_of(&Route::Index, false), RouteClass::Free);
        let cpu = Route::CpuProfile { svg: false };
        assert_eq!(class_of(&cpu, true), RouteClass::Exclusive);
    }
}
