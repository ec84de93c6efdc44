/*
 * rlimits.c - the sandbox's resource limits: address space, tasks, open files, no core dumps.
 *
 * The first step of mm_sandbox_apply (sandbox.c), and the only one taken without the kernel
 * sandbox (isolation without Landlock and seccomp). See sandbox_parts.h for threads and
 * ownership.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#include "protocol.h"
#include "sandbox_parts.h"

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
        mm_set_error(err, cap, name, errno);
        return -1;
    }
    if (rl.rlim_max != RLIM_INFINITY && v > rl.rlim_max) v = rl.rlim_max; /* cannot raise */
    rl.rlim_cur = v;
    rl.rlim_max = v; /* the plugin cannot raise it back */
    if (setrlimit(resource, &rl) != 0) {
        mm_set_error(err, cap, name, errno);
        return -1;
    }
    return 0;
}

int mm_apply_rlimits(const struct mm_sandbox_spec *spec, struct mm_enforcement *out, char *err,
                     size_t cap) {
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

void mm_rlimits_start_report(struct mm_enforcement *out) {
    struct rlimit rl;
    out->rlimit_as = out->rlimit_nproc = out->rlimit_nofile = out->rlimit_core = UINT64_MAX;
    if (getrlimit(RLIMIT_AS, &rl) == 0) out->rlimit_as = rlimit_value(rl.rlim_cur);
}
