//! The expansion of `#[profile_job]` contains no `unsafe`: every form compiles
//! under `#![forbid(unsafe_code)]`, and the attributes it keeps still work
//! (`#![deny]` lints apply to the user's body through the expansion).
#![forbid(unsafe_code)]
#![deny(unused_must_use, clippy::redundant_closure_call)]

use std::future::Future;

use profiling_alloc::profile_job;

#[profile_job]
fn plain(x: u32) -> u32 {
    x + 1
}

#[profile_job(name = "forbid-result")]
fn fallible(x: u32) -> Result<u32, std::num::TryFromIntError> {
    let small: u8 = u8::try_from(x)?;
    Ok(u32::from(small))
}

#[profile_job(crate = ::profiling_alloc)]
async fn asynchronous(x: u32) -> Option<u32> {
    x.checked_mul(2)
}

struct Holder;

impl Holder {
    #[profile_job]
    fn method(&self) -> &'static str {
        #![allow(clippy::needless_return)]
        return "inner attributes move to the new body";
    }
}

#[test]
fn every_form_expands_without_unsafe() {
    assert_eq!(plain(1), 2);
    assert_eq!(fallible(7), Ok(7));
    assert!(fallible(700).is_err());
    assert_eq!(Holder.method(), "inner attributes move to the new body");
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut future = std::pin::pin!(asynchronous(21));
    assert_eq!(
        future.as_mut().poll(&mut cx),
        std::task::Poll::Ready(Some(42))
    );
    let names: Vec<String> = profiling_alloc::job_stats()
        .into_iter()
        .map(|j| j.name)
        .collect();
    assert!(names.contains(&"forbid-result".to_string()), "{names:?}");
    assert!(
        names.iter().any(|n| n.ends_with("::asynchronous")),
        "{names:?}"
    );
}
