/*
 * osc_in - bundled midimon trigger plugin (ABI 1.1): listens for OSC over UDP and turns each
 * message into an event named by its OSC address, valued by its first numeric argument
 * (int32 'i', float32 'f', also int64 'h', float64 'd', true 'T' = 1, false 'F' = 0; 0 when the
 * message has none). Bundles (#bundle) are unpacked. Malformed or oversized packets are counted
 * and ignored; the count goes to the host log (the first one, then every 1000th).
 *
 * Settings ([plugins.settings.osc_in] in config.toml, handed to start() as JSON):
 *   port    UDP port to listen on (default 9000)
 *   address IPv4 address to bind (default "127.0.0.1": loopback only; "0.0.0.0" listens on all
 *           interfaces, which lets anyone on the network fire your mappings)
 *
 * Needs the Network capability: without it the sandbox refuses socket() and start() fails
 * with MIDIMON_ERR_DENIED.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "midimon_plugin.h"

#define OSC_MAX_PACKET 8192  /* a larger datagram is counted as malformed (oversized) */
#define OSC_MAX_DEPTH 4      /* nested bundles */

static const midimon_host_t *g_host;
static int g_fd = -1;
static pthread_t g_thread;
static volatile int g_running;
static unsigned long g_malformed, g_received;

static void host_log(int32_t level, const char *fmt, ...) {
    char line[256];
    va_list args;
    if (!g_host || !g_host->log) return;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    g_host->log(g_host, level, line);
}

static void malformed(void) {
    g_malformed++;
    if (g_malformed == 1 || g_malformed % 1000 == 0)
        host_log(MIDIMON_LOG_WARN, "osc_in: %lu malformed packets ignored (of %lu received)",
                 g_malformed, g_received);
}

static uint32_t be32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Length of the padded OSC string at p (within n bytes), or 0 when it is not terminated. */
static size_t osc_string(const unsigned char *p, size_t n) {
    const unsigned char *nul = memchr(p, '\0', n);
    size_t len;
    if (!nul) return 0;
    len = (size_t)(nul - p) + 1;
    len = (len + 3) & ~(size_t)3;
    return len <= n ? len : 0;
}

/* One OSC message; 0 when well formed (an event was emitted), -1 when malformed. */
static int osc_message(const unsigned char *p, size_t n) {
    size_t addr_len, tags_len, off;
    const unsigned char *tag;
    double value = 0.0;
    midimon_event_t ev;
    if (n < 4 || p[0] != '/') return -1;
    addr_len = osc_string(p, n);
    if (!addr_len || strlen((const char *)p) > MIDIMON_MAX_EVENT_NAME) return -1;
    off = addr_len;
    if (off < n) { /* a type tag string is optional in old OSC; without it there are no args */
        tags_len = osc_string(p + off, n - off);
        if (!tags_len || p[off] != ',') return -1;
        tag = p + off + 1;
        off += tags_len;
        for (; *tag; tag++) {
            int found = 1;
            switch (*tag) {
            case 'i':
                if (n - off < 4) return -1;
                value = (double)(int32_t)be32(p + off);
                break;
            case 'f': {
                uint32_t bits;
                float f;
                if (n - off < 4) return -1;
                bits = be32(p + off);
                memcpy(&f, &bits, sizeof f);
                value = (double)f;
                break;
            }
            case 'h': {
                uint64_t u;
                if (n - off < 8) return -1;
                u = ((uint64_t)be32(p + off) << 32) | be32(p + off + 4);
                value = (double)(int64_t)u;
                break;
            }
            case 'd': {
                uint64_t u;
                if (n - off < 8) return -1;
                u = ((uint64_t)be32(p + off) << 32) | be32(p + off + 4);
                memcpy(&value, &u, sizeof value);
                break;
            }
            case 'T': value = 1.0; break;
            case 'F': value = 0.0; break;
            case 's': case 'S': {
                size_t len = off < n ? osc_string(p + off, n - off) : 0;
                if (!len) return -1;
                off += len;
                found = 0;
                break;
            }
            case 'b': {
                uint32_t size;
                if (n - off < 4) return -1;
                size = be32(p + off);
                if (size > n - off - 4) return -1;
                off += 4 + (((size_t)size + 3) & ~(size_t)3);
                if (off > n) return -1;
                found = 0;
                break;
            }
            case 'c': case 'r': case 'm': case 't':
                if (n - off < (*tag == 't' ? 8u : 4u)) return -1;
                off += *tag == 't' ? 8 : 4;
                found = 0;
                break;
            case 'N': case 'I': found = 0; break;
            default: return -1;
            }
            if (found) break;
        }
        if (value != value || value > 1e308 || value < -1e308) return -1; /* NaN, inf */
    }
    memset(&ev, 0, sizeof ev);
    ev.struct_size = (uint32_t)sizeof ev;
    ev.name = (const char *)p;
    ev.value = value;
    return g_host->emit_event(g_host, &ev) == MIDIMON_OK ? 0 : -1;
}

static int osc_packet(const unsigned char *p, size_t n, int depth) {
    size_t off;
    if (n >= 16 && memcmp(p, "#bundle\0", 8) == 0) {
        if (depth >= OSC_MAX_DEPTH) return -1;
        for (off = 16; off < n;) {
            uint32_t size;
            if (n - off < 4) return -1;
            size = be32(p + off);
            off += 4;
            if (size == 0 || size % 4 || size > n - off) return -1;
            if (osc_packet(p + off, size, depth + 1) != 0) return -1;
            off += size;
        }
        return 0;
    }
    if (n % 4) return -1;
    return osc_message(p, n);
}

static void *listen_thread(void *arg) {
    static unsigned char buf[OSC_MAX_PACKET + 1];
    (void)arg;
    while (g_running) {
        struct pollfd pfd;
        ssize_t got;
        pfd.fd = g_fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (poll(&pfd, 1, 100) <= 0) continue;
        got = recv(g_fd, buf, sizeof buf, MSG_TRUNC);
        if (got < 0) continue;
        g_received++;
        if ((size_t)got > OSC_MAX_PACKET || osc_packet(buf, (size_t)got, 0) != 0) malformed();
    }
    return NULL;
}

/* The value of "key": a number or a string, from a flat JSON object; 0 when absent. */
static int json_value(const char *json, const char *key, char *out, size_t cap) {
    char pattern[32];
    const char *p, *end;
    size_t len;
    snprintf(pattern, sizeof pattern, "\"%s\"", key);
    p = strstr(json, pattern);
    if (!p) return 0;
    p += strlen(pattern);
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == ':') p++;
    if (*p == '"') {
        end = strchr(++p, '"');
    } else {
        end = p;
        while (*end && *end != ',' && *end != '}' && *end != ' ') end++;
    }
    if (!end) return -1;
    len = (size_t)(end - p);
    if (len == 0 || len >= cap) return -1;
    memcpy(out, p, len);
    out[len] = '\0';
    return 1;
}

static int32_t osc_initialize(const midimon_plugin_t *self, const midimon_host_t *host) {
    (void)self;
    if (host->struct_size < MIDIMON_HOST_V1_1_SIZE || !host->emit_event)
        return MIDIMON_ERR_UNSUPPORTED; /* a 1.0 host cannot take events */
    g_host = host;
    return MIDIMON_OK;
}

static int32_t osc_start(const midimon_plugin_t *self, const char *settings, size_t len) {
    char port_text[16] = "9000", address[64] = "127.0.0.1", *end;
    struct sockaddr_in sa;
    long port;
    (void)self;
    (void)len;
    if (json_value(settings, "port", port_text, sizeof port_text) < 0 ||
        json_value(settings, "address", address, sizeof address) < 0)
        return MIDIMON_ERR_INVALID_PARAMS;
    port = strtol(port_text, &end, 10);
    if (*end || port < 1 || port > 65535) {
        host_log(MIDIMON_LOG_ERROR, "osc_in: port must be 1..65535, not %s", port_text);
        return MIDIMON_ERR_INVALID_PARAMS;
    }
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, address, &sa.sin_addr) != 1) return MIDIMON_ERR_INVALID_PARAMS;
    g_fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (g_fd < 0) {
        int denied = errno == EACCES || errno == EPERM;
        host_log(MIDIMON_LOG_ERROR, "osc_in: cannot open a UDP socket: %s", strerror(errno));
        return denied ? MIDIMON_ERR_DENIED : MIDIMON_ERR_FAILED;
    }
    {
        /* Room for bursts while emit_event() waits on a busy host (the kernel caps it at
         * net.core.rmem_max; what overflows is dropped by the kernel, counted in
         * /proc/net/udp's drops). Best effort. */
        int size = 4 * 1024 * 1024;
        (void)setsockopt(g_fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    if (bind(g_fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        host_log(MIDIMON_LOG_ERROR, "osc_in: cannot bind %s:%ld: %s", address, port, strerror(errno));
        close(g_fd);
        g_fd = -1;
        return MIDIMON_ERR_FAILED;
    }
    g_running = 1;
    if (pthread_create(&g_thread, NULL, listen_thread, NULL) != 0) {
        g_running = 0;
        close(g_fd);
        g_fd = -1;
        return MIDIMON_ERR_FAILED;
    }
    host_log(MIDIMON_LOG_INFO, "osc_in: listening on UDP %s:%ld", address, port);
    return MIDIMON_OK;
}

static void osc_stop(const midimon_plugin_t *self) {
    (void)self;
    if (!g_running) return;
    g_running = 0;
    pthread_join(g_thread, NULL);
    close(g_fd);
    g_fd = -1;
}

static const midimon_plugin_t plugin = {
    .abi_major = MIDIMON_ABI_MAJOR,
    .abi_minor = MIDIMON_ABI_MINOR,
    .struct_size = (uint32_t)sizeof(midimon_plugin_t),
    .capabilities = MIDIMON_CAP_NETWORK,
    .name = "osc_in",
    .version = "1.0.0",
    .description = "Turn OSC messages received over UDP into trigger events",
    .initialize = osc_initialize,
    .start = osc_start,
    .stop = osc_stop,
};

MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { return &plugin; }
