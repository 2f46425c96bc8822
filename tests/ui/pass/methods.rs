// Methods and associated functions, in inherent impls, trait impls and trait
// default bodies, each compiled under `deny(warnings)` and called.
#![deny(warnings)]

mod common;

use profiling_alloc::profile_job;

struct Counter {
    count: u32,
}

impl Counter {
    #[profile_job]
    fn new() -> Self { Counter { count: 0 } }

    #[profile_job]
    fn get(&self) -> u32 { self.count }

    #[profile_job]
    fn bump(&mut self) { self.count += 1; }

    #[profile_job]
    fn try_add(&mut self, amount: u32) -> Result<u32, String> {
        self.count = self.count.checked_add(amount).ok_or("overflow")?;
        Ok(self.count)
    }

    #[profile_job]
    fn into_count(self) -> u32 { self.count }

    #[profile_job]
    fn boxed(mut self: Box<Self>) -> Box<Self> {
        self.count *= 2;
        self
    }

    #[profile_job]
    fn generic_method<T>(&self, extra: T) -> u32
    where
        T: Into<u32> + Copy,
    {
        self.count + extra.into()
    }
}

trait Describe {
    fn name(&self) -> String;

    #[profile_job]
    fn describe(&self) -> String { format!("<{}>", self.name()) }

    #[profile_job]
    fn default_with_block(&self) -> usize {
        let name = self.name();
        name.len()
    }
}

impl Describe for Counter {
    #[profile_job]
    fn name(&self) -> String { format!("counter {}", self.count) }
}

fn main() {
    let mut counter = Counter::new();
    counter.bump();
    assert_eq!(counter.get(), 1);
    assert_eq!(counter.try_add(2), Ok(3));
    assert_eq!(counter.try_add(u32::MAX), Err("overflow".to_string()));
    assert_eq!(counter.generic_method(4u8), 7);
    assert_eq!(counter.describe(), "<counter 3>");
    assert_eq!(counter.default_with_block(), 9);
    assert_eq!(Box::new(Counter { count: 5 }).boxed().count, 10);
    assert_eq!(counter.into_count(), 3);

    common::assert_jobs(&[
        ("Counter::new", 1),
        ("Counter::bump", 1),
        ("Counter::get", 1),
        ("Counter::try_add", 2),
        ("Counter::generic_method", 1),
        ("describe", 1),
        ("name", 2),
        ("default_with_block", 1),
        ("Counter::boxed", 1),
        ("Counter::into_count", 1),
    ]);
}
