/*
 * sandbox.c - confine the worker before any plugin code runs.
 *
 * Order (mm_sandbox_apply): rlimits -> PR_SET_NO_NEW_PRIVS -> drop capabilities -> Landlock
 * -> seccomp-BPF. All of it happens while the worker has one thread and before dlopen(), which
 * runs the plugin's constructors. Landlock and seccomp are inherited by every thread and child
 * created afterwards and can never be lifted.
 *
 * The seccomp filter is a deny list (default allow) so that arbitrary C/Rust/Zig runtimes keep
 * working. Denied syscalls are SECCOMP_RET_TRAP with a MM_DENY_* reason in SECCOMP_RET_DATA; the
 * kernel delivers SIGSYS with that reason in si_errno. The handler sends one DENIED message with
 * a single send() and _exit()s (fatal), or for a soft denial (socket(AF_UNIX)/socketpair()
 * without a capability that needs local sockets, or a socket family no capability grants) sets
 * the syscall's return value to -EACCES and returns.
 */
#define _GNU_SOURCE
#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <ucontext.h>
#include <unistd.h>

#include "midimon_plugin.h"
#include "protocol.h"

/* ---- Landlock definitions (the build host's <linux/landlock.h> may predate ABI 4..7) ------- */

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444 /* same number on every architecture */
#endif
#ifndef __NR_landlock_add_rule
#define __NR_landlock_add_rule 445
#endif
#ifndef __NR_landlock_restrict_self
#define __NR_landlock_restrict_self 446
#endif

#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1

#define LL_FS_EXECUTE (1ULL << 0)
#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_FS_READ_DIR (1ULL << 3)
#define LL_FS_REMOVE_DIR (1ULL << 4)
#define LL_FS_REMOVE_FILE (1ULL << 5)
#define LL_FS_MAKE_CHAR (1ULL << 6)
#define LL_FS_MAKE_DIR (1ULL << 7)
#define LL_FS_MAKE_REG (1ULL << 8)
#define LL_FS_MAKE_SOCK (1ULL << 9)
#define LL_FS_MAKE_FIFO (1ULL << 10)
#define LL_FS_MAKE_BLOCK (1ULL << 11)
#define LL_FS_MAKE_SYM (1ULL << 12)
#define LL_FS_REFER (1ULL << 13)     /* ABI 2 */
#define LL_FS_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define LL_FS_ABI1 ((1ULL << 13) - 1)
/* Rights that make sense on a file (a rule on a non-directory may only carry these). */
#define LL_FS_FILE_RIGHTS \
    (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)
#define LL_FS_READ_RIGHTS (LL_FS_READ_FILE | LL_FS_READ_DIR | LL_FS_EXECUTE)

#define LL_NET_BIND_TCP (1ULL << 0)    /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ULL << 1) /* ABI 4 */

#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)               /* ABI 6 */

struct mm_ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI 4; must be 0 before */
    uint64_t scoped;             /* ABI 6; must be 0 before */
};

struct mm_ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

/* ---- seccomp architecture ------------------------------------------------------------------ */

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

static const char *syscall_name(int nr) {
    size_t i;
    for (i = 0; i < N_FORBIDDEN; i++)
        if (forbidden_calls[i].nr == nr) return forbidden_calls[i].name;
    for (i = 0; i < N_CONDITIONAL; i++)
        if (conditional_calls[i].nr == nr) return conditional_calls[i].name;
    return "";
}

/* ---- DENIED and the SIGSYS handler --------------------------------------------------------- */

static int g_sock_fd = -1;

void mm_send_denied(uint32_t reason, int fatal, int32_t nr, uint64_t arg0, uint64_t arg1,
                    const char *name) {
    uint8_t buf[MM_HEADER_SIZE + MM_DENIED_FIXED + MM_MAX_DENIED_NAME];
    uint8_t *p = buf + MM_HEADER_SIZE;
    size_t name_len = 0;
    if (g_sock_fd < 0) return;
    while (name && name[name_len] && name_len < MM_MAX_DENIED_NAME) name_len++;
    mm_put_header(buf, MM_DENIED, 0, (uint32_t)(MM_DENIED_FIXED + name_len));
    mm_put_u32(p, reason);
    mm_put_u32(p + 4, fatal ? 1u : 0u);
    mm_put_u32(p + 8, (uint32_t)nr);
    mm_put_u32(p + 12, 0);
    mm_put_u64(p + 16, arg0);
    mm_put_u64(p + 24, arg1);
    mm_put_u32(p + 32, (uint32_t)name_len);
    memcpy(p + MM_DENIED_FIXED, name, name_len); /* memcpy is async-signal-safe in practice */
    (void)send(g_sock_fd, buf, MM_HEADER_SIZE + MM_DENIED_FIXED + name_len, MSG_NOSIGNAL);
}

static uint64_t context_arg(void *uctx, int i) {
#if defined(__x86_64__)
    static const int regs[6] = {REG_RDI, REG_RSI, REG_RDX, REG_R10, REG_R8, REG_R9};
    return (uint64_t)((ucontext_t *)uctx)->uc_mcontext.gregs[regs[i]];
#elif defined(__aarch64__)
    return (uint64_t)((ucontext_t *)uctx)->uc_mcontext.regs[i];
#else
    (void)uctx;
    (void)i;
    return 0;
#endif
}

/* Make the trapped syscall return `value` (a -errno) when the handler returns. */
static int context_set_return(void *uctx, long value) {
#if defined(__x86_64__)
    ((ucontext_t *)uctx)->uc_mcontext.gregs[REG_RAX] = value;
    return 1;
#elif defined(__aarch64__)
    ((ucontext_t *)uctx)->uc_mcontext.regs[0] = (uint64_t)value;
    return 1;
#else
    (void)uctx;
    (void)value;
    return 0;
#endif
}

static void on_sigsys(int sig, siginfo_t *info, void *uctx) {
    int saved_errno = errno;
    uint32_t reason = (uint32_t)info->si_errno; /* SECCOMP_RET_DATA */
    int nr = info->si_syscall;
    uint64_t arg0 = context_arg(uctx, 0), arg1 = context_arg(uctx, 1);
    const char *name = reason == MM_DENY_FOREIGN_ABI ? "" : syscall_name(nr);
    (void)sig;
    if (info->si_code != 1 /* SYS_SECCOMP */) _exit(MM_EXIT_DENIED); /* a SIGSYS sent by kill() */
    if ((reason == MM_DENY_UNIX_SOCKET || reason == MM_DENY_SOCKET_FAMILY) &&
        context_set_return(uctx, -EACCES)) {
        mm_send_denied(reason, 0, nr, arg0, arg1, name);
        errno = saved_errno;
        return;
    }
    mm_send_denied(reason, 1, nr, arg0, arg1, name);
    _exit(MM_EXIT_DENIED);
}

void mm_sandbox_init_signals(int sock_fd) {
    struct sigaction sa;
    sigset_t all;
    int sig;
    g_sock_fd = sock_fd;
    /* Start from a clean slate: the host (Python ignores SIGPIPE) should not leak dispositions
     * into the plugin. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (sig = 1; sig < 32; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) (void)sigaction(sig, &sa, NULL);
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigfillset(&sa.sa_mask); /* nothing interrupts the report */
    (void)sigaction(SIGSYS, &sa, NULL);
    sigemptyset(&all);
    (void)sigprocmask(SIG_SETMASK, &all, NULL);
}

/* ---- helpers ------------------------------------------------------------------------------- */

static void set_error(char *err, size_t cap, const char *what, int e) {
    snprintf(err, cap, "%s: %s", what, strerror(e));
}

static uint64_t rlimit_value(rlim_t v) { return v == RLIM_INFINITY ? UINT64_MAX : (uint64_t)v; }

/* Tasks (processes and threads) of real uid `uid` now: RLIMIT_NPROC counts them all, per user,
 * so a plain limit of N would stop a desktop user who already has hundreds of threads from
 * creating even one. Approximate by design (other processes come and go). */
static uint64_t count_user_tasks(uid_t uid) {
    DIR *dir = opendir("/proc");
    struct dirent *entry;
    uint64_t total = 0;
    if (!dir) return 0;
    while ((entry = readdir(dir)) != NULL) {
        char path[64], buf[4096];
        const char *p;
        ssize_t n;
        int fd;
        if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%.20s/status", entry->d_name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0) continue;
        buf[n] = '\0';
        p = strstr(buf, "\nUid:\t");
        if (!p || strtoul(p + 6, NULL, 10) != (unsigned long)uid) continue;
        p = strstr(buf, "\nThreads:\t");
        total += p ? strtoull(p + 10, NULL, 10) : 1;
    }
    closedir(dir);
    return total;
}

static int set_limit(int resource, uint64_t value, const char *name, char *err, size_t cap) {
    struct rlimit rl;
    rlim_t v = (rlim_t)value;
    if (getrlimit(resource, &rl) != 0) {
        set_error(err, cap, name, errno);
        return -1;
    }
    if (rl.rlim_max != RLIM_INFINITY && v > rl.rlim_max) v = rl.rlim_max; /* cannot raise */
    rl.rlim_cur = v;
    rl.rlim_max = v; /* the plugin cannot raise it back */
    if (setrlimit(resource, &rl) != 0) {
        set_error(err, cap, name, errno);
        return -1;
    }
    return 0;
}

static int apply_rlimits(const struct mm_sandbox_spec *spec, struct mm_enforcement *out,
                         char *err, size_t cap) {
    struct rlimit rl;
    if (spec->address_space &&
        set_limit(RLIMIT_AS, spec->address_space, "setrlimit(RLIMIT_AS)", err, cap))
        return -1;
    if (spec->max_processes) {
        uid_t uid = getuid();
        /* uid 0 is never held to RLIMIT_NPROC by the kernel: no point counting. */
        uint64_t have = uid == 0 ? 0 : count_user_tasks(uid);
        if (set_limit(RLIMIT_NPROC, have + spec->max_processes, "setrlimit(RLIMIT_NPROC)", err,
                      cap))
            return -1;
    }
    if (spec->max_open_files) {
        uint64_t n = spec->max_open_files < 16 ? 16 : spec->max_open_files;
        if (set_limit(RLIMIT_NOFILE, n, "setrlimit(RLIMIT_NOFILE)", err, cap)) return -1;
    }
    if (set_limit(RLIMIT_CORE, 0, "setrlimit(RLIMIT_CORE)", err, cap)) return -1;
    out->flags |= MM_ENF_RLIMITS;
    if (getrlimit(RLIMIT_AS, &rl) == 0) out->rlimit_as = rlimit_value(rl.rlim_cur);
    if (getrlimit(RLIMIT_NPROC, &rl) == 0) out->rlimit_nproc = rlimit_value(rl.rlim_cur);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) out->rlimit_nofile = rlimit_value(rl.rlim_cur);
    if (getrlimit(RLIMIT_CORE, &rl) == 0) out->rlimit_core = rlimit_value(rl.rlim_cur);
    return 0;
}

/* ---- capabilities -------------------------------------------------------------------------- */

static int holds_capabilities(void) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &header, data) != 0) return -1;
    return (data[0].effective | data[0].permitted | data[0].inheritable | data[1].effective |
            data[1].permitted | data[1].inheritable) != 0;
}

/* A worker started as root keeps uid 0 but loses every capability: it can no longer raise its
 * rlimits, override file permissions, signal other users' processes, or regain anything through
 * execve (the bounding set is emptied too). */
static int drop_capabilities(struct mm_enforcement *out, char *err, size_t cap) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    int held = holds_capabilities(), c;
    if (held < 0) {
        set_error(err, cap, "capget", errno);
        return -1;
    }
    if (held) {
        (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        for (c = 0; c < 64; c++) {
            if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) {
                if (errno == EINVAL) break; /* past the last capability */
                if (errno == EPERM) break;  /* no CAP_SETPCAP: nothing to drop from it */
                set_error(err, cap, "PR_CAPBSET_DROP", errno);
                return -1;
            }
        }
        memset(data, 0, sizeof data);
        if (syscall(SYS_capset, &header, data) != 0) {
            set_error(err, cap, "capset", errno);
            return -1;
        }
        out->flags |= MM_ENF_CAPS_DROPPED;
    }
    if (holds_capabilities() == 0) out->flags |= MM_ENF_NO_CAPS;
    return 0;
}

/* ---- Landlock ------------------------------------------------------------------------------ */

/* Local (AF_UNIX) sockets reach whatever listens on a path the user can connect to: the sound
 * server (Audio), the D-Bus session bus (System control; through it systemd --user starts any
 * program outside this sandbox), ssh-agent, X11, midimon's own control socket. Landlock does
 * not mediate connect() to path-named sockets, so only capabilities that cannot work without
 * them get them. Subprocess keeps them: its children inherit this filter, and the programs a
 * plugin runs (pactl, notify-send, busctl...) talk to their servers over them; it is rated high
 * anyway. Network means IP only. */
static int unix_sockets_allowed(uint32_t granted) {
    return (granted & (MIDIMON_CAP_AUDIO | MIDIMON_CAP_SYSTEM_CONTROL | MIDIMON_CAP_SUBPROCESS)) !=
           0;
}

static int apply_landlock(const struct mm_sandbox_spec *spec, struct mm_enforcement *out,
                          char *err, size_t cap) {
    struct mm_ll_ruleset_attr attr;
    long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
    int ruleset, network = (spec->granted & MIDIMON_CAP_NETWORK) != 0;
    size_t i;
    if (abi < 0) {
        if (errno == ENOSYS || errno == EOPNOTSUPP) return 0; /* not built in / disabled */
        set_error(err, cap, "landlock_create_ruleset(VERSION)", errno);
        return -1;
    }
    memset(&attr, 0, sizeof attr);
    attr.handled_access_fs = LL_FS_ABI1;
    if (abi >= 2) attr.handled_access_fs |= LL_FS_REFER;
    if (abi >= 3) attr.handled_access_fs |= LL_FS_TRUNCATE;
    if (abi >= 5) attr.handled_access_fs |= LL_FS_IOCTL_DEV;
    if (abi >= 4 && !network) attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
    /* Abstract sockets are scoped whatever was granted: PipeWire, PulseAudio, JACK and D-Bus
     * listen on path-named sockets; X11 clients (libxcb) fall back from the abstract
     * "@/tmp/.X11-unix/X0" to the path-named one, so nothing a capability needs is lost. */
    if (abi >= 6) attr.scoped = LL_SCOPE_SIGNAL | LL_SCOPE_ABSTRACT_UNIX_SOCKET;
    /* Older kernels accept the larger struct as long as the fields they lack are zero. */
    ruleset = (int)syscall(__NR_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (ruleset < 0) {
        set_error(err, cap, "landlock_create_ruleset", errno);
        return -1;
    }
    for (i = 0; i < spec->path_count; i++) {
        struct mm_ll_path_beneath_attr rule;
        struct stat st;
        int fd = open(spec->paths[i], O_PATH | O_CLOEXEC);
        if (fd < 0) {
            out->rules_skipped++;
            continue;
        }
        if (fstat(fd, &st) != 0) {
            close(fd);
            out->rules_skipped++;
            continue;
        }
        rule.allowed_access =
            spec->access[i] == MM_PATH_WRITE ? attr.handled_access_fs : LL_FS_READ_RIGHTS;
        if (!S_ISDIR(st.st_mode)) rule.allowed_access &= LL_FS_FILE_RIGHTS;
        rule.allowed_access &= attr.handled_access_fs;
        rule.parent_fd = fd;
        if (syscall(__NR_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &rule, 0) != 0) {
            char what[64 + MM_MAX_PATH];
            int e = errno;
            snprintf(what, sizeof what, "landlock_add_rule(%s)", spec->paths[i]);
            set_error(err, cap, what, e);
            close(fd);
            close(ruleset);
            return -1;
        }
        close(fd);
        out->rules_added++;
    }
    if (syscall(__NR_landlock_restrict_self, ruleset, 0) != 0) {
        set_error(err, cap, "landlock_restrict_self", errno);
        close(ruleset);
        return -1;
    }
    close(ruleset);
    out->landlock_abi = (uint32_t)abi;
    out->flags |= MM_ENF_LANDLOCK_FS;
    if (attr.handled_access_net) out->flags |= MM_ENF_LANDLOCK_NET;
    if (attr.scoped & LL_SCOPE_SIGNAL) out->flags |= MM_ENF_SCOPE_SIGNAL;
    if (attr.scoped & LL_SCOPE_ABSTRACT_UNIX_SOCKET) out->flags |= MM_ENF_SCOPE_ABSTRACT_UNIX;
    return 0;
}

/* ---- seccomp ------------------------------------------------------------------------------- */

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
    ret_if_eq(f, AF_UNIX, unix_sockets_allowed(spec->granted) ? ALLOW : TRAP(MM_DENY_UNIX_SOCKET));
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
    ret_if_eq(f, AF_UNIX, unix_sockets_allowed(spec->granted) ? ALLOW : TRAP(MM_DENY_UNIX_SOCKET));
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

static int apply_seccomp(const struct mm_sandbox_spec *spec, struct mm_enforcement *out,
                         char *err, size_t cap) {
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
            set_error(err, cap, "seccomp(SECCOMP_GET_ACTION_AVAIL)", errno);
            return -1;
        }
    }
    prog.len = (unsigned short)filter.n;
    prog.filter = filter.insns;
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
        set_error(err, cap, "PR_SET_SECCOMP", errno);
        return -1;
    }
    out->flags |= MM_ENF_SECCOMP;
    if (!(spec->granted & MIDIMON_CAP_SUBPROCESS) && !(out->flags & MM_ENF_SCOPE_SIGNAL))
        out->flags |= MM_ENF_SIGNAL_FILTER;
    out->seccomp_arch = MM_SECCOMP_ARCH;
    return 0;
}

#else /* no filter for this architecture */

static int apply_seccomp(const struct mm_sandbox_spec *spec, struct mm_enforcement *out,
                         char *err, size_t cap) {
    (void)spec;
    (void)out;
    (void)err;
    (void)cap;
    return 0;
}

#endif

/* ---- all of it ----------------------------------------------------------------------------- */

int mm_sandbox_apply(const struct mm_sandbox_spec *spec, struct mm_enforcement *out,
                     char *err, size_t err_cap) {
    struct rlimit rl;
    memset(out, 0, sizeof *out);
    out->uid = (uint32_t)getuid();
    out->rlimit_as = out->rlimit_nproc = out->rlimit_nofile = out->rlimit_core = UINT64_MAX;
    if (getrlimit(RLIMIT_AS, &rl) == 0) out->rlimit_as = rlimit_value(rl.rlim_cur);

    if (apply_rlimits(spec, out, err, err_cap) != 0) return -1;
    if (unix_sockets_allowed(spec->granted) || !spec->kernel_sandbox)
        out->flags |= MM_ENF_UNIX_SOCKETS;
    if (!spec->kernel_sandbox) {
        if (holds_capabilities() == 0) out->flags |= MM_ENF_NO_CAPS;
        return 0;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        set_error(err, err_cap, "PR_SET_NO_NEW_PRIVS", errno);
        return -1;
    }
    out->flags |= MM_ENF_NO_NEW_PRIVS;
    if (drop_capabilities(out, err, err_cap) != 0) return -1;
    if (apply_landlock(spec, out, err, err_cap) != 0) return -1;
    if (apply_seccomp(spec, out, err, err_cap) != 0) return -1;
    return 0;
}
