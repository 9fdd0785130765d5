//! Overhead of the sandbox against spawning python3 directly. Ignored by
//! default (timing, not correctness): `cargo test --test timing -- --ignored --nocapture`.
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const RUNS: usize = 20;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::test]
#[ignore = "timing check, run by hand"]
async fn sandbox_overhead_against_a_bare_python() {
    let Some(sb) = sandbox().await else { return };
    let mut sandboxed = Vec::with_capacity(RUNS);
    let mut inside = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let outcome = run(&sb, python("print(\"hi\")")).await;
        sandboxed.push(started.elapsed());
        inside.push(outcome.wall_time);
        assert_eq!(outcome.stdout, b"hi\n");
    }
    let mut bare = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let out = Command::new("/usr/bin/python3")
            .args(["-I", "-S", "-c", "print(\"hi\")"])
            .output()
            .unwrap();
        bare.push(started.elapsed());
        assert_eq!(out.stdout, b"hi\n");
    }
    let (sandboxed, inside, bare) = (median(sandboxed), median(inside), median(bare));
    println!(
        "median of {RUNS}: sandboxed {sandboxed:?} (spawn to exit {inside:?}), bare python3 {bare:?}, ratio {:.2}",
        sandboxed.as_secs_f64() / bare.as_secs_f64()
    );
}
