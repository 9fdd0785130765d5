//! The readiness check names what is missing.
mod common;

use sandbox::{Error, NativeConfig, NativeSandbox};

#[tokio::test]
async fn check_names_a_missing_bubblewrap() {
    if common::sandbox(common::Backend::Native).await.is_none() {
        return;
    }
    let config = NativeConfig {
        bwrap_path: "/nonexistent/bwrap".into(),
        ..NativeConfig::default()
    };
    let sandbox = NativeSandbox::new(config).expect("cgroups are there");
    match sandbox.check().await {
        Err(Error::NotReady { problems }) => {
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].contains("bubblewrap not found"), "{problems:?}");
            assert!(problems[0].contains("/nonexistent/bwrap"), "{problems:?}");
        }
        other => panic!("expected NotReady, got {other:?}"),
    }
}

#[tokio::test]
async fn new_names_a_missing_cgroup_mount() {
    let config = NativeConfig {
        cgroup_mount: "/nonexistent/cgroup".into(),
        ..NativeConfig::default()
    };
    let err = NativeSandbox::new(config).unwrap_err();
    assert!(matches!(err, Error::CgroupUnavailable(_)), "{err}");
    assert!(err.to_string().contains("/nonexistent/cgroup"), "{err}");
}
