/*
 * {{name}}: a midimon action plugin (ABI 1.0), scaffolded by `midimon new-plugin`.
 *
 * params (a JSON object, read with midimon_params.h): `message` (optional string).
 * execute() answers
 *   hello from {{name}}: note N velocity V mode M, message="..."
 */
#include "midimon_plugin.h"
#include "midimon_params.h" /* midimon_params_string/_int/_number/_bool: read params_json */

#include <stdio.h>

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

static int32_t plugin_initialize(const midimon_plugin_t *self, const midimon_host_t *host) {
    (void)self;
    if (host == NULL || host->abi_major != MIDIMON_ABI_MAJOR) return MIDIMON_ERR_UNSUPPORTED;
    g_host = host;
    host_log(MIDIMON_LOG_DEBUG, PLUGIN_NAME " " PLUGIN_VERSION " initialized");
    return MIDIMON_OK;
}

/* snprintf wrote `wanted` bytes' worth, cut to message_cap - 1: if that split a UTF-8
 * sequence, end the text before it, so the message stays valid UTF-8. */
static void cut_on_char_boundary(char *message, size_t message_cap, int wanted) {
    size_t end, start, need;
    unsigned char lead;
    if (message_cap == 0 || wanted < 0 || (size_t)wanted < message_cap) return; /* not cut */
    end = message_cap - 1;
    start = end;
    while (start > 0 && ((unsigned char)message[start - 1] & 0xC0) == 0x80) start--;
    if (start == 0) return; /* only continuation bytes: not UTF-8 to begin with */
    lead = (unsigned char)message[--start];
    need = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    if (start + need > end) message[start] = '\0';
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
    /* text is NUL-terminated (empty unless found), cut on a UTF-8 boundary when too long. */
    switch (midimon_params_string(params_json, params_len, "message", text, sizeof text)) {
    case MIDIMON_PARAMS_FOUND:
    case MIDIMON_PARAMS_MISSING: /* optional */
        break;
    case MIDIMON_PARAMS_WRONG_TYPE:
        snprintf(message, message_cap, "params: \"message\" must be a string without NUL");
        return MIDIMON_ERR_INVALID_PARAMS;
    default:
        snprintf(message, message_cap, "params are not a valid JSON object");
        return MIDIMON_ERR_INVALID_PARAMS;
    }
    /* Cut to message_cap on a character boundary, as the ABI asks. */
    cut_on_char_boundary(message, message_cap,
                         snprintf(message, message_cap,
                                  "hello from %s: note %u velocity %u mode %s, message=\"%s\"",
                                  PLUGIN_NAME, note, velocity, mode, text));
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
    NULL, /* get_extension */
    NULL, /* start (ABI 1.1): set by a trigger plugin only */
    NULL, /* stop */
};

MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { return &plugin; }
