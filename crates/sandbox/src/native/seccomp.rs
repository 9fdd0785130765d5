//! The seccomp filter handed to bubblewrap (`--seccomp FD`, raw `sock_filter`
//! array). A deny list: everything is allowed except syscalls that reach
//! kernel attack surface or could undo the namespaces, which fail with EPERM.
//! A deny list rather than an allow list because CPython and its extension
//! modules use a wide and version-dependent set of syscalls, and the
//! namespaces, dropped capabilities and cgroup are the primary fences.
use std::collections::BTreeMap;

use nix::libc;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch, sock_filter,
};

use crate::{Error, Result};

/// Syscalls that fail with EPERM whatever their arguments.
pub(crate) const DENIED: &[libc::c_long] = &[
    // Debugging and reading other processes' memory.
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_pidfd_getfd,
    libc::SYS_kcmp,
    // Mount namespace and file system manipulation.
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_mount_setattr,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_quotactl,
    // New namespaces or joining others.
    libc::SYS_unshare,
    libc::SYS_setns,
    // Kernel keyring.
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    // Large kernel attack surface.
    libc::SYS_bpf,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_fanotify_init,
    // Host administration.
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_reboot,
    libc::SYS_acct,
    libc::SYS_syslog,
    libc::SYS_vhangup,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_uselib,
    #[cfg(target_arch = "x86_64")]
    libc::SYS__sysctl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_lookup_dcookie,
];

/// `clone` flags that create namespaces (`CLONE_NEWTIME` only exists for
/// `clone3` and `unshare`, both refused).
pub(crate) const CLONE_NAMESPACE_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWCGROUP,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
];

/// `personality(2)` calls CPython or glibc may make: query and `PER_LINUX`.
pub(crate) const PERSONALITY_ALLOWED: &[u64] = &[0, 0xffff_ffff];

/// x86_64 x32-ABI syscalls have this bit set in their number. A deny list
/// keyed on syscall numbers would not see them, so they are all refused.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Compiles the filter into the byte layout bubblewrap reads.
pub(crate) fn compiled_filter() -> Result<Vec<u8>> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| Error::Seccomp(format!("unsupported architecture: {e}")))?;
    let err = |e: seccompiler::BackendError| Error::Seccomp(e.to_string());

    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|&nr| (nr, vec![])).collect();

    let clone_rules = CLONE_NAMESPACE_FLAGS
        .iter()
        .map(|&flag| {
            let flag = u64::from(flag.cast_unsigned());
            let cond = SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            )
            .map_err(err)?;
            SeccompRule::new(vec![cond]).map_err(err)
        })
        .collect::<Result<Vec<_>>>()?;
    rules.insert(libc::SYS_clone, clone_rules);

    let personality_rule = SeccompRule::new(
        PERSONALITY_ALLOWED
            .iter()
            .map(|&allowed| {
                SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, allowed)
                    .map_err(err)
            })
            .collect::<Result<Vec<_>>>()?,
    )
    .map_err(err)?;
    rules.insert(libc::SYS_personality, vec![personality_rule]);

    let eperm = SeccompAction::Errno(libc::EPERM.cast_unsigned());
    let filter =
        SeccompFilter::new(rules, SeccompAction::Allow, eperm.clone(), arch).map_err(err)?;
    let body: BpfProgram = filter.try_into().map_err(err)?;

    let mut program = prelude(u32::from(eperm));
    program.extend(body);
    Ok(to_bytes(&program))
}

/// Runs before seccompiler's program: refuses x32 syscalls, and makes
/// `clone3` fail with ENOSYS. `clone3` passes its flags in memory where a
/// filter cannot look, and ENOSYS makes glibc fall back to `clone`, whose
/// flags the main program checks.
fn prelude(eperm: u32) -> Vec<sock_filter> {
    // BPF_LD | BPF_W | BPF_ABS, BPF_JMP | BPF_JGE | BPF_K, … (linux/bpf_common.h).
    const LD_W_ABS: u16 = 0x20;
    const JMP_JGE_K: u16 = 0x05 | 0x30;
    const JMP_JEQ_K: u16 = 0x05 | 0x10;
    const RET_K: u16 = 0x06;
    let enosys = u32::from(SeccompAction::Errno(libc::ENOSYS.cast_unsigned()));
    let clone3 = u32::try_from(libc::SYS_clone3).expect("syscall numbers are small");
    let insn = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    vec![
        // seccomp_data.nr is at offset 0.
        insn(LD_W_ABS, 0, 0, 0),
        insn(JMP_JGE_K, 0, 1, X32_SYSCALL_BIT),
        insn(RET_K, 0, 0, eperm),
        insn(JMP_JEQ_K, 0, 1, clone3),
        insn(RET_K, 0, 0, enosys),
    ]
}

fn to_bytes(program: &[sock_filter]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(program.len() * 8);
    for insn in program {
        bytes.extend_from_slice(&insn.code.to_ne_bytes());
        bytes.push(insn.jt);
        bytes.push(insn.jf);
        bytes.extend_from_slice(&insn.k.to_ne_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_to_whole_instructions_within_the_kernel_limit() {
        let bytes = compiled_filter().expect("filter compiles");
        assert_eq!(bytes.len() % 8, 0);
        assert!(bytes.len() / 8 < 4096, "BPF_MAXINSNS");
    }
}
