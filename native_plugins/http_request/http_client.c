/* http_client.c - see http_client.h. POSIX sockets only. */
#define _POSIX_C_SOURCE 200809L
#if defined(__APPLE__)
#define _DARWIN_C_SOURCE 1 /* SO_NOSIGPIPE */
#endif

#include "http_client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "midimon_plugin.h"
#include "strbuf.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* macOS: SO_NOSIGPIPE is set on the socket instead */
#endif

#define HR_MAX_HEAD_BYTES (64 * 1024) /* status line + headers of one response */
#define HR_MAX_HOST_LEN 253

/* ---------------------------------------------------------------------------------------- */
/* URL parsing                                                                              */

static int ascii_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static int has_prefix_ci(const char *s, size_t len, const char *prefix)
{
    size_t i, n = strlen(prefix);
    if (len < n)
        return 0;
    for (i = 0; i < n; i++) {
        if (ascii_lower((unsigned char)s[i]) != prefix[i])
            return 0;
    }
    return 1;
}

static int is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Bytes that may not appear as-is in a request target; they are sent percent-encoded. */
static int needs_encoding(unsigned char c)
{
    return c <= 0x20 || c >= 0x7F || strchr("\"<>\\^`{|}", c) != NULL;
}

static char *dup_range(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void hr_url_free(hr_url *u)
{
    free(u->host);
    free(u->authority);
    free(u->hostport);
    free(u->target);
    memset(u, 0, sizeof *u);
}

int32_t hr_url_parse(const char *url, size_t len, hr_url *out, char *msg, size_t cap)
{
    const char *auth, *host, *rest, *end = url + len, *p;
    size_t auth_len, host_len, i;
    int ipv6 = 0;
    unsigned long port = 80;
    hr_buf target, authority, hostport;

    memset(out, 0, sizeof *out);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c < 0x20 || c == 0x7F) {
            hr_format(msg, cap, "field 'url' contains a control character at byte %lu",
                      (unsigned long)i);
            return MIDIMON_ERR_INVALID_PARAMS;
        }
    }
    if (has_prefix_ci(url, len, "https://")) {
        hr_format(msg, cap, "https:// URLs are not supported: TLS is not supported by this "
                            "example plugin (use an http:// URL)");
        return MIDIMON_ERR_UNSUPPORTED;
    }
    if (!has_prefix_ci(url, len, "http://")) {
        hr_format(msg, cap, "field 'url' must be an http:// URL, got '%.*s'",
                  (int)(len > 80 ? 80 : len), url);
        return MIDIMON_ERR_INVALID_PARAMS;
    }

    auth = url + 7;
    for (rest = auth; rest < end && *rest != '/' && *rest != '?' && *rest != '#'; rest++)
        ;
    auth_len = (size_t)(rest - auth);
    if (memchr(auth, '@', auth_len)) {
        hr_format(msg, cap, "field 'url': credentials in the URL (user@host) are not "
                            "supported; send an Authorization header instead");
        return MIDIMON_ERR_UNSUPPORTED;
    }
    if (auth_len > 0 && auth[0] == '[') {
        const char *close = memchr(auth, ']', auth_len);
        if (!close || close == auth + 1) {
            hr_format(msg, cap, "field 'url' has a malformed IPv6 address");
            return MIDIMON_ERR_INVALID_PARAMS;
        }
        host = auth + 1;
        host_len = (size_t)(close - host);
        for (i = 0; i < host_len; i++) {
            if (!is_hex((unsigned char)host[i]) && host[i] != ':' && host[i] != '.') {
                hr_format(msg, cap, "field 'url' has a malformed IPv6 address");
                return MIDIMON_ERR_INVALID_PARAMS;
            }
        }
        ipv6 = 1;
        p = close + 1;
        if (p < rest && *p != ':') {
            hr_format(msg, cap, "field 'url' has unexpected text after the IPv6 address");
            return MIDIMON_ERR_INVALID_PARAMS;
        }
    } else {
        host = auth;
        for (p = auth; p < rest && *p != ':'; p++)
            ;
        host_len = (size_t)(p - host);
        for (i = 0; i < host_len; i++) {
            unsigned char c = (unsigned char)host[i];
            if (!is_alnum(c) && c != '-' && c != '.' && c != '_') {
                if (c > 0x20 && c < 0x7F)
                    hr_format(msg, cap, "field 'url' has an invalid character '%c' in the host "
                                        "name", (char)c);
                else
                    hr_format(msg, cap, "field 'url' has an invalid byte 0x%02X in the host name",
                              (unsigned)c);
                return MIDIMON_ERR_INVALID_PARAMS;
            }
        }
    }
    if (host_len == 0) {
        hr_format(msg, cap, "field 'url' has no host name");
        return MIDIMON_ERR_INVALID_PARAMS;
    }
    if (host_len > HR_MAX_HOST_LEN) {
        hr_format(msg, cap, "field 'url' has a host name longer than %d bytes", HR_MAX_HOST_LEN);
        return MIDIMON_ERR_INVALID_PARAMS;
    }
    if (p < rest) { /* *p == ':' */
        const char *q;
        p++;
        if (p < rest) {
            port = 0;
            for (q = p; q < rest; q++) {
                if (*q < '0' || *q > '9' || q - p >= 5) {
                    port = 0;
                    break;
                }
                port = port * 10 + (unsigned long)(*q - '0');
            }
            if (port == 0 || port > 65535) {
                hr_format(msg, cap, "field 'url' has an invalid port '%.*s' (expected 1-65535)",
                          (int)(rest - p > 16 ? 16 : rest - p), p);
                return MIDIMON_ERR_INVALID_PARAMS;
            }
        }
    }

    hr_buf_init(&target);
    hr_buf_init(&authority);
    hr_buf_init(&hostport);
    if (rest == end || *rest != '/')
        hr_buf_putc(&target, '/');
    for (p = rest; p < end && *p != '#'; p++) {
        unsigned char c = (unsigned char)*p;
        if (needs_encoding(c)) {
            static const char hex[] = "0123456789ABCDEF";
            char enc[3];
            enc[0] = '%';
            enc[1] = hex[c >> 4];
            enc[2] = hex[c & 0xF];
            hr_buf_append(&target, enc, 3);
        } else {
            hr_buf_putc(&target, (char)c);
        }
    }
    if (ipv6)
        hr_buf_putc(&authority, '[');
    hr_buf_append(&authority, host, host_len);
    if (ipv6)
        hr_buf_putc(&authority, ']');
    hr_buf_append(&hostport, authority.data, authority.len);
    hr_buf_putc(&hostport, ':');
    hr_buf_put_long(&hostport, (long)port);
    if (port != 80) {
        hr_buf_putc(&authority, ':');
        hr_buf_put_long(&authority, (long)port);
    }
    out->host = dup_range(host, host_len);
    out->port = (unsigned)port;
    if (target.failed || authority.failed || hostport.failed || !out->host) {
        hr_buf_free(&target);
        hr_buf_free(&authority);
        hr_buf_free(&hostport);
        hr_url_free(out);
        hr_format(msg, cap, "out of memory");
        return MIDIMON_ERR_FAILED;
    }
    out->target = hr_buf_take(&target, NULL);
    out->authority = hr_buf_take(&authority, NULL);
    out->hostport = hr_buf_take(&hostport, NULL);
    return MIDIMON_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Socket helpers                                                                           */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is ready for `events`. Returns 1 when ready, 0 at the deadline, -1 on error
 * (errno set). */
static int wait_fd(int fd, short events, long long deadline)
{
    for (;;) {
        struct pollfd pfd;
        long long left = deadline - now_ms();
        int r;

        if (left <= 0)
            return 0;
        pfd.fd = fd;
        pfd.events = events;
        pfd.revents = 0;
        r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r > 0)
            return 1;
    }
}

static int prepare_socket(int fd)
{
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
        return -1;
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -1;
#ifdef SO_NOSIGPIPE
    {
        int one = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one) < 0)
            return -1;
    }
#endif
    return 0;
}

/* Try each address in turn. Returns a connected non-blocking socket, or -1 with *err set to
 * the last errno (ETIMEDOUT when the deadline passed). */
static int connect_any(const struct addrinfo *list, long long deadline, int *err)
{
    const struct addrinfo *ai;

    *err = EHOSTUNREACH;
    for (ai = list; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        int r;

        if (fd < 0) {
            *err = errno;
            continue;
        }
        if (prepare_socket(fd) < 0) {
            *err = errno;
            close(fd);
            continue;
        }
        r = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (r == 0)
            return fd;
        if (errno == EINPROGRESS || errno == EINTR) {
            int soerr = 0;
            socklen_t slen = sizeof soerr;

            r = wait_fd(fd, POLLOUT, deadline);
            if (r == 0) {
                close(fd);
                *err = ETIMEDOUT;
                return -1;
            }
            if (r < 0) {
                *err = errno;
                close(fd);
                continue;
            }
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) < 0)
                soerr = errno;
            if (soerr == 0)
                return fd;
            *err = soerr;
        } else {
            *err = errno;
        }
        close(fd);
        if (now_ms() >= deadline) {
            *err = ETIMEDOUT;
            return -1;
        }
    }
    return -1;
}

/* Returns 0, or -1 with *err set (ETIMEDOUT at the deadline). */
static int send_all(int fd, const char *buf, size_t len, long long deadline, int *err)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int r = wait_fd(fd, POLLOUT, deadline);
            if (r == 0) {
                *err = ETIMEDOUT;
                return -1;
            }
            if (r < 0) {
                *err = errno;
                return -1;
            }
            continue;
        }
        *err = n < 0 ? errno : EPIPE;
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Response parsing (incremental)                                                           */

enum body_mode { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_UNTIL_EOF };
enum chunk_state { CH_SIZE, CH_EXT, CH_DATA, CH_DATA_END, CH_TRAILER_START, CH_TRAILER };

typedef struct resp_parser {
    hr_buf head;                  /* bytes of the header block being collected */
    int head_done;                /* the final (non-1xx) header block was parsed */
    int done;                     /* the whole response was read */
    const char *malformed;        /* set when the response cannot be parsed */
    enum body_mode mode;
    unsigned long long remaining; /* BODY_LENGTH, and CH_DATA */
    enum chunk_state chunk;
    unsigned long long chunk_size;
    int chunk_digits;
    hr_response *resp;
} resp_parser;

static int eq_ci(const char *a, size_t alen, const char *b)
{
    size_t i, n = strlen(b);
    if (alen != n)
        return 0;
    for (i = 0; i < n; i++) {
        if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
            return 0;
    }
    return 1;
}

/* End of the header block (index just past the blank line), or 0 while incomplete. */
static size_t find_head_end(const char *s, size_t len)
{
    size_t i;
    for (i = 0; i + 1 < len; i++) {
        if (s[i] != '\n')
            continue;
        if (s[i + 1] == '\n')
            return i + 2;
        if (s[i + 1] == '\r' && i + 2 < len && s[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* Parse a complete header block s[0..len). */
static void parse_head(resp_parser *rp, const char *s, size_t len)
{
    const char *line = s, *end = s + len, *eol, *p;
    int chunked = 0, have_length = 0, status;
    unsigned long long length = 0;
    size_t r;

    eol = memchr(line, '\n', len);
    /* "HTTP/" 1*DIGIT "." 1*DIGIT SP 3DIGIT [ SP reason ] */
    p = line;
    if (eol - p < 5 || memcmp(p, "HTTP/", 5) != 0) {
        rp->malformed = "the status line does not start with HTTP/";
        return;
    }
    p += 5;
    while (p < eol && *p >= '0' && *p <= '9')
        p++;
    if (p < eol && *p == '.')
        p++;
    while (p < eol && *p >= '0' && *p <= '9')
        p++;
    if (eol - p < 4 || *p != ' ' || p[1] < '1' || p[1] > '5' || p[2] < '0' || p[2] > '9' ||
        p[3] < '0' || p[3] > '9' || (eol - p > 4 && p[4] != ' ' && p[4] != '\r')) {
        rp->malformed = "the status line has no valid status code";
        return;
    }
    status = (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
    rp->resp->status = status;
    p += 4;
    if (p < eol && *p == ' ')
        p++;
    for (r = 0; p < eol && r + 1 < sizeof rp->resp->reason; p++) {
        if (*p >= 0x20 && *p < 0x7F)
            rp->resp->reason[r++] = *p;
    }
    while (r > 0 && rp->resp->reason[r - 1] == ' ')
        r--;
    rp->resp->reason[r] = '\0';

    for (line = eol + 1; line < end; line = eol + 1) {
        const char *colon, *v, *vend;

        eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            break;
        colon = memchr(line, ':', (size_t)(eol - line));
        if (!colon)
            continue; /* the blank line, or junk we do not need */
        v = colon + 1;
        vend = eol;
        while (v < vend && (*v == ' ' || *v == '\t'))
            v++;
        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t' || vend[-1] == '\r'))
            vend--;
        if (eq_ci(line, (size_t)(colon - line), "Content-Length")) {
            unsigned long long n = 0;
            if (v == vend) {
                rp->malformed = "invalid Content-Length";
                return;
            }
            for (p = v; p < vend; p++) {
                if (*p < '0' || *p > '9' || n > (ULLONG_MAX - 9) / 10) {
                    rp->malformed = "invalid Content-Length";
                    return;
                }
                n = n * 10 + (unsigned long long)(*p - '0');
            }
            if (have_length && n != length) {
                rp->malformed = "conflicting Content-Length headers";
                return;
            }
            have_length = 1;
            length = n;
        } else if (eq_ci(line, (size_t)(colon - line), "Transfer-Encoding")) {
            /* chunked must be the last coding */
            chunked = vend - v >= 7 && eq_ci(vend - 7, 7, "chunked");
            if (!chunked)
                have_length = 0;
        }
    }

    if (status < 200) {
        return; /* interim response: another header block follows */
    }
    rp->head_done = 1;
    if (status == 204 || status == 304) {
        rp->mode = BODY_NONE;
        rp->done = 1;
    } else if (chunked) {
        rp->mode = BODY_CHUNKED;
        rp->chunk = CH_SIZE;
    } else if (have_length) {
        rp->mode = BODY_LENGTH;
        rp->remaining = length;
        rp->done = length == 0;
    } else {
        rp->mode = BODY_UNTIL_EOF;
    }
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void end_size_line(resp_parser *rp)
{
    if (!rp->chunk_digits) {
        rp->malformed = "invalid chunk size";
    } else if (rp->chunk_size == 0) {
        rp->chunk = CH_TRAILER_START;
    } else {
        rp->chunk = CH_DATA;
        rp->remaining = rp->chunk_size;
    }
}

static void feed_body(resp_parser *rp, const char *s, size_t n)
{
    while (n > 0 && !rp->done && !rp->malformed) {
        if (rp->mode == BODY_NONE) {
            rp->done = 1;
        } else if (rp->mode == BODY_UNTIL_EOF) {
            rp->resp->body_bytes += n;
            return;
        } else if (rp->mode == BODY_LENGTH || rp->chunk == CH_DATA) {
            size_t take = n;
            if ((unsigned long long)take > rp->remaining)
                take = (size_t)rp->remaining;
            rp->resp->body_bytes += take;
            rp->remaining -= take;
            s += take;
            n -= take;
            if (rp->remaining == 0) {
                if (rp->mode == BODY_LENGTH)
                    rp->done = 1;
                else
                    rp->chunk = CH_DATA_END;
            }
        } else {
            char c = *s++;
            n--;
            switch (rp->chunk) {
            case CH_SIZE: {
                int h = hex_value(c);
                if (h >= 0) {
                    if (rp->chunk_size > (ULLONG_MAX >> 4)) {
                        rp->malformed = "chunk size too large";
                        break;
                    }
                    rp->chunk_size = (rp->chunk_size << 4) | (unsigned long long)h;
                    rp->chunk_digits = 1;
                } else if (c == ';' || c == ' ' || c == '\t' || c == '\r') {
                    rp->chunk = CH_EXT;
                } else if (c == '\n') {
                    end_size_line(rp);
                } else {
                    rp->malformed = "invalid chunk size";
                }
                break;
            }
            case CH_EXT:
                if (c == '\n')
                    end_size_line(rp);
                break;
            case CH_DATA_END:
                if (c == '\n') {
                    rp->chunk = CH_SIZE;
                    rp->chunk_size = 0;
                    rp->chunk_digits = 0;
                } else if (c != '\r') {
                    rp->malformed = "missing CRLF after chunk data";
                }
                break;
            case CH_TRAILER_START:
                if (c == '\n')
                    rp->done = 1;
                else if (c != '\r')
                    rp->chunk = CH_TRAILER;
                break;
            case CH_TRAILER:
                if (c == '\n')
                    rp->chunk = CH_TRAILER_START;
                break;
            case CH_DATA:
                break; /* handled above */
            }
        }
    }
}

static void feed(resp_parser *rp, const char *s, size_t n)
{
    if (rp->head_done) {
        feed_body(rp, s, n);
        return;
    }
    if (hr_buf_append(&rp->head, s, n) != 0) {
        rp->malformed = "out of memory";
        return;
    }
    while (!rp->head_done && !rp->malformed) {
        size_t end = find_head_end(rp->head.data, rp->head.len);
        if (end == 0) {
            if (rp->head.len > HR_MAX_HEAD_BYTES)
                rp->malformed = "response headers too large";
            return;
        }
        parse_head(rp, rp->head.data, end);
        if (rp->malformed)
            return;
        /* Drop the parsed block; what follows is the body or the next header block. */
        memmove(rp->head.data, rp->head.data + end, rp->head.len - end + 1);
        rp->head.len -= end;
    }
    if (rp->head_done && rp->head.len > 0)
        feed_body(rp, rp->head.data, rp->head.len);
}

/* ---------------------------------------------------------------------------------------- */

int32_t hr_http_exchange(const hr_url *url, const char *request, size_t request_len,
                         long timeout_ms, hr_response *resp, char *msg, size_t cap)
{
    struct addrinfo hints, *list = NULL;
    char port[8];
    long long deadline = now_ms() + timeout_ms;
    int fd, rc, err = 0;
    int32_t result = MIDIMON_OK;
    resp_parser rp;

    memset(resp, 0, sizeof *resp);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(port, sizeof port, "%u", url->port);

    /* getaddrinfo() has no timeout of its own; the deadline is checked once it returns. */
    rc = getaddrinfo(url->host, port, &hints, &list);
    if (rc != 0) {
        hr_format(msg, cap, "cannot resolve host %s: %s", url->hostport,
                  rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return MIDIMON_ERR_FAILED;
    }
    if (now_ms() >= deadline) {
        freeaddrinfo(list);
        hr_format(msg, cap, "timed out after %ld ms resolving host %s", timeout_ms,
                  url->hostport);
        return MIDIMON_ERR_TIMEOUT;
    }
    fd = connect_any(list, deadline, &err);
    freeaddrinfo(list);
    if (fd < 0) {
        if (err == ETIMEDOUT) {
            hr_format(msg, cap, "timed out after %ld ms connecting to %s (%s)", timeout_ms,
                      url->hostport, strerror(err));
            return MIDIMON_ERR_TIMEOUT;
        }
        hr_format(msg, cap, "cannot connect to %s: %s", url->hostport, strerror(err));
        return MIDIMON_ERR_FAILED;
    }

    if (send_all(fd, request, request_len, deadline, &err) != 0) {
        close(fd);
        if (err == ETIMEDOUT) {
            hr_format(msg, cap, "timed out after %ld ms sending the request to %s (%s)",
                      timeout_ms, url->hostport, strerror(err));
            return MIDIMON_ERR_TIMEOUT;
        }
        hr_format(msg, cap, "error sending the request to %s: %s", url->hostport,
                  strerror(err));
        return MIDIMON_ERR_FAILED;
    }

    memset(&rp, 0, sizeof rp);
    hr_buf_init(&rp.head);
    rp.resp = resp;
    while (!rp.done && !rp.malformed) {
        char chunk[4096];
        ssize_t n;
        int r = wait_fd(fd, POLLIN, deadline);

        if (r == 0) {
            if (!rp.head_done)
                hr_format(msg, cap, "timed out after %ld ms waiting for a response from %s (%s)",
                          timeout_ms, url->hostport, strerror(ETIMEDOUT));
            else
                hr_format(msg, cap, "timed out after %ld ms reading the response body from %s "
                                    "(HTTP %d %s, %llu bytes so far)",
                          timeout_ms, url->hostport, resp->status, resp->reason,
                          resp->body_bytes);
            result = MIDIMON_ERR_TIMEOUT;
            break;
        }
        n = r < 0 ? -1 : recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n <= 0) {
            /* EOF (or a reset) ends a body read until EOF, or cuts a body short: either way
             * the status is known and is what we report. Without a status it is an error. */
            if (rp.head_done)
                break;
            if (n < 0)
                hr_format(msg, cap, "error reading the response from %s: %s", url->hostport,
                          strerror(errno));
            else if (rp.head.len == 0)
                hr_format(msg, cap, "%s closed the connection without sending a response",
                          url->hostport);
            else
                hr_format(msg, cap, "%s closed the connection in the middle of the response "
                                    "headers", url->hostport);
            result = MIDIMON_ERR_FAILED;
            break;
        }
        feed(&rp, chunk, (size_t)n);
    }
    if (result == MIDIMON_OK && rp.malformed) {
        hr_format(msg, cap, "malformed HTTP response from %s: %s", url->hostport, rp.malformed);
        result = MIDIMON_ERR_FAILED;
    }
    hr_buf_free(&rp.head);
    close(fd);
    return result;
}
