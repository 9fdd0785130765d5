//! The native warm pool: runs take launched sandboxes (each used once),
//! the pool refills, runs it does not fit are launched cold, and a dropped
//! sandbox leaves no pooled sandbox or cgroup behind.
mod common;

use std::path::PathBuf;

use common::*;
use sandbox::{NativeConfig, NativeSandbox};

/// A checked native sandbox with a filled pool of two.
async fn pooled() -> Option<NativeSandbox> {
    sandbox(Backend::Native).await?;
    let sb = NativeSandbox::new(NativeConfig::default()).expect("the layout resolves");
    sb.check().await.expect("checked above");
    sb.pool_filled().await;
    Some(sb)
}

/// The command line of the sandbox's PID 1: the loader in a pooled
/// sandbox, bubblewrap's init in a cold one.
const PID_1: &str = "print(open('/proc/1/cmdline').read().split('\\0')[:4])";

#[tokio::test]
async fn each_run_takes_a_pooled_sandbox_used_once_and_the_pool_refills() {
    let Some(sb) = pooled().await else {
        return;
    };
    let before = sb.pool_cgroups();
    assert_eq!(before.len(), 2);
    let own = format!("run-{}-", std::process::id());
    for dir in &before {
        let name = dir.file_name().unwrap().to_string_lossy();
        assert!(name.starts_with(&own), "swept like run cgroups: {name}");
    }

    let outcome = sb_run(&sb, python(PID_1)).await;
    assert_ok(&outcome);
    assert!(stdout(&outcome).contains("'-c'"), "{}", stdout(&outcome));
    sb.pool_filled().await;
    let after = sb.pool_cgroups();
    assert_eq!(after.len(), 2);
    assert!(
        !after.contains(&before[0]),
        "the sandbox that ran is not handed out again: {before:?} then {after:?}"
    );
    assert_eq!(after[0], before[1], "the next oldest is next");
}

async fn sb_run(sb: &NativeSandbox, spec: sandbox::RunSpec) -> sandbox::RunOutcome {
    sandbox::Sandbox::run(sb, spec).await.expect("runs")
}

#[tokio::test]
async fn a_run_with_another_work_dir_size_is_launched_cold() {
    let Some(sb) = pooled().await else {
        return;
    };
    let limits = tight(|l| l.work_dir_bytes = 4 << 20);
    let outcome = sb_run(&sb, python(PID_1).limits(limits)).await;
    assert_ok(&outcome);
    assert!(stdout(&outcome).contains("bwrap"), "{}", stdout(&outcome));
    assert_eq!(sb.pool_ready(), 2, "the pool was not touched");
}

#[tokio::test]
async fn without_a_pool_every_run_is_launched_cold() {
    if sandbox(Backend::NativeCold).await.is_none() {
        return;
    }
    let config = NativeConfig {
        pool_size: 0,
        ..NativeConfig::default()
    };
    let sb = NativeSandbox::new(config).expect("the layout resolves");
    let outcome = sb_run(&sb, python(PID_1)).await;
    assert_ok(&outcome);
    assert!(stdout(&outcome).contains("bwrap"), "{}", stdout(&outcome));
    assert_eq!(sb.pool_ready(), 0);
}

#[tokio::test]
async fn dropping_the_sandbox_kills_its_pool_and_removes_the_cgroups() {
    let Some(sb) = pooled().await else {
        return;
    };
    let cgroups: Vec<PathBuf> = sb.pool_cgroups();
    assert_eq!(cgroups.len(), 2);
    let loaders: Vec<String> = cgroups
        .iter()
        .map(|dir| std::fs::read_to_string(dir.join("cgroup.procs")).unwrap())
        .collect();
    assert!(loaders.iter().all(|procs| !procs.trim().is_empty()));
    drop(sb);
    for dir in &cgroups {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}
