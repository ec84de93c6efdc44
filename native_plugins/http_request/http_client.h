/* http_client.h - URL parsing and one HTTP/1.1 exchange over a POSIX TCP socket
 * (internal to the http_request plugin). */
#ifndef HR_HTTP_CLIENT_H
#define HR_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

typedef struct hr_url {
    char *host;      /* host name or IP literal, without [] for IPv6 */
    unsigned port;   /* 1..65535, 80 when absent */
    char *authority; /* value for the Host header: host, or [v6], plus ":port" unless 80 */
    char *hostport;  /* for messages: host:port, always with the port */
    char *target;    /* request target: path and query, at least "/", percent-encoded where
                      * the URL held bytes that may not appear in a request line */
} hr_url;

/* Parse an http:// URL (len bytes, need not be NUL-terminated). Returns MIDIMON_OK, or
 * MIDIMON_ERR_INVALID_PARAMS / MIDIMON_ERR_UNSUPPORTED with the reason written to msg. */
int32_t hr_url_parse(const char *url, size_t len, hr_url *out, char *msg, size_t cap);
void hr_url_free(hr_url *u);

typedef struct hr_response {
    int status;                     /* 100..599 */
    char reason[64];                /* reason phrase, printable ASCII only, maybe empty */
    unsigned long long body_bytes;  /* body bytes received (after de-chunking) */
} hr_response;

/* Connect to url's host:port, send `request` (complete: request line, headers, body) and read
 * the whole response (until Content-Length, the last chunk or EOF), all within timeout_ms.
 * Returns MIDIMON_OK with *resp filled whatever the HTTP status, or MIDIMON_ERR_FAILED /
 * MIDIMON_ERR_TIMEOUT with the reason written to msg. */
int32_t hr_http_exchange(const hr_url *url, const char *request, size_t request_len,
                         long timeout_ms, hr_response *resp, char *msg, size_t cap);

#endif
