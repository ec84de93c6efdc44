"""C source of a deliberately hostile plugin; each -DHOSTILE_<X> picks one misbehaviour."""

from __future__ import annotations

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
#include <sys/wait.h>
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
#else
    snprintf(msg, cap, "behaved");
#endif
    return MIDIMON_OK;
}

static const midimon_plugin_t plugin = {
    MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR, sizeof(midimon_plugin_t), P_CAPS,
    P_NAME, "1.0.0", "hostile test plugin", NULL,
    p_init, p_exec, NULL, NULL, NULL,
};

MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { return &plugin; }
"""
