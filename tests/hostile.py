"""A deliberately hostile plugin: its C source (each -DHOSTILE_<X> picks one misbehaviour), a
builder for it, and a reader of the audit lines it causes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

#: capability name -> the MIDIMON_CAP_* constant the plugin declares with -DP_CAPS
CAP_DEFINES = {
    "network": "MIDIMON_CAP_NETWORK",
    "filesystem": "MIDIMON_CAP_FILESYSTEM",
    "audio": "MIDIMON_CAP_AUDIO",
    "midi": "MIDIMON_CAP_MIDI",
    "subprocess": "MIDIMON_CAP_SUBPROCESS",
    "system_control": "MIDIMON_CAP_SYSTEM_CONTROL",
}


def hostile(
    make_plugin: Callable[..., Path],
    name: str,
    behaviour: str,
    caps: tuple[str, ...] = (),
    **defines: str,
) -> Path:
    """Build the hostile plugin ``name`` with -DHOSTILE_<behaviour>, asking for ``caps``."""
    all_defines = {f"HOSTILE_{behaviour}": "1", **defines}
    if caps:
        all_defines["P_CAPS"] = "|".join(CAP_DEFINES[c] for c in caps)
    return make_plugin(
        name,
        source=HOSTILE_SOURCE,
        defines=all_defines,
        manifest={"capabilities": {c: True for c in caps}},
    )


def audit(tmp_path: Path, plugin: str) -> list[dict]:
    """The audit log's events about ``plugin`` (the manager fixture's state dir)."""
    path = tmp_path / "state" / "audit.jsonl"
    return [e for e in map(json.loads, path.read_text().splitlines()) if e["plugin"] == plugin]


HOSTILE_SOURCE = r"""
#define _GNU_SOURCE
#include "midimon_plugin.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <stddef.h>
#include <unistd.h>

#ifndef P_NAME
#define P_NAME "hostile"
#endif
#ifndef P_CAPS
#define P_CAPS 0
#endif
#ifndef P_PATH
#define P_PATH "/etc/hostname"
#endif
#ifndef P_PORT
#define P_PORT 9
#endif
#ifndef P_COUNT
#define P_COUNT 20000
#endif
#ifndef P_COOKIE
#define P_COOKIE "/nonexistent"
#endif
#ifndef P_VICTIM
#define P_VICTIM "victim"
#endif

/* Connect a stream socket to P_PATH-style `path` ("@name": abstract); -1 and errno on failure. */
__attribute__((unused)) static int unix_connect(const char *path) {
    struct sockaddr_un addr;
    size_t n = strlen(path);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0) return -1;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, n < sizeof addr.sun_path ? n : sizeof addr.sun_path - 1);
    if (path[0] == '@') addr.sun_path[0] = '\0';
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    if (connect(s, (struct sockaddr *)&addr, len) < 0) {
        int e = errno;
        close(s);
        errno = e;
        return -1;
    }
    return s;
}

/* Append printf-style text to msg. */
#define APPEND(...) do { size_t u_ = strlen(msg); \
    if (u_ < cap) snprintf(msg + u_, cap - u_, __VA_ARGS__); } while (0)

static const midimon_host_t *g_host;

#ifdef HOSTILE_THREAD
static void *chatter(void *arg) {
    (void)arg;
    for (;;) { g_host->log(g_host, MIDIMON_LOG_INFO, "still here"); usleep(1000); }
    return NULL;
}
#endif

static int32_t p_init(const midimon_plugin_t *self, const midimon_host_t *host) {
    (void)self;
    g_host = host;
#ifdef HOSTILE_THREAD
    pthread_t t;
    pthread_create(&t, NULL, chatter, NULL);
    pthread_detach(t);
#endif
    return MIDIMON_OK;
}

__attribute__((unused)) static int32_t fail_errno(char *msg, size_t cap, const char *what) {
    snprintf(msg, cap, "%s: %s", what, strerror(errno));
    return MIDIMON_ERR_FAILED;
}

static int32_t p_exec(const midimon_plugin_t *self, const char *params, size_t len,
                      const midimon_trigger_context_t *ctx, char *msg, size_t cap) {
    (void)self; (void)params; (void)len; (void)ctx; (void)msg; (void)cap;
#if defined(HOSTILE_SEGV)
    volatile int *p = (int *)0; *p = 1;
#elif defined(HOSTILE_ABORT)
    abort();
#elif defined(HOSTILE_EXIT)
    exit(3);
#elif defined(HOSTILE_LOOP)
    for (volatile unsigned long i = 0;; i++) { }
#elif defined(HOSTILE_SLEEP)
    for (;;) pause();
#elif defined(HOSTILE_ALLOC)
    size_t total = 0;
    for (;;) {
        char *block = malloc(1 << 20);
        if (!block) {
            snprintf(msg, cap, "malloc failed after %zu MiB", total >> 20);
            return MIDIMON_ERR_FAILED;
        }
        memset(block, 1, 1 << 20);
        total += 1 << 20;
    }
#elif defined(HOSTILE_FORK)
    for (int i = 0; i < 100000; i++) { if (fork() < 0) return fail_errno(msg, cap, "fork"); }
#elif defined(HOSTILE_EXEC)
    execl("/bin/sh", "sh", "-c", "echo escaped", (char *)NULL);
    return fail_errno(msg, cap, "execl /bin/sh");
#elif defined(HOSTILE_SPAWN)
    pid_t child = fork();
    if (child < 0) return fail_errno(msg, cap, "fork");
    if (child == 0) { execl("/bin/sh", "sh", "-c", "exit 7", (char *)NULL); _exit(127); }
    int wstatus = 0;
    if (waitpid(child, &wstatus, 0) < 0) return fail_errno(msg, cap, "waitpid");
    snprintf(msg, cap, "child exited %d", WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
#elif defined(HOSTILE_CONNECT)
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) return fail_errno(msg, cap, "socket");
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(P_PORT);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
        close(s);
        return fail_errno(msg, cap, "connect");
    }
    (void)!write(s, "hello", 5);
    close(s);
    snprintf(msg, cap, "connected to 127.0.0.1:%d", P_PORT);
#elif defined(HOSTILE_HTTP)
    /* Send the request P_REQUEST to 127.0.0.1:P_PORT; the message is the status line. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) return fail_errno(msg, cap, "socket");
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(P_PORT);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
        close(s);
        return fail_errno(msg, cap, "connect");
    }
    (void)!write(s, P_REQUEST, strlen(P_REQUEST));
    char answer[64] = {0};
    ssize_t got = read(s, answer, sizeof answer - 1);
    close(s);
    if (got < 0) return fail_errno(msg, cap, "read");
    answer[strcspn(answer, "\r\n")] = 0;
    snprintf(msg, cap, "answer: %s", answer);
#elif defined(HOSTILE_READ)
    int fd = open(P_PATH, O_RDONLY);
    if (fd < 0) return fail_errno(msg, cap, "open " P_PATH);
    char buf[64] = {0};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    snprintf(msg, cap, "read %zd bytes", n);
#elif defined(HOSTILE_WRITE)
    int fd = open(P_PATH, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return fail_errno(msg, cap, "open " P_PATH);
    (void)!write(fd, "written\n", 8);
    close(fd);
    snprintf(msg, cap, "wrote " P_PATH);
#elif defined(HOSTILE_SPAM)
    static char junk[65536];
    memset(junk, 'A', sizeof junk);
    for (int i = 0; i < 160; i++) {
        (void)!write(1, junk, sizeof junk);
        (void)!write(2, junk, sizeof junk);
    }
    printf("\n{\"fake\": \"protocol\"}\n"); fflush(stdout);
    snprintf(msg, cap, "spammed");
#elif defined(HOSTILE_HUGE_ERROR)
    memset(msg, 'E', cap);  /* fills the whole buffer, no NUL */
    static char line[1 << 20];
    memset(line, 'L', sizeof line - 1);
    g_host->log(g_host, MIDIMON_LOG_ERROR, line);
    return MIDIMON_ERR_FAILED;
#elif defined(HOSTILE_THREAD)
    snprintf(msg, cap, "thread running");
#elif defined(HOSTILE_UNIX_SOCKET)
    /* socket(AF_UNIX), socketpair(), then a connect to the path P_PATH: what worked */
    int sv[2], s = socket(AF_UNIX, SOCK_STREAM, 0);
    msg[0] = '\0';
    APPEND("socket:%s;", s < 0 ? strerror(errno) : "ok");
    if (s >= 0) close(s);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        APPEND("socketpair:%s;", strerror(errno));
    } else {
        APPEND("socketpair:ok;");
        close(sv[0]);
        close(sv[1]);
    }
    s = unix_connect(P_PATH);
    APPEND("connect:%s;", s < 0 ? strerror(errno) : "ok");
    if (s >= 0) close(s);
#elif defined(HOSTILE_CONTROL)
    /* Drive the daemon through its control socket P_PATH: read its cookie, then HELLO with a
     * guessed cookie followed by a grant, HELLO without one, and each of grant, reload and stop
     * on its own. One line per attempt in msg. */
    static const char *scripts[] = {
        "{\"id\":1,\"command\":\"HELLO\",\"args\":{\"protocol\":2,\"cookie\":\""
        "0000000000000000000000000000000000000000000000000000000000000000\"}}\n"
        "{\"id\":2,\"command\":\"PLUGIN_GRANT\",\"args\":{\"name\":\"" P_VICTIM "\","
        "\"capability\":\"network\"}}\n",
        "{\"id\":3,\"command\":\"HELLO\",\"args\":{\"protocol\":2}}\n",
        "{\"id\":4,\"command\":\"PLUGIN_GRANT\",\"args\":{\"name\":\"" P_VICTIM "\","
        "\"capability\":\"network\"}}\n",
        "{\"id\":5,\"command\":\"RELOAD\"}\n",
        "{\"id\":6,\"command\":\"STOP\"}\n",
    };
    int fd = open(P_COOKIE, O_RDONLY);
    msg[0] = '\0';
    APPEND("cookie:%s\n", fd < 0 ? strerror(errno) : "READ");
    if (fd >= 0) close(fd);
    for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++) {
        char reply[1024];
        ssize_t got, n = 0;
        int s = unix_connect(P_PATH);
        if (s < 0) { APPEND("connect%zu:%s\n", i, strerror(errno)); continue; }
        (void)!write(s, scripts[i], strlen(scripts[i]));
        while ((got = read(s, reply + n, sizeof reply - 1 - (size_t)n)) > 0) n += got;
        reply[n] = '\0';
        for (ssize_t k = 0; k < n; k++) if (reply[k] == '\n') reply[k] = ' ';
        APPEND("reply%zu:%s\n", i, reply);
        close(s);
    }
#elif defined(HOSTILE_LOG_FLOOD)
    for (int i = 0; i < P_COUNT; i++) g_host->log(g_host, MIDIMON_LOG_INFO, "flood");
    snprintf(msg, cap, "logged %d", P_COUNT);
#elif defined(HOSTILE_MIDI_FLOOD)
    const uint8_t note[3] = {0x90, 60, 100};
    int refused = 0;
    for (int i = 0; i < P_COUNT; i++)
        if (g_host->send_midi(g_host, note, sizeof note) != MIDIMON_OK) refused++;
    snprintf(msg, cap, "sent %d refused %d", P_COUNT, refused);
#else
    snprintf(msg, cap, "behaved");
#endif
    return MIDIMON_OK;
}

static const midimon_plugin_t plugin = {
    MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR, sizeof(midimon_plugin_t), P_CAPS,
    P_NAME, "1.0.0", "hostile test plugin", NULL,
    p_init, p_exec, NULL, NULL, NULL, NULL, NULL,
};

MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { return &plugin; }
"""
