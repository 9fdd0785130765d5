//! Overhead of each backend against spawning python3 directly. Ignored by
//! default (timing, not correctness):
//! `cargo test -p sandbox --test timing -- --ignored --nocapture`.
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const RUNS: usize = 20;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Median time from `run` to outcome of `print("hi")`, and the median wall
/// time the backend itself reported.
async fn sandboxed(backend: Backend) -> Option<(Duration, Duration)> {
    let sb = sandbox(backend).await?;
    if let Some(docker) = sb.docker() {
        docker.pool_filled().await;
    }
    let mut total = Vec::with_capacity(RUNS);
    let mut inside = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let outcome = run(&sb, python("print(\"hi\")")).await;
        total.push(started.elapsed());
        inside.push(outcome.wall_time);
        assert_eq!(outcome.stdout, b"hi\n");
    }
    Some((median(total), median(inside)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing check, run by hand"]
async fn sandbox_overhead_against_a_bare_python() {
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
    let bare = median(bare);
    println!("median of {RUNS} runs of print(\"hi\"):");
    println!("  bare python3 {bare:?}");
    for backend in [Backend::Native, Backend::Docker] {
        if let Some((total, inside)) = sandboxed(backend).await {
            println!(
                "  {:<6} {total:?} (spawn to exit {inside:?}), {:.2}x bare",
                backend.module(),
                total.as_secs_f64() / bare.as_secs_f64()
            );
        }
    }
}
