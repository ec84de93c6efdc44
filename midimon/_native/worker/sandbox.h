/*
 * sandbox.h - the worker's sandbox: rlimits, no_new_privs, capability drop, Landlock, seccomp,
 * and the SIGSYS handler that reports a trapped syscall to the host. What worker.c calls; the
 * steps themselves are in rlimits.c, landlock.c and seccomp.c (sandbox_parts.h).
 */
#ifndef MIDIMON_WORKER_SANDBOX_H
#define MIDIMON_WORKER_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

/* What to confine the worker to: filled by worker.c from the host's LOAD message, owned by
 * worker.c (the paths and access arrays too) and only read by mm_sandbox_apply. */
struct mm_sandbox_spec {
    int kernel_sandbox;          /* 0: rlimits only */
    uint32_t granted;            /* MIDIMON_CAP_* bits */
    uint64_t address_space;      /* RLIMIT_AS bytes, 0 = leave as is */
    uint32_t max_processes;      /* RLIMIT_NPROC headroom, 0 = leave as is */
    uint32_t max_open_files;     /* RLIMIT_NOFILE, 0 = leave as is */
    const char *const *paths;    /* NUL-terminated absolute paths */
    const uint32_t *access;      /* MM_PATH_READ / MM_PATH_WRITE per path */
    size_t path_count;
};

/* What is in force after mm_sandbox_apply, as worker.c reports it to the host: owned by the
 * caller, written only by mm_sandbox_apply (which zeroes it first). */
struct mm_enforcement {
    uint32_t flags;              /* MM_ENF_* */
    uint32_t landlock_abi;
    uint64_t rlimit_as, rlimit_nproc, rlimit_nofile, rlimit_core;
    uint32_t uid;
    uint32_t rules_added, rules_skipped;
    uint32_t seccomp_arch;
};

/* Reset signal dispositions and the mask, and install the SIGSYS handler that reports to
 * `sock_fd`. Call once at start, before anything else can trap. `sock_fd` stays the caller's;
 * it is written to (DENIED) until the process exits, so it must stay open.
 * [main-thread, at startup, single-threaded] */
void mm_sandbox_init_signals(int sock_fd);

/* Apply the sandbox, in order: rlimits, no_new_privs, capability drop, Landlock, seccomp.
 * Must run while the process has a single thread. Returns 0, or -1 with a reason in `err`
 * when a step the kernel supports failed (the plugin must then not be loaded). A feature the
 * kernel lacks is not an error: `out` says what is in force. `spec` is only read, `out` and
 * `err` (`err_cap` bytes, NUL-terminated) are the caller's; nothing is kept after the return.
 * [main-thread, after mm_sandbox_init_signals, single-threaded, before dlopen] */
int mm_sandbox_apply(const struct mm_sandbox_spec *spec, struct mm_enforcement *out,
                     char *err, size_t err_cap);

/* Send one DENIED message to the host: a single send(), async-signal-safe, thread-safe; a
 * no-op before mm_sandbox_init_signals. `name` (at most MM_MAX_DENIED_NAME bytes are sent) is
 * read during the call only and may be NULL. [any-thread; async-signal-safe] */
void mm_send_denied(uint32_t reason, int fatal, int32_t nr, uint64_t arg0, uint64_t arg1,
                    const char *name);

#endif /* MIDIMON_WORKER_SANDBOX_H */
