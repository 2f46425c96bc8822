// Async jobs: `async fn` (one-expression and block bodies, `Result`, `?`,
// early return, methods), and sync functions returning the future they end
// in (`-> impl Future` with a trailing `async` block, `Box::pin(async move
// ..)`), each compiled under `deny(warnings)` and run.
#![deny(warnings)]

mod common;

use std::future::Future;
use std::num::ParseIntError;
use std::pin::Pin;

use profiling_alloc::profile_job;

#[profile_job]
async fn unit() {}

#[profile_job]
async fn one_expression() -> u32 { 42 }

#[profile_job]
async fn borrowed(text: &str) -> usize { text.len() }

#[profile_job]
async fn first_word(text: &str) -> Option<&str> { text.split(' ').next() }

#[profile_job]
async fn block_body(values: Vec<u32>) -> u32 {
    let inner = one_expression().await;
    values.iter().sum::<u32>() + inner
}

#[profile_job]
async fn one_expression_result(text: &str) -> Result<u32, ParseIntError> { text.parse() }

#[profile_job]
async fn question_mark_and_early_return(text: &str) -> Result<u32, ParseIntError> {
    if text.is_empty() {
        return Ok(0);
    }
    let value: u32 = text.parse()?;
    Ok(value * 2)
}

#[profile_job]
async fn returns_only(value: u32) -> u32 {
    return value + 1;
}

#[profile_job]
async fn loop_returns_result(limit: u32) -> Result<u32, String> {
    let mut count = 0;
    loop {
        count += 1;
        if count == limit {
            return Ok(count);
        }
        if count > 100 {
            return Err("no limit".to_string());
        }
    }
}

#[profile_job]
async fn generic<T>(value: T) -> String
where
    T: std::fmt::Debug + Send,
{
    format!("{value:?}")
}

#[profile_job]
#[allow(clippy::manual_async_fn)]
fn impl_future(value: u32) -> impl Future<Output = u32> { async move { value * 3 } }

#[profile_job]
#[allow(clippy::manual_async_fn)]
fn impl_future_after_statements(text: String) -> impl Future<Output = Result<u32, ParseIntError>> {
    let trimmed = text.trim().to_string();
    async move {
        let value: u32 = trimmed.parse()?;
        Ok(value)
    }
}

#[profile_job]
fn boxed(value: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> { Box::pin(async move { value + 5 }) }

struct Store {
    values: Vec<u32>,
}

impl Store {
    #[profile_job]
    async fn len(&self) -> usize { self.values.len() }

    #[profile_job]
    async fn push(&mut self, value: u32) {
        self.values.push(value);
    }

    #[profile_job]
    async fn into_sum(self) -> u32 { self.values.iter().sum() }
}

fn main() {
    common::block_on(async {
        unit().await;
        assert_eq!(one_expression().await, 42);
        assert_eq!(borrowed("four").await, 4);
        assert_eq!(first_word("a b").await, Some("a"));
        assert_eq!(block_body(vec![1, 2]).await, 45);
        assert_eq!(one_expression_result("5").await, Ok(5));
        assert_eq!(question_mark_and_early_return("").await, Ok(0));
        assert_eq!(question_mark_and_early_return("3").await, Ok(6));
        assert!(question_mark_and_early_return("three").await.is_err());
        assert_eq!(returns_only(1).await, 2);
        assert_eq!(loop_returns_result(3).await, Ok(3));
        assert_eq!(generic(7u8).await, "7");
        assert_eq!(impl_future(2).await, 6);
        assert_eq!(impl_future_after_statements(" 8 ".to_string()).await, Ok(8));
        assert_eq!(boxed(1).await, 6);
        let mut store = Store { values: vec![1] };
        store.push(2).await;
        assert_eq!(store.len().await, 2);
        assert_eq!(store.into_sum().await, 3);
    });

    common::assert_jobs(&[
        ("unit", 1),
        ("one_expression", 2),
        ("borrowed", 1),
        ("first_word", 1),
        ("block_body", 1),
        ("one_expression_result", 1),
        ("question_mark_and_early_return", 3),
        ("returns_only", 1),
        ("loop_returns_result", 1),
        ("generic", 1),
        ("impl_future", 1),
        ("impl_future_after_statements", 1),
        ("boxed", 1),
        ("Store::push", 1),
        ("Store::len", 1),
        ("Store::into_sum", 1),
    ]);
}
