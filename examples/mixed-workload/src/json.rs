//! A second workload, for the comparison with heaptrack
//! (`scripts/instructions.sh`): many small allocations of the kind a
//! service makes. Each round builds a JSON document of `records` orders,
//! parses it into `serde_json::Value`s, matches three regular expressions
//! against their fields, and writes the matches back out as JSON.
//!
//! Usage: `json-<allocator> [rounds=30] [records=2000]`; prints
//! `elapsed_ms N` and a checksum.

use std::fmt::Write as _;
use std::time::Instant;

use regex::Regex;
use serde_json::Value;

/// One round: returns how many fields matched.
#[inline(never)]
pub fn run_round(round: u64, records: u64, patterns: &[Regex]) -> u64 {
    let mut text = String::from("[");
    for i in 0..records {
        let id = round * records + i;
        if i > 0 {
            text.push(',');
        }
        let _ = write!(
            text,
            r#"{{"id":{id},"customer":"customer-{c}@example.com","sku":"SKU-{s:05}","note":"order {id} for {c}, ships in {d} days","lines":[{{"qty":{q},"price":{p}.{cents:02}}},{{"qty":1,"price":3.50}}]}}"#,
            c = id % 977,
            s = id % 10_007,
            d = id % 9 + 1,
            q = id % 5 + 1,
            p = id % 300,
            cents = id % 100,
        );
    }
    text.push(']');
    let orders: Vec<Value> = serde_json::from_str(&text).unwrap_or_default();
    let mut matched = Vec::new();
    for order in &orders {
        for field in ["customer", "sku", "note"] {
            let Some(value) = order.get(field).and_then(Value::as_str) else {
                continue;
            };
            for pattern in patterns {
                if let Some(found) = pattern.find(value) {
                    matched.push(Value::String(found.as_str().to_owned()));
                }
            }
        }
    }
    let out = serde_json::to_string(&matched).unwrap_or_default();
    matched.len() as u64 + out.len() as u64
}

/// Runs the rounds the command line asks for and prints the elapsed time.
pub fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);
    let records: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let start = Instant::now();
    let patterns: Vec<Regex> = [
        r"[a-z]+-\d+@example\.com",
        r"SKU-0\d{4}",
        r"ships in [1-3] days",
    ]
    .iter()
    .filter_map(|p| Regex::new(p).ok())
    .collect();
    let sum: u64 = (0..rounds).map(|r| run_round(r, records, &patterns)).sum();
    println!("elapsed_ms {}", start.elapsed().as_millis());
    println!("checksum {sum}");
}
