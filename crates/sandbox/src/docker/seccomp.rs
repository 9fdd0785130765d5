//! The seccomp profile of sandbox containers: the native backend's deny list
//! (`native::seccomp`), in Docker's JSON profile format, replacing Docker's
//! default profile so that both backends refuse the same calls the same way.
//!
//! Two differences in form, none in effect:
//! * runc ORs several conditions on one argument, so "`personality` unless
//!   0 or 0xffffffff" cannot be said as two `!=`. It is said as 32 rules,
//!   "bit i set and bit i+1 (mod 32) clear": a 32-bit value matches one of
//!   them exactly when it has both a set and a clear bit, that is when it is
//!   neither 0 nor 0xffffffff.
//! * x32 syscalls: the native filter refuses them all because a filter keyed
//!   on numbers would not recognise them. libseccomp does, by name, once the
//!   x32 architecture is listed, so here the deny list covers them too
//!   (without listing it, runc kills the process on any x32 call).
use nix::libc;
use serde_json::{Value, json};

/// The native deny list, by name (Docker profiles name syscalls). A unit
/// test checks it against the native list, number by number.
const DENIED: &[(&str, libc::c_long)] = &[
    ("ptrace", libc::SYS_ptrace),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("pidfd_getfd", libc::SYS_pidfd_getfd),
    ("kcmp", libc::SYS_kcmp),
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("chroot", libc::SYS_chroot),
    ("fsopen", libc::SYS_fsopen),
    ("fsconfig", libc::SYS_fsconfig),
    ("fsmount", libc::SYS_fsmount),
    ("fspick", libc::SYS_fspick),
    ("move_mount", libc::SYS_move_mount),
    ("open_tree", libc::SYS_open_tree),
    ("mount_setattr", libc::SYS_mount_setattr),
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    ("name_to_handle_at", libc::SYS_name_to_handle_at),
    ("quotactl", libc::SYS_quotactl),
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
    ("keyctl", libc::SYS_keyctl),
    ("add_key", libc::SYS_add_key),
    ("request_key", libc::SYS_request_key),
    ("bpf", libc::SYS_bpf),
    ("io_uring_setup", libc::SYS_io_uring_setup),
    ("io_uring_enter", libc::SYS_io_uring_enter),
    ("io_uring_register", libc::SYS_io_uring_register),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("fanotify_init", libc::SYS_fanotify_init),
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("swapon", libc::SYS_swapon),
    ("swapoff", libc::SYS_swapoff),
    ("reboot", libc::SYS_reboot),
    ("acct", libc::SYS_acct),
    ("syslog", libc::SYS_syslog),
    ("vhangup", libc::SYS_vhangup),
    ("settimeofday", libc::SYS_settimeofday),
    ("clock_settime", libc::SYS_clock_settime),
    ("clock_adjtime", libc::SYS_clock_adjtime),
    ("adjtimex", libc::SYS_adjtimex),
    #[cfg(target_arch = "x86_64")]
    ("iopl", libc::SYS_iopl),
    #[cfg(target_arch = "x86_64")]
    ("ioperm", libc::SYS_ioperm),
    #[cfg(target_arch = "x86_64")]
    ("uselib", libc::SYS_uselib),
    #[cfg(target_arch = "x86_64")]
    ("_sysctl", libc::SYS__sysctl),
    #[cfg(target_arch = "x86_64")]
    ("lookup_dcookie", libc::SYS_lookup_dcookie),
];

fn architectures() -> Vec<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => vec!["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "aarch64" => vec!["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        _ => vec![],
    }
}

/// The profile, as the JSON text Docker takes in `seccomp=<profile>`.
pub(crate) fn profile() -> String {
    let eperm = libc::EPERM;
    let deny = |names: Vec<&str>, args: Value| json!({"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": eperm, "args": args});
    let mut rules = vec![deny(DENIED.iter().map(|(n, _)| *n).collect(), json!([]))];
    for &flag in crate::native::seccomp::CLONE_NAMESPACE_FLAGS {
        let flag = u64::from(flag.cast_unsigned());
        rules.push(deny(
            vec!["clone"],
            json!([{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}]),
        ));
    }
    for bit in 0..32u32 {
        let set = 1u64 << bit;
        let clear = 1u64 << ((bit + 1) % 32);
        rules.push(deny(
            vec!["personality"],
            json!([{"index": 0, "value": set | clear, "valueTwo": set, "op": "SCMP_CMP_MASKED_EQ"}]),
        ));
    }
    // `clone3` passes its flags in memory a filter cannot read; ENOSYS makes
    // glibc fall back to `clone`, whose flags are checked.
    rules.push(json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS}));
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": architectures(),
        "syscalls": rules,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denies_exactly_what_the_native_filter_denies() {
        let mut ours: Vec<_> = DENIED.iter().map(|(_, nr)| *nr).collect();
        let mut native = crate::native::seccomp::DENIED.to_vec();
        ours.sort_unstable();
        native.sort_unstable();
        assert_eq!(ours, native);
    }

    #[test]
    fn the_personality_rules_spare_exactly_the_allowed_values() {
        let matches = |x: u64| {
            (0..32u32).any(|bit| {
                let set = 1u64 << bit;
                let clear = 1u64 << ((bit + 1) % 32);
                x & (set | clear) == set
            })
        };
        for &allowed in crate::native::seccomp::PERSONALITY_ALLOWED {
            assert!(!matches(allowed), "{allowed:#x} denied");
        }
        for denied in [
            1,
            8,
            0x0040_0000,
            0x0400_0008,
            0xffff_fffe,
            0x7fff_ffff,
            0x8000_0000,
        ] {
            assert!(matches(denied), "{denied:#x} allowed");
        }
    }

    #[test]
    fn is_valid_json_naming_every_denied_syscall() {
        let profile: Value = serde_json::from_str(&profile()).unwrap();
        let names = &profile["syscalls"][0]["names"];
        assert_eq!(names.as_array().unwrap().len(), DENIED.len());
    }
}
