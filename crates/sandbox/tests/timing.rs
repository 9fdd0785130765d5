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
        // Each run finds a full pool, as a judge between submissions does;
        // refilling is not part of a run's latency.
        if let Some(native) = sb.native() {
            native.pool_filled().await;
        }
        if let Some(docker) = sb.docker() {
            docker.pool_filled().await;
        }
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
    println!("median of {RUNS} runs of print(\"hi\"), run to outcome:");
    println!("  {:<12} {:>10}", "bare python3", format!("{bare:.1?}"));
    for backend in [Backend::Native, Backend::NativeCold, Backend::Docker] {
        if let Some((total, inside)) = sandboxed(backend).await {
            println!(
                "  {:<12} {:>10} {:>5.2}x bare  (spawn to exit {inside:.1?})",
                backend.module(),
                format!("{total:.1?}"),
                total.as_secs_f64() / bare.as_secs_f64()
            );
        }
    }
}
