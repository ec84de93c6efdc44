/*
 * seccomp.c - the sandbox's seccomp-BPF filter, and the names of the syscalls it traps.
 *
 * A deny list (default allow) so that arbitrary C/Rust/Zig runtimes keep working. Denied
 * syscalls are SECCOMP_RET_TRAP with an MM_DENY_* reason in SECCOMP_RET_DATA; the kernel then
 * delivers SIGSYS with that reason in si_errno, which sandbox.c's handler reports. The last step
 * of mm_sandbox_apply (sandbox.c): the filter is inherited by every thread and child created
 * afterwards and can never be lifted. See sandbox_parts.h for threads and ownership.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "midimon_plugin.h"
#include "protocol.h"
#include "sandbox_parts.h"

/* ---- architecture -------------------------------------------------------------------------- */

#if defined(__x86_64__) && !defined(__ILP32__)
#define MM_SECCOMP_ARCH AUDIT_ARCH_X86_64
#define MM_X32_SYSCALL_BIT 0x40000000u
#elif defined(__aarch64__)
#define MM_SECCOMP_ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define MM_SECCOMP_ARCH AUDIT_ARCH_I386
#elif defined(__riscv) && __riscv_xlen == 64
#define MM_SECCOMP_ARCH AUDIT_ARCH_RISCV64
#endif

/* Little-endian: the low 32 bits of a 64-bit syscall argument come first. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define MM_ARG_LO(i) ((uint32_t)(offsetof(struct seccomp_data, args) + 8 * (i) + 4))
#else
#define MM_ARG_LO(i) ((uint32_t)(offsetof(struct seccomp_data, args) + 8 * (i)))
#endif

struct mm_syscall {
    int nr;
    const char *name;
};

/* Trapped for every plugin, whatever it was granted (MM_DENY_FORBIDDEN). Most also need a
 * capability the worker no longer holds; trapping them anyway makes the denial visible and
 * shrinks the kernel surface a plugin can reach. */
static const struct mm_syscall forbidden_calls[] = {
#ifdef __NR_ptrace
    {__NR_ptrace, "ptrace"},
#endif
#ifdef __NR_process_vm_readv
    {__NR_process_vm_readv, "process_vm_readv"},
#endif
#ifdef __NR_process_vm_writev
    {__NR_process_vm_writev, "process_vm_writev"},
#endif
#ifdef __NR_perf_event_open
    {__NR_perf_event_open, "perf_event_open"},
#endif
#ifdef __NR_bpf
    {__NR_bpf, "bpf"},
#endif
#ifdef __NR_userfaultfd
    {__NR_userfaultfd, "userfaultfd"},
#endif
#ifdef __NR_keyctl
    {__NR_keyctl, "keyctl"},
#endif
#ifdef __NR_add_key
    {__NR_add_key, "add_key"},
#endif
#ifdef __NR_request_key
    {__NR_request_key, "request_key"},
#endif
#ifdef __NR_mount
    {__NR_mount, "mount"},
#endif
#ifdef __NR_umount2
    {__NR_umount2, "umount2"},
#endif
#ifdef __NR_umount
    {__NR_umount, "umount"},
#endif
#ifdef __NR_pivot_root
    {__NR_pivot_root, "pivot_root"},
#endif
#ifdef __NR_chroot
    {__NR_chroot, "chroot"},
#endif
#ifdef __NR_fsopen /* the new mount API: mount() by another name */
    {__NR_fsopen, "fsopen"},
#endif
#ifdef __NR_fsconfig
    {__NR_fsconfig, "fsconfig"},
#endif
#ifdef __NR_fsmount
    {__NR_fsmount, "fsmount"},
#endif
#ifdef __NR_fspick
    {__NR_fspick, "fspick"},
#endif
#ifdef __NR_move_mount
    {__NR_move_mount, "move_mount"},
#endif
#ifdef __NR_open_tree
    {__NR_open_tree, "open_tree"},
#endif
#ifdef __NR_mount_setattr
    {__NR_mount_setattr, "mount_setattr"},
#endif
#ifdef __NR_kexec_load
    {__NR_kexec_load, "kexec_load"},
#endif
#ifdef __NR_kexec_file_load
    {__NR_kexec_file_load, "kexec_file_load"},
#endif
#ifdef __NR_init_module
    {__NR_init_module, "init_module"},
#endif
#ifdef __NR_finit_module
    {__NR_finit_module, "finit_module"},
#endif
#ifdef __NR_delete_module
    {__NR_delete_module, "delete_module"},
#endif
#ifdef __NR_reboot
    {__NR_reboot, "reboot"},
#endif
#ifdef __NR_swapon
    {__NR_swapon, "swapon"},
#endif
#ifdef __NR_swapoff
    {__NR_swapoff, "swapoff"},
#endif
#ifdef __NR_setns
    {__NR_setns, "setns"},
#endif
#ifdef __NR_unshare
    {__NR_unshare, "unshare"},
#endif
#ifdef __NR_open_by_handle_at
    {__NR_open_by_handle_at, "open_by_handle_at"},
#endif
#ifdef __NR_io_uring_setup /* io_uring ops bypass this filter's argument checks */
    {__NR_io_uring_setup, "io_uring_setup"},
#endif
#ifdef __NR_io_uring_enter
    {__NR_io_uring_enter, "io_uring_enter"},
#endif
#ifdef __NR_io_uring_register
    {__NR_io_uring_register, "io_uring_register"},
#endif
#ifdef __NR_pidfd_getfd
    {__NR_pidfd_getfd, "pidfd_getfd"},
#endif
#ifdef __NR_kcmp
    {__NR_kcmp, "kcmp"},
#endif
#ifdef __NR_iopl
    {__NR_iopl, "iopl"},
#endif
#ifdef __NR_ioperm
    {__NR_ioperm, "ioperm"},
#endif
#ifdef __NR_acct
    {__NR_acct, "acct"},
#endif
#ifdef __NR_quotactl
    {__NR_quotactl, "quotactl"},
#endif
#ifdef __NR_quotactl_fd
    {__NR_quotactl_fd, "quotactl_fd"},
#endif
#ifdef __NR_syslog
    {__NR_syslog, "syslog"},
#endif
#ifdef __NR_lookup_dcookie
    {__NR_lookup_dcookie, "lookup_dcookie"},
#endif
#ifdef __NR_uselib
    {__NR_uselib, "uselib"},
#endif
#ifdef __NR_vhangup
    {__NR_vhangup, "vhangup"},
#endif
#ifdef __NR_sethostname
    {__NR_sethostname, "sethostname"},
#endif
#ifdef __NR_setdomainname
    {__NR_setdomainname, "setdomainname"},
#endif
#ifdef __NR_fanotify_init
    {__NR_fanotify_init, "fanotify_init"},
#endif
};

#define N_FORBIDDEN (sizeof forbidden_calls / sizeof forbidden_calls[0])

/* Syscalls trapped only in some configurations or by argument: names for DENIED. */
static const struct mm_syscall conditional_calls[] = {
    {__NR_execve, "execve"},
#ifdef __NR_execveat
    {__NR_execveat, "execveat"},
#endif
#ifdef __NR_fork
    {__NR_fork, "fork"},
#endif
#ifdef __NR_vfork
    {__NR_vfork, "vfork"},
#endif
    {__NR_clone, "clone"},
#ifdef __NR_clone3
    {__NR_clone3, "clone3"},
#endif
#ifdef __NR_socket
    {__NR_socket, "socket"},
#endif
#ifdef __NR_socketpair
    {__NR_socketpair, "socketpair"},
#endif
    {__NR_ioctl, "ioctl"},
#ifdef __NR_prlimit64
    {__NR_prlimit64, "prlimit64"},
#endif
    {__NR_kill, "kill"},
    {__NR_tgkill, "tgkill"},
#ifdef __NR_tkill
    {__NR_tkill, "tkill"},
#endif
    {__NR_rt_sigqueueinfo, "rt_sigqueueinfo"},
    {__NR_rt_tgsigqueueinfo, "rt_tgsigqueueinfo"},
#ifdef __NR_pidfd_open
    {__NR_pidfd_open, "pidfd_open"},
#endif
#ifdef __NR_pidfd_send_signal
    {__NR_pidfd_send_signal, "pidfd_send_signal"},
#endif
};

#define N_CONDITIONAL (sizeof conditional_calls / sizeof conditional_calls[0])

const char *mm_syscall_name(int nr) {
    size_t i;
    for (i = 0; i < N_FORBIDDEN; i++)
        if (forbidden_calls[i].nr == nr) return forbidden_calls[i].name;
    for (i = 0; i < N_CONDITIONAL; i++)
        if (conditional_calls[i].nr == nr) return conditional_calls[i].name;
    return "";
}

/* ---- the filter ---------------------------------------------------------------------------- */

#ifdef MM_SECCOMP_ARCH

#define MM_MAX_FILTER 512

struct mm_filter {
    struct sock_filter insns[MM_MAX_FILTER];
    unsigned n;
    int overflow;
};

static void emit(struct mm_filter *f, uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
    if (f->n >= MM_MAX_FILTER) {
        f->overflow = 1;
        return;
    }
    f->insns[f->n].code = code;
    f->insns[f->n].jt = jt;
    f->insns[f->n].jf = jf;
    f->insns[f->n].k = k;
    f->n++;
}

#define TRAP(reason) (SECCOMP_RET_TRAP | ((reason) & SECCOMP_RET_DATA))
#define ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))
#define ALLOW SECCOMP_RET_ALLOW

static void ret(struct mm_filter *f, uint32_t action) { emit(f, BPF_RET | BPF_K, action, 0, 0); }
static void load_nr(struct mm_filter *f) {
    emit(f, BPF_LD | BPF_W | BPF_ABS, (uint32_t)offsetof(struct seccomp_data, nr), 0, 0);
}
static void load_arg(struct mm_filter *f, int i) {
    emit(f, BPF_LD | BPF_W | BPF_ABS, MM_ARG_LO(i), 0, 0);
}
/* if (A == k) return action; */
static void ret_if_eq(struct mm_filter *f, uint32_t k, uint32_t action) {
    emit(f, BPF_JMP | BPF_JEQ | BPF_K, k, 0, 1);
    ret(f, action);
}
/* if (A & k) return action; */
static void ret_if_set(struct mm_filter *f, uint32_t k, uint32_t action) {
    emit(f, BPF_JMP | BPF_JSET | BPF_K, k, 0, 1);
    ret(f, action);
}
/* Start a block taken only when A == nr; every path inside must end in a return. */
static unsigned block_begin(struct mm_filter *f, int nr) {
    unsigned at = f->n;
    emit(f, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 0);
    return at;
}
static void block_end(struct mm_filter *f, unsigned at) {
    unsigned skip = f->n - at - 1;
    if (skip > 255 || at >= MM_MAX_FILTER) {
        f->overflow = 1;
        return;
    }
    f->insns[at].jf = (uint8_t)skip;
}

#define MM_CLONE_NAMESPACES                                                                 \
    (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |          \
     CLONE_NEWPID | CLONE_NEWNET)

/* Only signals to the worker itself (pid, its process group, 0 = own group). */
static void signal_target_block(struct mm_filter *f, int nr, int allow_group, uint32_t self) {
    unsigned at = block_begin(f, nr);
    load_arg(f, 0);
    ret_if_eq(f, self, ALLOW);
    if (allow_group) {
        ret_if_eq(f, 0, ALLOW);
        ret_if_eq(f, (uint32_t)-(int32_t)self, ALLOW);
    }
    ret(f, TRAP(MM_DENY_OTHER_PROCESS));
    block_end(f, at);
}

static int build_filter(const struct mm_sandbox_spec *spec, const struct mm_enforcement *enf,
                        struct mm_filter *f) {
    int subprocess = (spec->granted & MIDIMON_CAP_SUBPROCESS) != 0;
    int network = (spec->granted & MIDIMON_CAP_NETWORK) != 0;
    int signal_scoped = (enf->flags & MM_ENF_SCOPE_SIGNAL) != 0;
    uint32_t self = (uint32_t)getpid();
    unsigned at;
    size_t i;

    emit(f, BPF_LD | BPF_W | BPF_ABS, (uint32_t)offsetof(struct seccomp_data, arch), 0, 0);
    emit(f, BPF_JMP | BPF_JEQ | BPF_K, MM_SECCOMP_ARCH, 1, 0);
    ret(f, TRAP(MM_DENY_FOREIGN_ABI));
    load_nr(f);
#ifdef MM_X32_SYSCALL_BIT
    emit(f, BPF_JMP | BPF_JGE | BPF_K, MM_X32_SYSCALL_BIT, 0, 1);
    ret(f, TRAP(MM_DENY_FOREIGN_ABI));
#endif
    for (i = 0; i < N_FORBIDDEN; i++) ret_if_eq(f, (uint32_t)forbidden_calls[i].nr, TRAP(MM_DENY_FORBIDDEN));

    if (!subprocess) {
        ret_if_eq(f, __NR_execve, TRAP(MM_DENY_EXEC));
#ifdef __NR_execveat
        ret_if_eq(f, __NR_execveat, TRAP(MM_DENY_EXEC));
#endif
#ifdef __NR_fork
        ret_if_eq(f, __NR_fork, TRAP(MM_DENY_FORK));
#endif
#ifdef __NR_vfork
        ret_if_eq(f, __NR_vfork, TRAP(MM_DENY_FORK));
#endif
    }
#ifdef __NR_clone3
    /* clone3 passes its flags in memory, out of a filter's reach: ENOSYS makes glibc (and
     * other runtimes) fall back to clone(), whose flags are checked below. */
    ret_if_eq(f, __NR_clone3, ERRNO(ENOSYS));
#endif
    /* Leaving the worker's process group would escape the host's killpg(). */
    ret_if_eq(f, __NR_setsid, ERRNO(EPERM));
    ret_if_eq(f, __NR_setpgid, ERRNO(EPERM));

    /* clone: never new namespaces; without Subprocess only threads. */
    at = block_begin(f, __NR_clone);
    load_arg(f, 0);
    ret_if_set(f, MM_CLONE_NAMESPACES, TRAP(MM_DENY_NAMESPACE));
    if (!subprocess) {
        ret_if_set(f, CLONE_THREAD, ALLOW);
        ret(f, TRAP(MM_DENY_FORK));
    } else {
        ret(f, ALLOW);
    }
    block_end(f, at);

    /* socket(): IP families with Network (fatal without it, as before); AF_UNIX only with a
     * capability that needs local sockets (soft: EACCES, reported). Network also gets the
     * read-only NETLINK_ROUTE socket glibc's getaddrinfo() opens to sort addresses (without
     * CAP_NET_ADMIN it can only list local addresses and routes). Every other family (other
     * netlink protocols, packet, vsock, ...) is granted by nothing (soft). */
#ifdef __NR_socket
    at = block_begin(f, __NR_socket);
    load_arg(f, 0);
    ret_if_eq(f, AF_INET, network ? ALLOW : TRAP(MM_DENY_NETWORK));
    ret_if_eq(f, AF_INET6, network ? ALLOW : TRAP(MM_DENY_NETWORK));
    ret_if_eq(f, AF_UNIX, mm_unix_sockets_allowed(spec->granted) ? ALLOW : TRAP(MM_DENY_UNIX_SOCKET));
    if (network) {
        emit(f, BPF_JMP | BPF_JEQ | BPF_K, AF_NETLINK, 0, 4); /* not netlink: skip 4 */
        load_arg(f, 2);
        ret_if_eq(f, NETLINK_ROUTE, ALLOW);
        ret(f, TRAP(MM_DENY_SOCKET_FAMILY));
    }
    ret(f, TRAP(MM_DENY_SOCKET_FAMILY));
    block_end(f, at);
#endif
    /* socketpair() makes only local sockets (AF_UNIX; the worker's own was made by the host). */
#ifdef __NR_socketpair
    at = block_begin(f, __NR_socketpair);
    load_arg(f, 0);
    ret_if_eq(f, AF_UNIX, mm_unix_sockets_allowed(spec->granted) ? ALLOW : TRAP(MM_DENY_UNIX_SOCKET));
    ret(f, TRAP(MM_DENY_SOCKET_FAMILY));
    block_end(f, at);
#endif
    /* socketcall() (i386, s390, ...; not x86_64 or aarch64) hides its arguments in memory, out
     * of a filter's reach: ENOSYS makes libc use the direct socket() and socketpair() above. */
#ifdef __NR_socketcall
    ret_if_eq(f, __NR_socketcall, ERRNO(ENOSYS));
#endif

    /* The SIGSYS handler reports denials; a plugin must not replace it. */
    at = block_begin(f, __NR_rt_sigaction);
    load_arg(f, 0);
    ret_if_eq(f, SIGSYS, ERRNO(EINVAL));
    ret(f, ALLOW);
    block_end(f, at);

    /* Typing into the host's terminal. */
    at = block_begin(f, __NR_ioctl);
    load_arg(f, 1);
    ret_if_eq(f, TIOCSTI, TRAP(MM_DENY_FORBIDDEN));
    ret_if_eq(f, TIOCLINUX, TRAP(MM_DENY_FORBIDDEN));
    ret(f, ALLOW);
    block_end(f, at);

    if (!subprocess) {
        /* prlimit64 on another process of the same user (the host!) is not an LSM matter. */
#ifdef __NR_prlimit64
        signal_target_block(f, __NR_prlimit64, 1, self);
#endif
        if (!signal_scoped) {
            /* Landlock < 6 cannot scope signals: confine them to the worker here. */
            signal_target_block(f, __NR_kill, 1, self);
            signal_target_block(f, __NR_tgkill, 0, self);
            signal_target_block(f, __NR_rt_sigqueueinfo, 0, self);
            signal_target_block(f, __NR_rt_tgsigqueueinfo, 0, self);
#ifdef __NR_pidfd_open
            signal_target_block(f, __NR_pidfd_open, 0, self);
#endif
#ifdef __NR_tkill
            ret_if_eq(f, __NR_tkill, TRAP(MM_DENY_OTHER_PROCESS));
#endif
        }
    }
    ret(f, ALLOW);
    return f->overflow ? -1 : 0;
}

int mm_apply_seccomp(const struct mm_sandbox_spec *spec, struct mm_enforcement *out, char *err,
                     size_t cap) {
    static struct mm_filter filter;
    struct sock_fprog prog;
    memset(&filter, 0, sizeof filter);
    if (build_filter(spec, out, &filter) != 0) {
        snprintf(err, cap, "seccomp: the filter does not fit");
        return -1;
    }
    /* Probe first, so that a filter the kernel rejects (EINVAL) is an error, never mistaken
     * for a kernel without seccomp. */
    {
        uint32_t action = SECCOMP_RET_TRAP;
        if (syscall(__NR_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) != 0) {
            if (errno == ENOSYS || errno == EINVAL) return 0; /* no seccomp filters here */
            mm_set_error(err, cap, "seccomp(SECCOMP_GET_ACTION_AVAIL)", errno);
            return -1;
        }
    }
    prog.len = (unsigned short)filter.n;
    prog.filter = filter.insns;
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
        mm_set_error(err, cap, "PR_SET_SECCOMP", errno);
        return -1;
    }
    out->flags |= MM_ENF_SECCOMP;
    if (!(spec->granted & MIDIMON_CAP_SUBPROCESS) && !(out->flags & MM_ENF_SCOPE_SIGNAL))
        out->flags |= MM_ENF_SIGNAL_FILTER;
    out->seccomp_arch = MM_SECCOMP_ARCH;
    return 0;
}

#else /* no filter for this architecture */

int mm_apply_seccomp(const struct mm_sandbox_spec *spec, struct mm_enforcement *out, char *err,
                     size_t cap) {
    (void)spec;
    (void)out;
    (void)err;
    (void)cap;
    return 0;
}

#endif
