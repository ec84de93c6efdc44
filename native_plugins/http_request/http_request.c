/*
 * http_request - bundled example midimon action plugin (C99, POSIX sockets, no dependencies).
 *
 * Sends one HTTP/1.1 request per execute(). params_json is an object:
 *   url         required  "http://host[:port]/path?query" (https:// -> MIDIMON_ERR_UNSUPPORTED)
 *   method      optional  GET (default), POST, PUT or DELETE (case-insensitive)
 *   headers     optional  object of header name -> string value
 *   body        optional  a string, sent as-is; or any other JSON value, sent as compact JSON
 *                         with "Content-Type: application/json" unless headers set Content-Type;
 *                         null means no body
 *   timeout_ms  optional  whole milliseconds, default 5000, for connect + send + receive
 * {velocity} {note} {channel} {value} {mode} in the url (percent-encoded there), header values
 * and body strings (every string of a JSON body, keys included) are replaced from the trigger.
 * A 2xx answer is MIDIMON_OK ("HTTP 200 OK (12 bytes)"); any other status is MIDIMON_ERR_FAILED.
 * Redirects are not followed.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "json.h"
#include "midimon_plugin.h"
#include "strbuf.h"

#define HR_NAME "http_request"
#define HR_VERSION "1.0.0"
#define HR_USER_AGENT "midimon-http_request/1.0"
#define HR_DEFAULT_TIMEOUT_MS 5000L
#define HR_MAX_TIMEOUT_MS 600000L

/* The host services, between initialize() and destroy(). The host never calls a plugin
 * concurrently, so a plain static is enough. */
static const midimon_host_t *g_host;

static void host_log(int32_t level, const char *text)
{
    if (g_host &&
        g_host->struct_size >= offsetof(midimon_host_t, log) + sizeof g_host->log &&
        g_host->log)
        g_host->log(g_host, level, text);
}

/* ---------------------------------------------------------------------------------------- */
/* Placeholders                                                                             */

typedef struct trigger_values {
    long velocity, note, channel, value;
    const char *mode;
} trigger_values;

/* Copy what we use out of the context, reading members past its struct_size as 0. */
static void read_trigger(const midimon_trigger_context_t *ctx, trigger_values *tv)
{
    tv->velocity = tv->note = tv->channel = tv->value = 0;
    tv->mode = "";
    if (!ctx)
        return;
#define HR_HAS(member) \
    (ctx->struct_size >= offsetof(midimon_trigger_context_t, member) + sizeof ctx->member)
    if (HR_HAS(velocity))
        tv->velocity = ctx->velocity;
    if (HR_HAS(number))
        tv->note = ctx->number;
    if (HR_HAS(channel))
        tv->channel = ctx->channel;
    if (HR_HAS(value))
        tv->value = ctx->value;
    if (HR_HAS(mode) && ctx->mode)
        tv->mode = ctx->mode;
#undef HR_HAS
}

static int is_unreserved(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

static void put_value(hr_buf *out, const char *s, int url_encode)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!url_encode || is_unreserved(c)) {
            hr_buf_putc(out, (char)c);
        } else {
            char enc[3];
            enc[0] = '%';
            enc[1] = hex[c >> 4];
            enc[2] = hex[c & 0xF];
            hr_buf_append(out, enc, 3);
        }
    }
}

/* Append s[0..len) to out with the placeholders replaced; values are percent-encoded when
 * url_encode is set. Unknown {names} are kept as they are. Returns 0, or -1 out of memory. */
static int substitute(hr_buf *out, const char *s, size_t len, const trigger_values *tv,
                      int url_encode)
{
    static const char *const names[] = {"velocity", "note", "channel", "value", "mode"};
    size_t i = 0;

    while (i < len) {
        size_t k, matched = 0;

        if (s[i] == '{') {
            for (k = 0; k < sizeof names / sizeof names[0]; k++) {
                size_t n = strlen(names[k]);
                if (len - i < n + 2 || memcmp(s + i + 1, names[k], n) != 0 || s[i + 1 + n] != '}')
                    continue;
                switch (k) {
                case 0: hr_buf_put_long(out, tv->velocity); break;
                case 1: hr_buf_put_long(out, tv->note); break;
                case 2: hr_buf_put_long(out, tv->channel); break;
                case 3: hr_buf_put_long(out, tv->value); break;
                default: put_value(out, tv->mode, url_encode); break;
                }
                matched = n + 2;
                break;
            }
        }
        if (matched) {
            i += matched;
        } else {
            hr_buf_putc(out, s[i]);
            i++;
        }
    }
    hr_buf_append(out, "", 0); /* allocate even when empty */
    return out->failed ? -1 : 0;
}

static int substitute_json_string(char **str, size_t *len, void *user)
{
    hr_buf b;
    if (!memchr(*str, '{', *len))
        return 0;
    hr_buf_init(&b);
    if (substitute(&b, *str, *len, (const trigger_values *)user, 0) != 0) {
        hr_buf_free(&b);
        return -1;
    }
    free(*str);
    *str = hr_buf_take(&b, len);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Params                                                                                   */

static int is_token_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int name_is(const char *name, size_t len, const char *want)
{
    size_t i;
    if (strlen(want) != len)
        return 0;
    for (i = 0; i < len; i++) {
        unsigned char a = (unsigned char)name[i], b = (unsigned char)want[i];
        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (unsigned char)(b - 'A' + 'a');
        if (a != b)
            return 0;
    }
    return 1;
}

/* Print a user-supplied name safely inside a message (at most 64 bytes). */
#define HR_SHOWN(len) ((int)((len) > 64 ? 64 : (len)))

static int32_t parse_timeout(const hr_json *v, long *out, char *msg, size_t cap)
{
    long t = 0;
    size_t i;

    if (v->type != HR_JSON_NUMBER) {
        hr_format(msg, cap, "field 'timeout_ms' must be a number, got %s",
                  hr_json_type_name(v->type));
        return MIDIMON_ERR_INVALID_PARAMS;
    }
    for (i = 0; i < v->len; i++) {
        char c = v->str[i];
        if (c < '0' || c > '9' || t > HR_MAX_TIMEOUT_MS) {
            t = -1;
            break;
        }
        t = t * 10 + (c - '0');
    }
    if (t < 1 || t > HR_MAX_TIMEOUT_MS) {
        hr_format(msg, cap, "field 'timeout_ms' must be a whole number of milliseconds from 1 "
                            "to %ld, got %.*s", HR_MAX_TIMEOUT_MS, HR_SHOWN(v->len), v->str);
        return MIDIMON_ERR_INVALID_PARAMS;
    }
    *out = t;
    return MIDIMON_OK;
}

static int32_t parse_method(const hr_json *v, const char **out, char *msg, size_t cap)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};
    size_t k;

    if (v->type != HR_JSON_STRING) {
        hr_format(msg, cap, "field 'method' must be a string, got %s",
                  hr_json_type_name(v->type));
        return MIDIMON_ERR_INVALID_PARAMS;
    }
    for (k = 0; k < sizeof methods / sizeof methods[0]; k++) {
        if (name_is(v->str, v->len, methods[k])) {
            *out = methods[k];
            return MIDIMON_OK;
        }
    }
    hr_format(msg, cap, "field 'method' must be one of GET, POST, PUT, DELETE, got '%.*s'",
              HR_SHOWN(v->len), v->str);
    return MIDIMON_ERR_INVALID_PARAMS;
}

/* Append the user's headers to req. Sets *has_* for the ones that replace our defaults. */
static int32_t add_user_headers(hr_buf *req, const hr_json *headers, const trigger_values *tv,
                                int *has_host, int *has_agent, int *has_type,
                                char *msg, size_t cap)
{
    size_t i, j;
    int32_t rc = MIDIMON_ERR_INVALID_PARAMS;
    hr_buf value;

    if (headers->type != HR_JSON_OBJECT) {
        hr_format(msg, cap, "field 'headers' must be an object of strings, got %s",
                  hr_json_type_name(headers->type));
        return MIDIMON_ERR_INVALID_PARAMS;
    }
    hr_buf_init(&value);
    for (i = 0; i < headers->count; i++) {
        const hr_json_member *m = &headers->members[i];

        if (m->key_len == 0) {
            hr_format(msg, cap, "field 'headers' has an empty header name");
            goto fail;
        }
        for (j = 0; j < m->key_len; j++) {
            if (!is_token_char((unsigned char)m->key[j])) {
                hr_format(msg, cap, "field 'headers' has an invalid header name '%.*s'",
                          HR_SHOWN(m->key_len), m->key);
                goto fail;
            }
        }
        if (m->value.type != HR_JSON_STRING) {
            hr_format(msg, cap, "field 'headers.%.*s' must be a string, got %s",
                      HR_SHOWN(m->key_len), m->key, hr_json_type_name(m->value.type));
            goto fail;
        }
        if (name_is(m->key, m->key_len, "Content-Length") ||
            name_is(m->key, m->key_len, "Transfer-Encoding") ||
            name_is(m->key, m->key_len, "Connection")) {
            hr_format(msg, cap, "field 'headers.%.*s' is set by the plugin and cannot be given",
                      HR_SHOWN(m->key_len), m->key);
            goto fail;
        }
        value.len = 0;
        if (substitute(&value, m->value.str, m->value.len, tv, 0) != 0) {
            hr_format(msg, cap, "out of memory");
            rc = MIDIMON_ERR_FAILED;
            goto fail;
        }
        for (j = 0; j < value.len; j++) {
            unsigned char c = (unsigned char)value.data[j];
            if (c == '\r' || c == '\n' || c == '\0') {
                hr_format(msg, cap, "field 'headers.%.*s' must not contain CR, LF or NUL",
                          HR_SHOWN(m->key_len), m->key);
                goto fail;
            }
        }
        *has_host |= name_is(m->key, m->key_len, "Host");
        *has_agent |= name_is(m->key, m->key_len, "User-Agent");
        *has_type |= name_is(m->key, m->key_len, "Content-Type");
        hr_buf_append(req, m->key, m->key_len);
        hr_buf_puts(req, ": ");
        hr_buf_append(req, value.data, value.len);
        hr_buf_puts(req, "\r\n");
    }
    hr_buf_free(&value);
    return MIDIMON_OK;
fail:
    hr_buf_free(&value);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* The plugin                                                                               */

static int32_t hr_initialize(const midimon_plugin_t *self, const midimon_host_t *host)
{
    hr_buf line;

    (void)self;
    if (!host)
        return MIDIMON_ERR_FAILED;
    g_host = host;
    hr_buf_init(&line);
    hr_buf_puts(&line, HR_NAME " " HR_VERSION " initialized (host ");
    hr_buf_puts(&line, host->host_name ? host->host_name : "?");
    hr_buf_putc(&line, ' ');
    hr_buf_puts(&line, host->host_version ? host->host_version : "?");
    hr_buf_putc(&line, ')');
    if (!line.failed)
        host_log(MIDIMON_LOG_DEBUG, hr_buf_cstr(&line));
    hr_buf_free(&line);
    return MIDIMON_OK;
}

static int32_t hr_execute(const midimon_plugin_t *self, const char *params_json,
                          size_t params_len, const midimon_trigger_context_t *context,
                          char *message, size_t message_cap)
{
    char scratch[1];
    hr_json root;
    hr_json_error jerr;
    const hr_json *url_v = NULL, *method_v = NULL, *headers_v = NULL, *timeout_v = NULL;
    hr_json *body_v = NULL;
    trigger_values tv;
    hr_buf url_text, body, req;
    hr_url url;
    hr_response resp;
    const char *method = "GET";
    long timeout_ms = HR_DEFAULT_TIMEOUT_MS;
    int has_body = 0, json_body = 0, has_host = 0, has_agent = 0, has_type = 0;
    int32_t rc;
    size_t i;

    (void)self;
    if (!message || message_cap == 0) {
        message = scratch;
        message_cap = sizeof scratch;
    }
    message[0] = '\0';
    hr_buf_init(&url_text);
    hr_buf_init(&body);
    hr_buf_init(&req);
    memset(&url, 0, sizeof url);
    read_trigger(context, &tv);

    if (hr_json_parse(params_json, params_json ? params_len : 0, &root, &jerr) != 0) {
        hr_format(message, message_cap, "invalid JSON params at byte %lu: %s",
                  (unsigned long)jerr.offset, jerr.what);
        return MIDIMON_ERR_INVALID_PARAMS;
    }
    if (root.type != HR_JSON_OBJECT) {
        hr_format(message, message_cap, "params must be a JSON object, got %s",
                  hr_json_type_name(root.type));
        rc = MIDIMON_ERR_INVALID_PARAMS;
        goto done;
    }
    for (i = 0; i < root.count; i++) {
        hr_json_member *m = &root.members[i];
        if (strcmp(m->key, "url") == 0 && m->key_len == 3)
            url_v = &m->value;
        else if (strcmp(m->key, "method") == 0 && m->key_len == 6)
            method_v = &m->value;
        else if (strcmp(m->key, "headers") == 0 && m->key_len == 7)
            headers_v = &m->value;
        else if (strcmp(m->key, "body") == 0 && m->key_len == 4)
            body_v = &m->value;
        else if (strcmp(m->key, "timeout_ms") == 0 && m->key_len == 10)
            timeout_v = &m->value;
        else {
            hr_format(message, message_cap, "unknown field '%.*s' in params (known fields: "
                      "url, method, headers, body, timeout_ms)", HR_SHOWN(m->key_len), m->key);
            rc = MIDIMON_ERR_INVALID_PARAMS;
            goto done;
        }
    }

    /* url */
    if (!url_v) {
        hr_format(message, message_cap, "missing required field 'url' (an http:// URL)");
        rc = MIDIMON_ERR_INVALID_PARAMS;
        goto done;
    }
    if (url_v->type != HR_JSON_STRING) {
        hr_format(message, message_cap, "field 'url' must be a string, got %s",
                  hr_json_type_name(url_v->type));
        rc = MIDIMON_ERR_INVALID_PARAMS;
        goto done;
    }
    if (substitute(&url_text, url_v->str, url_v->len, &tv, 1) != 0)
        goto oom;
    rc = hr_url_parse(url_text.data, url_text.len, &url, message, message_cap);
    if (rc != MIDIMON_OK)
        goto done;

    /* method, timeout_ms */
    if (method_v && (rc = parse_method(method_v, &method, message, message_cap)) != MIDIMON_OK)
        goto done;
    if (timeout_v && (rc = parse_timeout(timeout_v, &timeout_ms, message, message_cap)) != 0)
        goto done;

    /* body */
    if (body_v && body_v->type == HR_JSON_STRING) {
        has_body = 1;
        if (substitute(&body, body_v->str, body_v->len, &tv, 0) != 0)
            goto oom;
    } else if (body_v && body_v->type != HR_JSON_NULL) {
        has_body = 1;
        json_body = 1;
        if (hr_json_map_strings(body_v, substitute_json_string, &tv) != 0 ||
            hr_json_write(&body, body_v) != 0)
            goto oom;
    }

    /* The request: line, our headers, the user's headers, framing, body. */
    hr_buf_puts(&req, method);
    hr_buf_putc(&req, ' ');
    hr_buf_puts(&req, url.target);
    hr_buf_puts(&req, " HTTP/1.1\r\n");
    if (headers_v) {
        hr_buf user;
        hr_buf_init(&user);
        rc = add_user_headers(&user, headers_v, &tv, &has_host, &has_agent, &has_type,
                              message, message_cap);
        if (rc == MIDIMON_OK) {
            if (!has_host) {
                hr_buf_puts(&req, "Host: ");
                hr_buf_puts(&req, url.authority);
                hr_buf_puts(&req, "\r\n");
            }
            if (!has_agent)
                hr_buf_puts(&req, "User-Agent: " HR_USER_AGENT "\r\n");
            hr_buf_append(&req, user.data, user.len);
        }
        hr_buf_free(&user);
        if (rc != MIDIMON_OK)
            goto done;
    } else {
        hr_buf_puts(&req, "Host: ");
        hr_buf_puts(&req, url.authority);
        hr_buf_puts(&req, "\r\nUser-Agent: " HR_USER_AGENT "\r\n");
    }
    if (json_body && !has_type)
        hr_buf_puts(&req, "Content-Type: application/json\r\n");
    /* No Content-Length on a body-less GET/DELETE (RFC 9110 8.6); POST/PUT always say. */
    if (has_body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        hr_buf_puts(&req, "Content-Length: ");
        hr_buf_put_long(&req, (long)body.len);
        hr_buf_puts(&req, "\r\n");
    }
    hr_buf_puts(&req, "Connection: close\r\n\r\n");
    hr_buf_append(&req, body.data, body.len);
    if (req.failed || body.failed)
        goto oom;

    {
        hr_buf line;
        hr_buf_init(&line);
        hr_buf_puts(&line, method);
        hr_buf_puts(&line, " http://");
        hr_buf_puts(&line, url.authority);
        hr_buf_puts(&line, url.target);
        if (has_body) {
            hr_buf_puts(&line, " (");
            hr_buf_put_long(&line, (long)body.len);
            hr_buf_puts(&line, " body bytes)");
        }
        if (!line.failed)
            host_log(MIDIMON_LOG_DEBUG, hr_buf_cstr(&line));
        hr_buf_free(&line);
    }

    rc = hr_http_exchange(&url, req.data, req.len, timeout_ms, &resp, message, message_cap);
    if (rc != MIDIMON_OK)
        goto done;
    if (resp.status >= 200 && resp.status <= 299) {
        hr_format(message, message_cap, "HTTP %d%s%s (%llu byte%s)", resp.status,
                  resp.reason[0] ? " " : "", resp.reason, resp.body_bytes,
                  resp.body_bytes == 1 ? "" : "s");
        rc = MIDIMON_OK;
    } else {
        hr_format(message, message_cap, "HTTP %d%s%s from http://%s%s", resp.status,
                  resp.reason[0] ? " " : "", resp.reason, url.authority, url.target);
        rc = MIDIMON_ERR_FAILED;
    }
    goto done;

oom:
    hr_format(message, message_cap, "out of memory");
    rc = MIDIMON_ERR_FAILED;
done:
    hr_url_free(&url);
    hr_buf_free(&url_text);
    hr_buf_free(&body);
    hr_buf_free(&req);
    hr_json_free(&root);
    return rc;
}

static void hr_shutdown(const midimon_plugin_t *self)
{
    (void)self; /* nothing runs in the background and nothing is held between calls */
}

static void hr_destroy(const midimon_plugin_t *self)
{
    (void)self; /* the plugin struct is static; only forget the host */
    g_host = NULL;
}

static const midimon_plugin_t k_plugin = {
    .abi_major = MIDIMON_ABI_MAJOR,
    .abi_minor = MIDIMON_ABI_MINOR,
    .struct_size = sizeof(midimon_plugin_t),
    .capabilities = MIDIMON_CAP_NETWORK,
    .name = HR_NAME,
    .version = HR_VERSION,
    .description = "Send an HTTP/1.1 request when a control fires",
    .plugin_data = NULL,
    .initialize = hr_initialize,
    .execute = hr_execute,
    .shutdown = hr_shutdown,
    .destroy = hr_destroy,
    .get_extension = NULL,
};

MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void)
{
    return &k_plugin;
}
