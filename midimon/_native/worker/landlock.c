/*
 * landlock.c - the sandbox's Landlock ruleset: the filesystem paths a plugin may read or write,
 * TCP only with Network, and (ABI 6) signals and abstract sockets confined to the worker.
 *
 * A step of mm_sandbox_apply (sandbox.c), after no_new_privs and before seccomp. The ruleset is
 * inherited by every thread and child created afterwards and can never be lifted. See
 * sandbox_parts.h for threads and ownership.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "midimon_plugin.h"
#include "protocol.h"
#include "sandbox_parts.h"

/* ---- definitions (the build host's <linux/landlock.h> may predate ABI 4..7) ------------------- */

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

/* ---- the ruleset --------------------------------------------------------------------------- */

int mm_apply_landlock(const struct mm_sandbox_spec *spec, struct mm_enforcement *out, char *err,
                      size_t cap) {
    struct mm_ll_ruleset_attr attr;
    long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
    int ruleset, network = (spec->granted & MIDIMON_CAP_NETWORK) != 0;
    size_t i;
    if (abi < 0) {
        if (errno == ENOSYS || errno == EOPNOTSUPP) return 0; /* not built in / disabled */
        mm_set_error(err, cap, "landlock_create_ruleset(VERSION)", errno);
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
        mm_set_error(err, cap, "landlock_create_ruleset", errno);
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
            mm_set_error(err, cap, what, e);
            close(fd);
            close(ruleset);
            return -1;
        }
        close(fd);
        out->rules_added++;
    }
    if (syscall(__NR_landlock_restrict_self, ruleset, 0) != 0) {
        mm_set_error(err, cap, "landlock_restrict_self", errno);
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
