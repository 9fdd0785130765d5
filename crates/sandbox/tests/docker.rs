//! What only the Docker backend has: the warm pool, its clean-up, the
//! readiness check's messages, and measurement through the stats API when
//! the daemon's cgroups are not visible.
mod common;

use common::{Backend, SECOND, assert_ok, docker_config, python, sandbox, stdout, tight};
use sandbox::{DockerConfig, DockerSandbox, Error, LimitKind, Sandbox as _};

/// A checked Docker sandbox with `config`, or a skip (a failure under CI).
async fn docker(config: DockerConfig) -> Option<DockerSandbox> {
    sandbox(Backend::Docker).await?;
    let sb = DockerSandbox::new(config)
        .await
        .expect("the daemon answered");
    sb.check().await.expect("checked with the same image");
    Some(sb)
}

#[tokio::test]
async fn the_pool_refills_with_fresh_containers_and_each_is_used_once() {
    let config = DockerConfig {
        pool_size: 2,
        ..docker_config()
    };
    let Some(sb) = docker(config).await else {
        return;
    };
    sb.pool_filled().await;
    let before = sb.pool_containers();
    assert_eq!(before.len(), 2);

    for _ in 0..3 {
        assert_ok(&run(&sb, python("print('x')")).await);
    }
    sb.pool_filled().await;
    let after = sb.pool_containers();
    assert_eq!(after.len(), 2);
    for id in &after {
        assert!(!before.contains(id), "container {id} handed out twice");
    }
}

async fn run(sb: &DockerSandbox, spec: sandbox::RunSpec) -> sandbox::RunOutcome {
    sb.run(spec).await.expect("the sandbox itself works")
}

#[tokio::test]
async fn dropping_the_sandbox_removes_all_its_containers() {
    let Some(sb) = docker(docker_config()).await else {
        return;
    };
    sb.pool_filled().await;
    assert_ok(&run(&sb, python("print('x')")).await);
    let ids = sb.live_containers();
    assert!(!ids.is_empty());
    drop(sb);
    let output = std::process::Command::new("docker")
        .args(["ps", "-aq", "--no-trunc"])
        .output();
    let Ok(output) = output else {
        eprintln!("no docker CLI to look with; skipping the look");
        return;
    };
    let listed = String::from_utf8_lossy(&output.stdout).into_owned();
    for id in ids {
        assert!(!listed.contains(&id), "container {id} left behind");
    }
}

#[tokio::test]
async fn a_run_with_another_work_dir_size_gets_a_container_made_for_it() {
    let Some(sb) = docker(docker_config()).await else {
        return;
    };
    let limits = tight(|l| l.work_dir_bytes = 2 << 20);
    let code = "import os\ns = os.statvfs('/work')\nprint(s.f_blocks * s.f_frsize)";
    let outcome = run(&sb, python(code).limits(limits)).await;
    assert_ok(&outcome);
    assert_eq!(stdout(&outcome), format!("{}\n", 2 << 20));
}

#[tokio::test]
async fn check_names_a_missing_image_and_how_to_build_it() {
    if sandbox(Backend::Docker).await.is_none() {
        return;
    }
    let config = DockerConfig {
        image: "pydojo-sandbox:no-such-tag".into(),
        pool_size: 0,
        ..docker_config()
    };
    let sb = DockerSandbox::new(config)
        .await
        .expect("the daemon answers");
    match sb.check().await {
        Err(Error::NotReady { problems }) => {
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(
                problems[0].contains("image pydojo-sandbox:no-such-tag missing"),
                "{problems:?}"
            );
            assert!(
                problems[0].contains("build-image.sh no-such-tag"),
                "{problems:?}"
            );
        }
        other => panic!("expected NotReady, got {other:?}"),
    }
}

#[tokio::test]
async fn new_names_a_daemon_that_does_not_answer() {
    let config = DockerConfig {
        socket: "/nonexistent/docker.sock".into(),
        ..DockerConfig::default()
    };
    let err = DockerSandbox::new(config).await.unwrap_err();
    assert!(matches!(err, Error::NotReady { .. }), "{err}");
    assert!(
        err.to_string().contains("/nonexistent/docker.sock"),
        "{err}"
    );
}

#[tokio::test]
async fn measures_from_the_hosts_cgroups_here() {
    let Some(sb) = docker(docker_config()).await else {
        return;
    };
    assert!(sb.measures_from_host_cgroups().await.expect("a container"));
}

/// Without visible cgroups (a remote daemon), limits go through `docker
/// update` and usage through the stats API.
#[tokio::test]
async fn without_visible_cgroups_limits_and_usage_go_through_the_api() {
    let config = DockerConfig {
        cgroup_mount: "/nonexistent/cgroup".into(),
        pool_size: 1,
        ..docker_config()
    };
    let Some(sb) = docker(config).await else {
        return;
    };
    assert!(!sb.measures_from_host_cgroups().await.expect("a container"));

    let outcome = run(&sb, python("print('hi')")).await;
    assert_ok(&outcome);
    assert_eq!(outcome.stdout, b"hi\n");

    let limits = tight(|l| {
        l.cpu_time = SECOND;
        l.wall_time = 30 * SECOND;
    });
    let outcome = run(&sb, python("while True: pass").limits(limits)).await;
    assert_eq!(outcome.limit_hit, Some(LimitKind::Cpu), "{outcome:?}");
    assert!(outcome.cpu_time >= SECOND, "{outcome:?}");

    // Contained: the kernel kills it at the limit. Whether the run is
    // marked `Memory` depends on the daemon reporting the OOM in time (the
    // stats API has no OOM counter; Docker 20.10 sets its OOM flag late).
    let limits = tight(|l| l.memory_bytes = 64 << 20);
    let code = "chunks = []\nwhile True:\n    chunks.append(bytearray(1 << 20))";
    let outcome = run(&sb, python(code).limits(limits)).await;
    assert_eq!(outcome.exit, sandbox::ExitStatus::Signal(9), "{outcome:?}");
    assert!(
        matches!(outcome.limit_hit, None | Some(LimitKind::Memory)),
        "{outcome:?}"
    );
}
