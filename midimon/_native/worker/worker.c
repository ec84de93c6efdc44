/*
 * midimon-worker - run one native midimon plugin in a sandboxed process.
 *
 * Started by the host (midimon/plugins/sandbox/worker.py) with one end of an AF_UNIX
 * SOCK_SEQPACKET socketpair as fd 3; the wire protocol is in protocol.h. The worker:
 *   1. says HELLO, receives LOAD (sandbox spec + the verified plugin image as a sealed memfd),
 *   2. applies the sandbox (sandbox.c) and reports it (SANDBOXED) before any plugin code runs,
 *   3. dlopens the image through /proc/self/fd/N, calls _create_plugin, reports LOADED,
 *   4. serves INIT / EXECUTE / SHUTDOWN on its main thread (the plugin's "host thread").
 * A crashing plugin takes the worker down with it; the host sees that as EOF plus the wait
 * status. EOF on fd 3 makes the worker exit at once, even while plugin code is running.
 *
 * Loading a memfd under Landlock: the ruleset grants nothing on /proc, and needs not. Opening
 * /proc/self/fd/N follows the magic link to the memfd's own file, and Landlock checks that file,
 * not the /proc path: a memfd lives on the kernel-internal shmem mount (MNT_INTERNAL) as a
 * disconnected dentry, and Landlock allows access to files of internal filesystems that are only
 * reachable through /proc/<pid>/fd (security/landlock/fs.c: "Stops at disconnected root
 * directories. Only allows access to internal filesystems"). Measured on Linux 6.18, Landlock
 * ABI 7, with a ruleset that grants nothing at all: the open succeeds and dlopen() maps the
 * image; /etc/hostname in the same process fails with EACCES. mmap(PROT_EXEC) of the mapped
 * file is not a Landlock right (LANDLOCK_ACCESS_FS_EXECUTE is checked by execve only), so no
 * rule is needed for the image: only the plugin's own DT_NEEDED libraries (libc is already
 * mapped; libm, libgcc_s ...) need the read rules on the system library folders. No fallback is
 * needed; should a future kernel refuse it, dlopen fails with EACCES and the host is told
 * (MM_LOAD_ERR_DLOPEN), never a silent unsandboxed load. Note: with vm.memfd_noexec = 2 the
 * kernel refuses executable memfds entirely; the host then cannot create the image.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "midimon_plugin.h"
#include "protocol.h"
#include "sandbox.h"

#define FD MM_SOCKET_FD

/* The ABI 1.0 plugin struct: the smallest struct_size any 1.x plugin may report. */
#define MM_PLUGIN_V1_0_SIZE MIDIMON_PLUGIN_V1_0_SIZE

static pthread_t g_main_thread;
static volatile sig_atomic_t g_in_call; /* main thread is inside initialize() or execute() */
static uint32_t g_granted;
static uint32_t g_next_midi_seq = MM_WORKER_SEQ_BASE;
static uint8_t g_rx[MM_MAX_DATAGRAM]; /* main thread only */
static char g_host_version[MM_MAX_HOST_VERSION + 1];
static midimon_host_t g_host;
static const midimon_plugin_t *g_raw;  /* the plugin's own struct: passed as `self` */
static midimon_plugin_t g_view;        /* our zero-extended copy: the pointers we call */
static char g_mode[MM_MAX_MODE + 1];
static char g_source[MM_MAX_EVENT_NAME + 1], g_event_name[MM_MAX_EVENT_NAME + 1];
static char *g_params;
static volatile int g_started; /* between start() returning MIDIMON_OK and stop() */
static pthread_mutex_t g_event_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t g_event_rate;  /* MM_START's max_events_per_s */
static double g_event_tokens;
static uint64_t g_event_last_ns;
static uint32_t g_event_dropped; /* not yet reported to the host */
static uint64_t g_drop_report_ns; /* when EVENTS_DROPPED was last sent */
static uint32_t g_params_cap, g_params_total, g_params_have;

static void protocol_violation(void) { _exit(MM_EXIT_PROTOCOL); }

/* ---- transport ----------------------------------------------------------------------------- */

/* One message = one datagram = one sendmsg(): safe from any thread. The host gone -> exit. */
static void send_msg(uint32_t type, uint32_t seq, const void *a, size_t na, const void *b,
                     size_t nb) {
    uint8_t header[MM_HEADER_SIZE];
    struct iovec iov[3];
    struct msghdr mh;
    mm_put_header(header, type, seq, (uint32_t)(na + nb));
    iov[0].iov_base = header;
    iov[0].iov_len = sizeof header;
    iov[1].iov_base = (void *)a;
    iov[1].iov_len = na;
    iov[2].iov_base = (void *)b;
    iov[2].iov_len = nb;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = iov;
    mh.msg_iovlen = 3;
    for (;;) {
        if (sendmsg(FD, &mh, MSG_NOSIGNAL) >= 0) return;
        if (errno != EINTR) _exit(MM_EXIT_OK);
    }
}

/* Receive one datagram into `buf` (MM_MAX_DATAGRAM bytes); returns its size. `fd_out` (or
 * NULL) takes at most one SCM_RIGHTS fd; any other fd is a violation. EOF -> exit. */
static size_t recv_datagram(uint8_t *buf, int *fd_out) {
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 4)];
    } control;
    struct iovec iov;
    struct msghdr mh;
    struct cmsghdr *cmsg;
    ssize_t got;
    int fds = 0;
    if (fd_out) *fd_out = -1;
    iov.iov_base = buf;
    iov.iov_len = MM_MAX_DATAGRAM;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control.buf;
    mh.msg_controllen = sizeof control.buf;
    do {
        got = recvmsg(FD, &mh, MSG_CMSG_CLOEXEC);
    } while (got < 0 && errno == EINTR);
    if (got <= 0) _exit(MM_EXIT_OK); /* EOF or reset: the host is gone */
    for (cmsg = CMSG_FIRSTHDR(&mh); cmsg; cmsg = CMSG_NXTHDR(&mh, cmsg)) {
        size_t i, n;
        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) protocol_violation();
        n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
            if (fd_out && fds == 0) *fd_out = fd;
            else close(fd);
            fds++;
        }
    }
    if (fds > 1 || (fds && !fd_out)) protocol_violation();
    if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) protocol_violation();
    if (got < MM_HEADER_SIZE) protocol_violation();
    return (size_t)got;
}

/* Datagrams that arrived while send_midi() waited for its MIDI_STATUS: the host pipelines its
 * requests, so the next datagram need not be that answer. Kept in order and served before the
 * socket is read again. Bounded: the host bounds what it has in flight far below this. */
struct stashed {
    struct stashed *next;
    size_t len;
    uint8_t data[];
};
static struct stashed *g_stash_head, *g_stash_tail;
static size_t g_stash_bytes;
#define MM_MAX_STASH (64u * 1024u * 1024u)

static void stash(const uint8_t *data, size_t len) {
    struct stashed *s;
    if (g_stash_bytes + len > MM_MAX_STASH) protocol_violation();
    s = malloc(sizeof *s + len);
    if (!s) _exit(MM_EXIT_INTERNAL); /* the plugin ate the address space */
    s->next = NULL;
    s->len = len;
    memcpy(s->data, data, len);
    if (g_stash_tail) g_stash_tail->next = s;
    else g_stash_head = s;
    g_stash_tail = s;
    g_stash_bytes += len;
}

/* Next host message (several may share a datagram: the host packs queued requests). Its
 * payload is at g_msg; returns the payload length. `fd_out` as for recv_datagram: only the
 * LOAD datagram carries an fd, and LOAD travels alone. */
static size_t g_rx_len, g_rx_off; /* the datagram in g_rx, and where its next message starts */
static const uint8_t *g_msg;

static uint32_t recv_msg(uint32_t *type, uint32_t *seq, int *fd_out) {
    const uint8_t *h;
    size_t left;
    uint32_t length;
    if (fd_out) *fd_out = -1;
    if (g_rx_off >= g_rx_len) {
        struct stashed *s = g_stash_head;
        if (s) {
            g_stash_head = s->next;
            if (!g_stash_head) g_stash_tail = NULL;
            g_stash_bytes -= s->len;
            memcpy(g_rx, s->data, s->len);
            g_rx_len = s->len;
            free(s);
        } else {
            g_rx_len = recv_datagram(g_rx, fd_out);
        }
        g_rx_off = 0;
    }
    h = g_rx + g_rx_off;
    left = g_rx_len - g_rx_off;
    if (left < MM_HEADER_SIZE) protocol_violation();
    length = mm_get_u32(h + 8);
    if (length > MM_MAX_PAYLOAD || length > left - MM_HEADER_SIZE || mm_get_u32(h + 12) != 0)
        protocol_violation();
    *type = mm_get_u32(h);
    *seq = mm_get_u32(h + 4);
    g_msg = h + MM_HEADER_SIZE;
    g_rx_off += MM_HEADER_SIZE + length;
    return length;
}

/* Whether the message just received was the last of its datagram. */
static int datagram_done(void) { return g_rx_off >= g_rx_len; }

static void send_status(uint32_t type, uint32_t seq, int32_t status, const char *text,
                        size_t text_len) {
    uint8_t s[4];
    mm_put_u32(s, (uint32_t)status);
    send_msg(type, seq, s, sizeof s, text, text_len);
}

/* ---- host services offered to the plugin --------------------------------------------------- */

static void host_log(const midimon_host_t *host, int32_t level, const char *message) {
    uint8_t lv[4];
    (void)host;
    if (!message) return;
    mm_put_u32(lv, (uint32_t)level);
    send_msg(MM_LOG, 0, lv, sizeof lv, message, strnlen(message, MM_MAX_LOG));
}

/* Wait for the host's MIDI_STATUS answer to request `seq`; requests the host sent meanwhile
 * wait in the stash (MIDI_STATUS always comes alone). */
static int32_t await_midi_status(uint32_t seq) {
    for (;;) {
        static uint8_t buf[MM_MAX_DATAGRAM];
        size_t got = recv_datagram(buf, NULL);
        if (mm_get_u32(buf) != MM_MIDI_STATUS) {
            stash(buf, got);
            continue;
        }
        if (got != MM_HEADER_SIZE + MM_MIDI_STATUS_SIZE || mm_get_u32(buf + 4) != seq ||
            mm_get_u32(buf + 8) != MM_MIDI_STATUS_SIZE || mm_get_u32(buf + 12) != 0)
            protocol_violation();
        return (int32_t)mm_get_u32(buf + MM_HEADER_SIZE);
    }
}

static uint64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* [any-thread & started]: check, rate-cap (token bucket of one second's worth), send one EVENT. */
static int32_t host_emit_event(const midimon_host_t *host, const midimon_event_t *event) {
    uint8_t fixed[MM_EVENT_FIXED];
    uint64_t bits, now;
    size_t name_len;
    uint32_t dropped;
    (void)host;
    if (!g_started) return MIDIMON_ERR_UNSUPPORTED;
    if (!event || event->struct_size < offsetof(midimon_event_t, reserved0) || !event->name)
        return MIDIMON_ERR_INVALID_PARAMS;
    name_len = strnlen(event->name, MM_MAX_EVENT_NAME + 1);
    if (name_len == 0 || name_len > MM_MAX_EVENT_NAME || event->number > 127 ||
        event->velocity > 127 || event->channel > 15 || event->value != event->value ||
        event->value > 1e308 || event->value < -1e308 ||
        (event->flags & ~(uint32_t)(MIDIMON_EVENT_HAS_NUMBER | MIDIMON_EVENT_HAS_VELOCITY |
                                    MIDIMON_EVENT_HAS_CHANNEL)))
        return MIDIMON_ERR_INVALID_PARAMS;
    pthread_mutex_lock(&g_event_lock);
    now = monotonic_ns();
    g_event_tokens += (double)(now - g_event_last_ns) * 1e-9 * g_event_rate;
    if (g_event_tokens > g_event_rate) g_event_tokens = g_event_rate;
    g_event_last_ns = now;
    if (g_event_tokens < 1.0) {
        g_event_dropped++;
        if (now - g_drop_report_ns >= MM_DROP_REPORT_NS) {
            uint8_t count[MM_EVENTS_DROPPED_SIZE];
            mm_put_u32(count, g_event_dropped);
            g_event_dropped = 0;
            g_drop_report_ns = now;
            send_msg(MM_EVENTS_DROPPED, 0, count, sizeof count, NULL, 0);
        }
        pthread_mutex_unlock(&g_event_lock);
        return MIDIMON_OK; /* dropped past the cap: counted and reported */
    }
    g_event_tokens -= 1.0;
    dropped = g_event_dropped;
    g_event_dropped = 0;
    memcpy(&bits, &event->value, sizeof bits);
    mm_put_u64(fixed, bits);
    mm_put_u32(fixed + 8, event->flags);
    fixed[12] = event->number;
    fixed[13] = event->velocity;
    fixed[14] = event->channel;
    fixed[15] = 0;
    mm_put_u32(fixed + 16, dropped);
    mm_put_u32(fixed + 20, (uint32_t)name_len);
    /* Sent under the lock, so dropped counts and events reach the host in order. */
    send_msg(MM_EVENT, 0, fixed, sizeof fixed, event->name, name_len);
    pthread_mutex_unlock(&g_event_lock);
    return MIDIMON_OK;
}

static int32_t host_send_midi(const midimon_host_t *host, const uint8_t *bytes, size_t len) {
    uint32_t seq;
    (void)host;
    if (!(g_granted & MIDIMON_CAP_MIDI)) {
        mm_send_denied(MM_DENY_MIDI, 0, -1, (uint64_t)len, 0, "send_midi");
        return MIDIMON_ERR_DENIED;
    }
    if (!pthread_equal(pthread_self(), g_main_thread) || !g_in_call)
        return MIDIMON_ERR_UNSUPPORTED; /* [host-thread & initialized] */
    if (!bytes || len == 0 || len > MM_MAX_MIDI) return MIDIMON_ERR_INVALID_PARAMS;
    seq = g_next_midi_seq++;
    send_msg(MM_SEND_MIDI, seq, bytes, len, NULL, 0);
    return await_midi_status(seq);
}

/* "midimon.leds/1": set_pad() travels as SET_LED and is answered like send_midi(). */
static int32_t host_set_pad(const midimon_host_t *host, uint32_t pad, const char *color) {
    uint8_t fixed[MM_SET_LED_FIXED];
    size_t len;
    uint32_t seq;
    (void)host;
    if (!(g_granted & MIDIMON_CAP_MIDI)) {
        mm_send_denied(MM_DENY_MIDI, 0, -1, (uint64_t)pad, 0, "set_pad");
        return MIDIMON_ERR_DENIED;
    }
    if (!pthread_equal(pthread_self(), g_main_thread) || !g_in_call)
        return MIDIMON_ERR_UNSUPPORTED; /* [host-thread & initialized] */
    if (!color) return MIDIMON_ERR_INVALID_PARAMS;
    len = strnlen(color, MM_MAX_LED_COLOR + 1);
    if (len == 0 || len > MM_MAX_LED_COLOR) return MIDIMON_ERR_INVALID_PARAMS;
    mm_put_u32(fixed, pad);
    seq = g_next_midi_seq++;
    send_msg(MM_SET_LED, seq, fixed, sizeof fixed, color, len);
    return await_midi_status(seq);
}

static const midimon_host_leds_t g_leds = {sizeof(midimon_host_leds_t), 0, host_set_pad};

static const void *host_get_extension(const midimon_host_t *host, const char *id) {
    (void)host;
    if (id && strcmp(id, MIDIMON_EXT_LEDS) == 0) return &g_leds;
    return NULL;
}

/* ---- watchdog: exit as soon as the host hangs up, even while plugin code runs -------------- */

static void *watchdog(void *arg) {
    sigset_t all;
    (void)arg;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    for (;;) {
        struct pollfd p;
        int r;
        p.fd = FD;
        p.events = 0; /* only POLLHUP / POLLERR / POLLNVAL: never consumes a message */
        p.revents = 0;
        r = poll(&p, 1, -1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 || (p.revents & (POLLHUP | POLLERR | POLLNVAL))) _exit(MM_EXIT_OK);
    }
    return NULL;
}

static void start_watchdog(void) {
    pthread_attr_t attr;
    pthread_t thread;
    if (pthread_attr_init(&attr) != 0) return;
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    (void)pthread_create(&thread, &attr, watchdog, NULL); /* best effort (RLIMIT_NPROC) */
    pthread_attr_destroy(&attr);
}

/* ---- LOAD ---------------------------------------------------------------------------------- */

static void reply_loaded(uint32_t seq, uint32_t error, const uint32_t header[3], uint32_t caps,
                         uint32_t members, const char *strings[3], const char *text) {
    static uint8_t buf[MM_LOADED_FIXED + 3 * MM_MAX_STRING + MM_MAX_ERROR_TEXT];
    size_t lens[4], off = MM_LOADED_FIXED;
    int i;
    mm_put_u32(buf, error);
    mm_put_u32(buf + 4, header ? header[0] : 0);
    mm_put_u32(buf + 8, header ? header[1] : 0);
    mm_put_u32(buf + 12, header ? header[2] : 0);
    mm_put_u32(buf + 16, caps);
    mm_put_u32(buf + 20, members);
    for (i = 0; i < 3; i++) lens[i] = strings && strings[i] ? strnlen(strings[i], MM_MAX_STRING) : 0;
    lens[3] = text ? strnlen(text, MM_MAX_ERROR_TEXT) : 0;
    for (i = 0; i < 4; i++) {
        const char *s = i < 3 ? (strings ? strings[i] : NULL) : text;
        mm_put_u32(buf + 24 + 4 * i, (uint32_t)lens[i]);
        if (lens[i]) memcpy(buf + off, s, lens[i]);
        off += lens[i];
    }
    send_msg(MM_LOADED, seq, buf, off, NULL, 0);
}

/* Reply LOADED with an error and exit: nothing else of the plugin is called. The texts match
 * the in-process loader's (midimon/plugins/loading/loader.py), so both modes explain a refusal
 * alike. */
static void load_failed(uint32_t seq, uint32_t error, const uint32_t header[3], const char *fmt,
                        ...) __attribute__((format(printf, 4, 5), noreturn));
static void load_failed(uint32_t seq, uint32_t error, const uint32_t header[3], const char *fmt,
                        ...) {
    char text[MM_MAX_ERROR_TEXT];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof text, fmt, args);
    va_end(args);
    reply_loaded(seq, error, header, 0, 0, NULL, text);
    _exit(MM_EXIT_OK);
}

static void handle_load(uint32_t seq, uint32_t length, int image_fd) {
    const uint8_t *p = g_msg;
    struct mm_sandbox_spec spec;
    struct mm_enforcement enf;
    static const char *paths[MM_MAX_PATHS];
    static uint32_t access[MM_MAX_PATHS];
    static char path_store[MM_MAX_PAYLOAD + MM_MAX_PATHS]; /* each path + its NUL */
    char err[MM_MAX_ERROR_TEXT], image_path[64];
    uint32_t flags, version_len, count, i, off, store = 0, header[3];
    uint8_t report[MM_SANDBOXED_SIZE];
    struct stat st;
    const char *strings[3];
    void *lib;
    midimon_create_plugin_fn create;
    int seals;

    if (length < MM_LOAD_FIXED || mm_get_u32(p) != MM_PROTOCOL_VERSION) protocol_violation();
    flags = mm_get_u32(p + 4);
    if (flags & ~MM_LOAD_KERNEL_SANDBOX) protocol_violation();
    memset(&spec, 0, sizeof spec);
    spec.kernel_sandbox = (flags & MM_LOAD_KERNEL_SANDBOX) != 0;
    spec.granted = mm_get_u32(p + 8);
    spec.max_processes = mm_get_u32(p + 12);
    spec.address_space = mm_get_u64(p + 16);
    spec.max_open_files = mm_get_u32(p + 24);
    version_len = mm_get_u32(p + 28);
    count = mm_get_u32(p + 32);
    if (version_len > MM_MAX_HOST_VERSION || count > MM_MAX_PATHS) protocol_violation();
    off = MM_LOAD_FIXED;
    if (length - off < version_len) protocol_violation();
    memcpy(g_host_version, p + off, version_len);
    g_host_version[version_len] = '\0';
    off += version_len;
    for (i = 0; i < count; i++) {
        uint32_t kind, len;
        if (length - off < 8) protocol_violation();
        kind = mm_get_u32(p + off);
        len = mm_get_u32(p + off + 4);
        off += 8;
        if ((kind != MM_PATH_READ && kind != MM_PATH_WRITE) || len == 0 || len > MM_MAX_PATH ||
            length - off < len || p[off] != '/' || memchr(p + off, '\0', len))
            protocol_violation();
        memcpy(path_store + store, p + off, len);
        path_store[store + len] = '\0';
        paths[i] = path_store + store;
        access[i] = kind;
        store += len + 1;
        off += len;
    }
    if (off != length) protocol_violation();
    spec.paths = paths;
    spec.access = access;
    spec.path_count = count;
    g_granted = spec.granted;

    /* The image: a sealed memfd, so the bytes dlopen maps are the bytes the host verified. */
    if (image_fd < 0) load_failed(seq, MM_LOAD_ERR_IMAGE, NULL, "no plugin image fd was sent");
    seals = fcntl(image_fd, F_GET_SEALS);
    if (fstat(image_fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || seals < 0 ||
        (seals & (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK)) !=
            (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK))
        load_failed(seq, MM_LOAD_ERR_IMAGE, NULL,
                    "the plugin image is not a sealed memfd (write, grow and shrink seals)");

    /* Buffers the protocol needs later, allocated before RLIMIT_AS and the plugin. */
    g_params_cap = 64 * 1024;
    g_params = malloc(g_params_cap);
    if (!g_params) _exit(MM_EXIT_INTERNAL);

    if (mm_sandbox_apply(&spec, &enf, err, sizeof err) != 0)
        load_failed(seq, MM_LOAD_ERR_SANDBOX, NULL, "sandbox setup failed: %s", err);
    mm_put_u32(report, enf.flags);
    mm_put_u32(report + 4, enf.landlock_abi);
    mm_put_u64(report + 8, enf.rlimit_as);
    mm_put_u64(report + 16, enf.rlimit_nproc);
    mm_put_u64(report + 24, enf.rlimit_nofile);
    mm_put_u64(report + 32, enf.rlimit_core);
    mm_put_u32(report + 40, enf.uid);
    mm_put_u32(report + 44, enf.rules_added);
    mm_put_u32(report + 48, enf.rules_skipped);
    mm_put_u32(report + 52, enf.seccomp_arch);
    send_msg(MM_SANDBOXED, seq, report, sizeof report, NULL, 0);
    start_watchdog();

    /* From here on plugin code runs (constructors first). */
    snprintf(image_path, sizeof image_path, "/proc/self/fd/%d", image_fd);
    lib = dlopen(image_path, RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        load_failed(seq, MM_LOAD_ERR_DLOPEN, NULL,
                    "not a shared library this system can load (%s)", dlerror());
    dlerror();
    {
        void *symbol = dlsym(lib, MIDIMON_ENTRY_SYMBOL);
        memcpy(&create, &symbol, sizeof create); /* object -> function pointer, as POSIX does */
    }
    if (!create)
        load_failed(seq, MM_LOAD_ERR_NO_ENTRY, NULL,
                    "does not export _create_plugin; define it with MIDIMON_EXPORT");
    g_raw = create();
    if (!g_raw) load_failed(seq, MM_LOAD_ERR_NULL_PLUGIN, NULL, "_create_plugin returned NULL");

    /* abi_major, abi_minor, struct_size first; then at most min(struct_size, ours) bytes. */
    memcpy(header, g_raw, sizeof header);
    if (header[0] != MIDIMON_ABI_MAJOR)
        load_failed(seq, MM_LOAD_ERR_ABI_MAJOR, header,
                    "built for ABI %u.%u, but this host speaks ABI %d.%d: the major version must "
                    "be %d; rebuild against abi/midimon_plugin.h",
                    header[0], header[1], MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR, MIDIMON_ABI_MAJOR);
    if (header[1] > MIDIMON_ABI_MINOR)
        load_failed(seq, MM_LOAD_ERR_ABI_MINOR, header,
                    "built for ABI %u.%u, newer than this host's %d.%d; upgrade midimon or "
                    "rebuild the plugin against the older header",
                    header[0], header[1], MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR);
    if (header[2] < MM_PLUGIN_V1_0_SIZE || header[2] > MM_MAX_STRUCT_SIZE)
        load_failed(seq, MM_LOAD_ERR_STRUCT_SIZE, header,
                    "plugin struct_size is %u bytes; ABI %d.0 needs at least %u: set it to "
                    "sizeof(midimon_plugin_t)",
                    header[2], MIDIMON_ABI_MAJOR, (unsigned)MM_PLUGIN_V1_0_SIZE);
    memset(&g_view, 0, sizeof g_view);
    memcpy(&g_view, g_raw, header[2] < sizeof g_view ? header[2] : sizeof g_view);

    {
        uint32_t members = (g_view.initialize ? MM_HAS_INITIALIZE : 0) |
                           (g_view.execute ? MM_HAS_EXECUTE : 0) |
                           (g_view.shutdown ? MM_HAS_SHUTDOWN : 0) |
                           (g_view.destroy ? MM_HAS_DESTROY : 0) |
                           (g_view.get_extension ? MM_HAS_GET_EXTENSION : 0) |
                           (g_view.start ? MM_HAS_START : 0) | (g_view.stop ? MM_HAS_STOP : 0) |
                           (g_view.name ? MM_HAS_NAME : 0) |
                           (g_view.version ? MM_HAS_VERSION : 0) |
                           (g_view.description ? MM_HAS_DESCRIPTION : 0);
        const char *missing = !g_view.execute && !g_view.start ? "execute"
                              : !g_view.name ? "name"
                              : !g_view.version ? "version" : !g_view.description ? "description"
                              : NULL;
        strings[0] = g_view.name;
        strings[1] = g_view.version;
        strings[2] = g_view.description;
        if (missing) {
            char text[128];
            snprintf(text, sizeof text, "plugin struct member %s is NULL; %s", missing,
                     g_view.execute || g_view.start
                         ? "it must be a string"
                         : "it is required (a trigger plugin sets start instead)");
            reply_loaded(seq, MM_LOAD_ERR_INVALID, header, g_view.capabilities, members, strings,
                         text);
            _exit(MM_EXIT_OK);
        }
        reply_loaded(seq, MM_LOAD_OK, header, g_view.capabilities, members, strings, NULL);
    }
}

/* ---- INIT / EXECUTE / SHUTDOWN ------------------------------------------------------------- */

static void ensure_params_capacity(uint32_t need) {
    char *grown;
    if (need <= g_params_cap) return;
    grown = realloc(g_params, need);
    if (!grown) _exit(MM_EXIT_INTERNAL); /* the plugin ate the address space */
    g_params = grown;
    g_params_cap = need;
}

static void handle_params(uint32_t length) {
    const uint8_t *p = g_msg;
    uint32_t total, offset, chunk;
    if (length < MM_PARAMS_FIXED) protocol_violation();
    total = mm_get_u32(p);
    offset = mm_get_u32(p + 4);
    chunk = length - MM_PARAMS_FIXED;
    if (total > MM_MAX_PARAMS || chunk == 0 || chunk > MM_PARAMS_CHUNK) protocol_violation();
    if (g_params_have == 0) g_params_total = total;
    if (total != g_params_total || offset != g_params_have || chunk > total - offset)
        protocol_violation();
    ensure_params_capacity(total + 1);
    memcpy(g_params + offset, p + MM_PARAMS_FIXED, chunk);
    g_params_have += chunk;
}

static void handle_execute(uint32_t seq, uint32_t length, int initialized) {
    const uint8_t *p = g_msg;
    midimon_trigger_context_t ctx;
    char message[MM_MESSAGE_CAPACITY];
    uint32_t params_len, mode_len, tail_len, source_len, event_len, strings;
    uint64_t value_bits;
    double event_value;
    int32_t status;
    if (length < MM_EXECUTE_FIXED) protocol_violation();
    params_len = mm_get_u32(p);
    mode_len = mm_get_u32(p + 32);
    tail_len = mm_get_u32(p + 36);
    value_bits = mm_get_u64(p + 40);
    memcpy(&event_value, &value_bits, sizeof event_value);
    source_len = mm_get_u32(p + 48);
    event_len = mm_get_u32(p + 52);
    if (params_len > MM_MAX_PARAMS || mode_len > MM_MAX_MODE || tail_len > MM_PARAMS_CHUNK ||
        source_len > MM_MAX_EVENT_NAME || event_len > MM_MAX_EVENT_NAME ||
        length != MM_EXECUTE_FIXED + mode_len + source_len + event_len + tail_len ||
        p[4] > 127 || p[5] > 15 || p[6] > 127 || p[7] != 0 || event_value != event_value ||
        event_value > 1e308 || event_value < -1e308)
        protocol_violation();
    strings = mode_len + source_len + event_len;
    if (g_params_have ? (params_len != g_params_total || g_params_have + tail_len != params_len)
                      : tail_len != params_len)
        protocol_violation();
    if (memchr(p + MM_EXECUTE_FIXED, '\0', strings)) protocol_violation();
    memcpy(g_mode, p + MM_EXECUTE_FIXED, mode_len);
    g_mode[mode_len] = '\0';
    memcpy(g_source, p + MM_EXECUTE_FIXED + mode_len, source_len);
    g_source[source_len] = '\0';
    memcpy(g_event_name, p + MM_EXECUTE_FIXED + mode_len + source_len, event_len);
    g_event_name[event_len] = '\0';
    ensure_params_capacity(params_len + 1);
    memcpy(g_params + g_params_have, p + MM_EXECUTE_FIXED + strings, tail_len);
    g_params[params_len] = '\0';
    g_params_have = 0;

    if (!initialized) {
        static const char text[] = "execute() before a successful initialize()";
        send_status(MM_RESULT, seq, MIDIMON_ERR_FAILED, text, sizeof text - 1);
        return;
    }
    memset(&ctx, 0, sizeof ctx);
    ctx.struct_size = (uint32_t)sizeof ctx;
    ctx.velocity = p[4];
    ctx.channel = p[5];
    ctx.number = p[6];
    ctx.value = (int32_t)mm_get_u32(p + 8);
    ctx.trigger_kind = mm_get_u32(p + 12);
    ctx.mode = g_mode;
    ctx.timestamp_ns = mm_get_u64(p + 16);
    ctx.wall_time_ms = (int64_t)mm_get_u64(p + 24);
    ctx.source = g_source;
    ctx.event_name = g_event_name;
    ctx.event_value = event_value;
    message[0] = '\0';
    if (!g_view.execute) {
        static const char text[] = "this trigger plugin runs no actions (its execute is NULL)";
        send_status(MM_RESULT, seq, MIDIMON_ERR_UNSUPPORTED, text, sizeof text - 1);
        return;
    }
    g_in_call = 1;
    status = g_view.execute(g_raw, g_params, params_len, &ctx, message, sizeof message);
    g_in_call = 0;
    message[sizeof message - 1] = '\0'; /* a plugin that forgot the NUL */
    send_status(MM_RESULT, seq, status, message, strlen(message));
}

static void serve(void) {
    enum { LOADED, INITIALIZED, INIT_FAILED, STARTED } state = LOADED;
    for (;;) {
        uint32_t type, seq, length = recv_msg(&type, &seq, NULL);
        int32_t status = MIDIMON_OK;
        switch (type) {
        case MM_INIT:
            if (length != 0 || state != LOADED || g_params_have) protocol_violation();
            if (g_view.initialize) {
                g_in_call = 1;
                status = g_view.initialize(g_raw, &g_host);
                g_in_call = 0;
            }
            state = status == MIDIMON_OK ? INITIALIZED : INIT_FAILED;
            send_status(MM_STATUS, seq, status, NULL, 0);
            break;
        case MM_PARAMS:
            handle_params(length);
            break;
        case MM_EXECUTE:
            handle_execute(seq, length, state == INITIALIZED || state == STARTED);
            break;
        case MM_START: {
            uint32_t rate;
            uint32_t settings_len;
            if (length < MM_START_FIXED || g_params_have) protocol_violation();
            rate = mm_get_u32(g_msg);
            settings_len = mm_get_u32(g_msg + 4);
            if (rate == 0 || rate > MM_MAX_EVENT_RATE || settings_len > MM_PARAMS_CHUNK ||
                length != MM_START_FIXED + settings_len)
                protocol_violation();
            ensure_params_capacity(settings_len + 1);
            memcpy(g_params, g_msg + MM_START_FIXED, settings_len);
            g_params[settings_len] = '\0';
            if (state != INITIALIZED || !g_view.start) {
                status = state == STARTED ? MIDIMON_ERR_FAILED : MIDIMON_ERR_UNSUPPORTED;
            } else {
                pthread_mutex_lock(&g_event_lock);
                g_event_rate = rate;
                g_event_tokens = rate;
                g_event_last_ns = monotonic_ns();
                g_event_dropped = 0;
                pthread_mutex_unlock(&g_event_lock);
                g_started = 1; /* before start(): its threads may emit at once */
                g_in_call = 1;
                status = g_view.start(g_raw, g_params, settings_len);
                g_in_call = 0;
                if (status == MIDIMON_OK) state = STARTED;
                else g_started = 0;
            }
            send_status(MM_STATUS, seq, status, NULL, 0);
            break;
        }
        case MM_STOP:
            if (length != 0 || g_params_have) protocol_violation();
            if (state == STARTED) {
                if (g_view.stop) g_view.stop(g_raw);
                g_started = 0;
                state = INITIALIZED;
            }
            pthread_mutex_lock(&g_event_lock); /* an emit_event() in flight has sent by now */
            pthread_mutex_unlock(&g_event_lock);
            send_status(MM_STATUS, seq, MIDIMON_OK, NULL, 0);
            break;
        case MM_SHUTDOWN:
            if (length != 0 || g_params_have) protocol_violation();
            if (state == STARTED) {
                if (g_view.stop) g_view.stop(g_raw);
                g_started = 0;
                state = INITIALIZED;
            }
            if (state == INITIALIZED && g_view.shutdown) g_view.shutdown(g_raw);
            if (g_view.destroy) g_view.destroy(g_raw);
            send_status(MM_STATUS, seq, MIDIMON_OK, NULL, 0);
            fflush(NULL); /* what the plugin printed; no atexit handlers or destructors */
            _exit(MM_EXIT_OK);
        default:
            protocol_violation();
        }
    }
}

/* ---- main ---------------------------------------------------------------------------------- */

static void close_other_fds(void) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, FD + 1, ~0U, 0) == 0) return;
#endif
    {
        long fd, max = sysconf(_SC_OPEN_MAX);
        if (max < 0 || max > 65536) max = 65536;
        for (fd = FD + 1; fd < max; fd++) close((int)fd);
    }
}

int main(int argc, char **argv) {
    uint8_t hello[MM_HELLO_SIZE];
    uint32_t type, seq, length;
    int kind = 0, image_fd;
    socklen_t kind_len = sizeof kind;

    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("midimon-worker: protocol %d, plugin ABI %d.%d\n", MM_PROTOCOL_VERSION,
               MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR);
        return 0;
    }
    if (getsockopt(FD, SOL_SOCKET, SO_TYPE, &kind, &kind_len) != 0 || kind != SOCK_SEQPACKET) {
        fprintf(stderr, "midimon-worker: fd %d is not a SOCK_SEQPACKET socket; this program is "
                        "started by midimon to run one plugin, not by hand\n", FD);
        return MM_EXIT_USAGE;
    }
    (void)fcntl(FD, F_SETFD, FD_CLOEXEC); /* programs a plugin may exec never see it */
    close_other_fds();
    mm_sandbox_init_signals(FD);
    g_main_thread = pthread_self();
    g_host.abi_major = MIDIMON_ABI_MAJOR;
    g_host.abi_minor = MIDIMON_ABI_MINOR;
    g_host.struct_size = (uint32_t)sizeof g_host;
    g_host.host_name = "midimon";
    g_host.host_version = g_host_version;
    g_host.log = host_log;
    g_host.send_midi = host_send_midi;
    g_host.get_extension = host_get_extension;
    g_host.emit_event = host_emit_event;

    mm_put_u32(hello, MM_PROTOCOL_VERSION);
    mm_put_u32(hello + 4, (uint32_t)getpid());
    mm_put_u32(hello + 8, MM_MAX_PAYLOAD);
    mm_put_u32(hello + 12, MIDIMON_ABI_MAJOR);
    mm_put_u32(hello + 16, MIDIMON_ABI_MINOR);
    send_msg(MM_HELLO, 0, hello, sizeof hello, NULL, 0);

    length = recv_msg(&type, &seq, &image_fd);
    if (type != MM_LOAD || !datagram_done()) protocol_violation(); /* LOAD travels alone */
    handle_load(seq, length, image_fd);
    serve();
    return 0;
}
