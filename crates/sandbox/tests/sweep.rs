//! Run cgroups left behind by a process that is gone (a service killed with
//! SIGKILL) are removed when the next sandbox starts; a live process's are
//! kept.
mod common;

use std::path::{Path, PathBuf};

use sandbox::{NativeConfig, NativeSandbox, RunSpec, Sandbox as _};

#[tokio::test]
async fn a_new_sandbox_removes_run_cgroups_of_dead_processes_only() {
    if common::sandbox(common::Backend::Native).await.is_none() {
        return;
    }
    let mount = Path::new("/sys/fs/cgroup");
    let parent = format!("pydojo-sweep-test-{}", std::process::id());
    let parents: Vec<PathBuf> = if mount.join("cgroup.controllers").exists() {
        vec![mount.join(&parent)]
    } else {
        ["memory", "pids", "cpuacct"]
            .iter()
            .map(|c| mount.join(c).join(&parent))
            .collect()
    };
    // pid_max is at most 2^22, so this pid is never alive.
    let stale = "run-999999999-0-0";
    let live = format!("run-{}-0-0", std::process::id());
    for dir in &parents {
        std::fs::create_dir_all(dir.join(stale)).expect("cgroup dirs can be made");
        std::fs::create_dir_all(dir.join(&live)).expect("cgroup dirs can be made");
    }

    let config = NativeConfig {
        cgroup_parent: Some(PathBuf::from("/").join(&parent)),
        ..NativeConfig::default()
    };
    let sandbox = NativeSandbox::new(config).expect("the layout resolves");

    for dir in &parents {
        assert!(
            !dir.join(stale).exists(),
            "{} left",
            dir.join(stale).display()
        );
        assert!(
            dir.join(&live).exists(),
            "{} removed",
            dir.join(&live).display()
        );
        std::fs::remove_dir(dir.join(&live)).unwrap();
    }
    // The sandbox still works under that parent.
    let outcome = sandbox
        .run(RunSpec::new(["python3", "-I", "-S", "-c", "print('ok')"]))
        .await
        .expect("runs");
    assert_eq!(outcome.stdout, b"ok\n", "{outcome:?}");
    for dir in &parents {
        let _ = std::fs::remove_dir(dir);
    }
}
