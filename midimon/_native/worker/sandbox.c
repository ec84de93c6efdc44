/*
 * sandbox.c - confine the worker before any plugin code runs: the steps in order, the capability
 * drop, and the report of what a seccomp trap caught (the SIGSYS handler and DENIED).
 *
 * Order (mm_sandbox_apply): rlimits -> PR_SET_NO_NEW_PRIVS -> drop capabilities -> Landlock
 * -> seccomp-BPF. All of it happens while the worker has one thread and before dlopen(), which
 * runs the plugin's constructors. Landlock and seccomp are inherited by every thread and child
 * created afterwards and can never be lifted. The steps: rlimits.c, landlock.c, seccomp.c
 * (declared in sandbox_parts.h).
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

#include <errno.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "midimon_plugin.h"
#include "protocol.h"
#include "sandbox_parts.h"

/* ---- shared helpers (sandbox_parts.h) ------------------------------------------------------ */

void mm_set_error(char *err, size_t cap, const char *what, int e) {
    snprintf(err, cap, "%s: %s", what, strerror(e));
}

/* Local (AF_UNIX) sockets reach whatever listens on a path the user can connect to: the sound
 * server (Audio), the D-Bus session bus (System control; through it systemd --user starts any
 * program outside this sandbox), ssh-agent, X11, midimon's own control socket. Landlock does
 * not mediate connect() to path-named sockets, so only capabilities that cannot work without
 * them get them. Subprocess keeps them: its children inherit this filter, and the programs a
 * plugin runs (pactl, notify-send, busctl...) talk to their servers over them; it is rated high
 * anyway. Network means IP only. */
int mm_unix_sockets_allowed(uint32_t granted) {
    return (granted & (MIDIMON_CAP_AUDIO | MIDIMON_CAP_SYSTEM_CONTROL | MIDIMON_CAP_SUBPROCESS)) !=
           0;
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
    const char *name = reason == MM_DENY_FOREIGN_ABI ? "" : mm_syscall_name(nr);
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
        mm_set_error(err, cap, "capget", errno);
        return -1;
    }
    if (held) {
        (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        for (c = 0; c < 64; c++) {
            if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) {
                if (errno == EINVAL) break; /* past the last capability */
                if (errno == EPERM) break;  /* no CAP_SETPCAP: nothing to drop from it */
                mm_set_error(err, cap, "PR_CAPBSET_DROP", errno);
                return -1;
            }
        }
        memset(data, 0, sizeof data);
        if (syscall(SYS_capset, &header, data) != 0) {
            mm_set_error(err, cap, "capset", errno);
            return -1;
        }
        out->flags |= MM_ENF_CAPS_DROPPED;
    }
    if (holds_capabilities() == 0) out->flags |= MM_ENF_NO_CAPS;
    return 0;
}

/* ---- all of it ----------------------------------------------------------------------------- */

int mm_sandbox_apply(const struct mm_sandbox_spec *spec, struct mm_enforcement *out,
                     char *err, size_t err_cap) {
    memset(out, 0, sizeof *out);
    out->uid = (uint32_t)getuid();
    mm_rlimits_start_report(out);

    if (mm_apply_rlimits(spec, out, err, err_cap) != 0) return -1;
    if (mm_unix_sockets_allowed(spec->granted) || !spec->kernel_sandbox)
        out->flags |= MM_ENF_UNIX_SOCKETS;
    if (!spec->kernel_sandbox) {
        if (holds_capabilities() == 0) out->flags |= MM_ENF_NO_CAPS;
        return 0;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        mm_set_error(err, err_cap, "PR_SET_NO_NEW_PRIVS", errno);
        return -1;
    }
    out->flags |= MM_ENF_NO_NEW_PRIVS;
    if (drop_capabilities(out, err, err_cap) != 0) return -1;
    if (mm_apply_landlock(spec, out, err, err_cap) != 0) return -1;
    if (mm_apply_seccomp(spec, out, err, err_cap) != 0) return -1;
    return 0;
}
