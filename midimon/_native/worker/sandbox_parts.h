/*
 * sandbox_parts.h - the sandbox's steps, one file each: rlimits.c, landlock.c, seccomp.c; and
 * the two helpers they share with sandbox.c, which runs the steps in order (mm_sandbox_apply)
 * and reports what a seccomp trap caught (the SIGSYS handler).
 *
 * Threads: a step marked [startup] runs on the worker's main thread while it is the process's
 * only thread, after mm_sandbox_init_signals() and before dlopen() runs any plugin code.
 * Ownership: `spec` (and the paths and access bits it points to) belongs to the caller and is
 * only read; `out` belongs to the caller and each step only adds its own flags and fields;
 * `err` is the caller's buffer of `cap` bytes, written (NUL-terminated, truncated) only when a
 * step returns -1. No step keeps a pointer past its return; none allocates on the heap.
 */
#ifndef MIDIMON_WORKER_SANDBOX_PARTS_H
#define MIDIMON_WORKER_SANDBOX_PARTS_H

#include <stddef.h>
#include <stdint.h>

#include "sandbox.h"

/* ---- shared (sandbox.c) -------------------------------------------------------------------- */

/* Write "what: strerror(e)" into `err` (`cap` bytes). `what` is read during the call only.
 * [any-thread; not async-signal-safe] */
void mm_set_error(char *err, size_t cap, const char *what, int e);

/* Whether `granted` (MIDIMON_CAP_* bits) holds a capability that cannot work without local
 * (AF_UNIX) sockets; mirrored by LOCAL_SOCKET_CAPABILITIES in
 * midimon/plugins/description/capabilities.py. [any-thread] */
int mm_unix_sockets_allowed(uint32_t granted);

/* ---- rlimits.c ----------------------------------------------------------------------------- */

/* Set `out`'s rlimit fields to "unknown" (UINT64_MAX), RLIMIT_AS to its current value: what is
 * reported when mm_apply_rlimits fails. [startup] */
void mm_rlimits_start_report(struct mm_enforcement *out);

/* RLIMIT_AS, RLIMIT_NPROC (headroom over the user's tasks now), RLIMIT_NOFILE (at least 16),
 * RLIMIT_CORE = 0, each with soft = hard so the plugin cannot raise it back; sets
 * MM_ENF_RLIMITS and the rlimit_* fields to the limits in force. 0, or -1 and `err`. [startup] */
int mm_apply_rlimits(const struct mm_sandbox_spec *spec, struct mm_enforcement *out, char *err,
                     size_t cap);

/* ---- landlock.c ---------------------------------------------------------------------------- */

/* Restrict the filesystem to spec's paths (read or write), TCP to nothing without Network, and
 * (ABI 6) signals and abstract sockets to the worker, for this process and all it starts
 * later. A kernel without Landlock is not an error (0, no flag). Sets MM_ENF_LANDLOCK_*,
 * MM_ENF_SCOPE_*, landlock_abi and rules_added / rules_skipped. 0, or -1 and `err`. [startup,
 * after no_new_privs] */
int mm_apply_landlock(const struct mm_sandbox_spec *spec, struct mm_enforcement *out, char *err,
                      size_t cap);

/* ---- seccomp.c ----------------------------------------------------------------------------- */

/* Install the deny-list filter (SECCOMP_RET_TRAP with an MM_DENY_* reason). Reads
 * MM_ENF_SCOPE_SIGNAL from `out`, so it runs after mm_apply_landlock. A kernel or an
 * architecture without seccomp filters is not an error (0, no flag). Sets MM_ENF_SECCOMP,
 * MM_ENF_SIGNAL_FILTER and seccomp_arch. 0, or -1 and `err`. [startup, last step] */
int mm_apply_seccomp(const struct mm_sandbox_spec *spec, struct mm_enforcement *out, char *err,
                     size_t cap);

/* The name of syscall `nr` when the filter traps it (always or by argument), else "". A static
 * string: never NULL, never freed. [any-thread; async-signal-safe: the SIGSYS handler calls it] */
const char *mm_syscall_name(int nr);

#endif /* MIDIMON_WORKER_SANDBOX_PARTS_H */
