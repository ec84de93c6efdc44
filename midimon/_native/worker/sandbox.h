/*
 * sandbox.h - the worker's sandbox: rlimits, no_new_privs, capability drop, Landlock, seccomp,
 * and the SIGSYS handler that reports a trapped syscall to the host.
 */
#ifndef MIDIMON_WORKER_SANDBOX_H
#define MIDIMON_WORKER_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

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

struct mm_enforcement {
    uint32_t flags;              /* MM_ENF_* */
    uint32_t landlock_abi;
    uint64_t rlimit_as, rlimit_nproc, rlimit_nofile, rlimit_core;
    uint32_t uid;
    uint32_t rules_added, rules_skipped;
    uint32_t seccomp_arch;
};

/* Reset signal dispositions and the mask, and install the SIGSYS handler that reports to
 * `sock_fd`. Call once at start, before anything else can trap. */
void mm_sandbox_init_signals(int sock_fd);

/* Apply the sandbox, in order: rlimits, no_new_privs, capability drop, Landlock, seccomp.
 * Must run while the process has a single thread. Returns 0, or -1 with a reason in `err`
 * when a step the kernel supports failed (the plugin must then not be loaded). A feature the
 * kernel lacks is not an error: `out` says what is in force. */
int mm_sandbox_apply(const struct mm_sandbox_spec *spec, struct mm_enforcement *out,
                     char *err, size_t err_cap);

/* Send one DENIED message to the host: a single send(), async-signal-safe, thread-safe. */
void mm_send_denied(uint32_t reason, int fatal, int32_t nr, uint64_t arg0, uint64_t arg1,
                    const char *name);

#endif /* MIDIMON_WORKER_SANDBOX_H */
