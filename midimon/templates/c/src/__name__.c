/*
 * {{name}}: a midimon action plugin (ABI 1.0), scaffolded by `midimon new-plugin`.
 *
 * params (a JSON object): `message` (optional string). execute() answers
 *   hello from {{name}}: note N velocity V mode M, message="..."
 */
#include "midimon_plugin.h"

#include <stdio.h>
#include <string.h>

#define PLUGIN_NAME "{{name}}"
#define PLUGIN_VERSION "0.1.0"

static const midimon_host_t *g_host;

/* Is the member at `offset` (`len` bytes) inside a host-built struct of `size` bytes? */
#define HAS_MEMBER(size, type, member) \
    (offsetof(type, member) + sizeof(((type *)0)->member) <= (size_t)(size))

static void host_log(int32_t level, const char *text) {
    if (g_host && HAS_MEMBER(g_host->struct_size, midimon_host_t, log) && g_host->log)
        g_host->log(g_host, level, text);
}

/*
 * A tiny lookup of a top-level string field `"key": "value"` in a JSON object (enough for this
 * template; use a real JSON parser when the params grow). Copies the value, with simple
 * backslash escapes undone, into out (NUL-terminated, truncated to cap). Returns 1 when found.
 */
static int json_string_field(const char *json, size_t len, const char *key, char *out, size_t cap) {
    size_t klen = strlen(key);
    size_t i;
    if (cap == 0) return 0;
    out[0] = '\0';
    for (i = 0; i + klen + 2 <= len; i++) {
        size_t j, n = 0;
        if (json[i] != '"' || strncmp(json + i + 1, key, klen) != 0 || json[i + 1 + klen] != '"')
            continue;
        j = i + klen + 2;
        while (j < len && (json[j] == ' ' || json[j] == '\t' || json[j] == '\r' || json[j] == '\n')) j++;
        if (j >= len || json[j] != ':') continue;
        j++;
        while (j < len && (json[j] == ' ' || json[j] == '\t' || json[j] == '\r' || json[j] == '\n')) j++;
        if (j >= len || json[j] != '"') return 0; /* present but not a string */
        j++;
        while (j < len && json[j] != '"') {
            char ch = json[j++];
            if (ch == '\\' && j < len) {
                ch = json[j++];
                if (ch == 'n') ch = '\n';
                else if (ch == 't') ch = '\t';
            }
            if (n + 1 < cap) out[n++] = ch;
        }
        out[n] = '\0';
        return 1;
    }
    return 0;
}

static int32_t plugin_initialize(const midimon_plugin_t *self, const midimon_host_t *host) {
    (void)self;
    if (host == NULL || host->abi_major != MIDIMON_ABI_MAJOR) return MIDIMON_ERR_UNSUPPORTED;
    g_host = host;
    host_log(MIDIMON_LOG_DEBUG, PLUGIN_NAME " " PLUGIN_VERSION " initialized");
    return MIDIMON_OK;
}

static int32_t plugin_execute(const midimon_plugin_t *self, const char *params_json,
                              size_t params_len, const midimon_trigger_context_t *ctx,
                              char *message, size_t message_cap) {
    char text[256];
    unsigned note = 0, velocity = 0;
    const char *mode = "";
    (void)self;
    if (ctx != NULL) {
        /* Members past the host's struct_size read as zero. */
        if (HAS_MEMBER(ctx->struct_size, midimon_trigger_context_t, number)) note = ctx->number;
        if (HAS_MEMBER(ctx->struct_size, midimon_trigger_context_t, velocity)) velocity = ctx->velocity;
        if (HAS_MEMBER(ctx->struct_size, midimon_trigger_context_t, mode) && ctx->mode) mode = ctx->mode;
    }
    if (params_json == NULL) params_len = 0;
    json_string_field(params_json ? params_json : "", params_len, "message", text, sizeof text);
    /* snprintf truncates to message_cap (may cut a UTF-8 sequence in a very long message). */
    snprintf(message, message_cap, "hello from %s: note %u velocity %u mode %s, message=\"%s\"",
             PLUGIN_NAME, note, velocity, mode, text);
    return MIDIMON_OK;
}

static void plugin_shutdown(const midimon_plugin_t *self) { (void)self; }

static void plugin_destroy(const midimon_plugin_t *self) {
    (void)self;
    g_host = NULL;
}

static const midimon_plugin_t plugin = {
    MIDIMON_ABI_MAJOR,
    MIDIMON_ABI_MINOR,
    (uint32_t)sizeof(midimon_plugin_t),
    {{cap_expr}}, /* must match [plugin.capabilities] in plugin.toml */
    PLUGIN_NAME,
    PLUGIN_VERSION,
    "{{description}}",
    NULL,
    plugin_initialize,
    plugin_execute,
    plugin_shutdown,
    plugin_destroy,
    NULL,
};

MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { return &plugin; }
