/*
 * {{name}}: a midimon trigger plugin (ABI 1.1), scaffolded by `midimon new-plugin --type trigger`.
 *
 * Between start() and stop() a thread of its own emits the event "/tick" every `interval_ms`
 * milliseconds (a setting, default 1000), valued 1, 2, 3 ... Replace the thread's body with
 * what your plugin listens to (a socket, a device) and emit one event per thing that happened.
 * Settings come from config.toml's [plugins.settings.{{name}}], as a JSON object, in start().
 */
#define _POSIX_C_SOURCE 200809L
#include "midimon_plugin.h"
#include "midimon_params.h" /* midimon_params_int ...: read the settings JSON as params */

#include <pthread.h>
#include <string.h>
#include <time.h>

#define PLUGIN_NAME "{{name}}"
#define PLUGIN_VERSION "0.1.0"

static const midimon_host_t *g_host;
static pthread_t g_thread;
static volatile int g_running;
static long g_interval_ms = 1000;

static void *ticker(void *arg) {
    double count = 0;
    (void)arg;
    while (g_running) {
        struct timespec pause;
        midimon_event_t event;
        pause.tv_sec = g_interval_ms / 1000;
        pause.tv_nsec = (g_interval_ms % 1000) * 1000000L;
        nanosleep(&pause, NULL);
        if (!g_running) break;
        memset(&event, 0, sizeof event);
        event.struct_size = (uint32_t)sizeof event;
        event.name = "/tick";
        event.value = ++count;
        g_host->emit_event(g_host, &event); /* [any-thread]: fine from this thread */
    }
    return NULL;
}

static int32_t plugin_initialize(const midimon_plugin_t *self, const midimon_host_t *host) {
    (void)self;
    if (host == NULL || host->abi_major != MIDIMON_ABI_MAJOR) return MIDIMON_ERR_UNSUPPORTED;
    /* emit_event came with ABI 1.1: a 1.0 host cannot take events */
    if (host->struct_size < MIDIMON_HOST_V1_1_SIZE || host->emit_event == NULL)
        return MIDIMON_ERR_UNSUPPORTED;
    g_host = host;
    return MIDIMON_OK;
}

static int32_t plugin_start(const midimon_plugin_t *self, const char *settings_json,
                            size_t settings_len) {
    int64_t interval = 1000;
    (void)self;
    if (midimon_params_int(settings_json, settings_len, "interval_ms", &interval) < 0 ||
        interval < 1 || interval > 3600000) {
        g_host->log(g_host, MIDIMON_LOG_ERROR, PLUGIN_NAME ": interval_ms must be 1..3600000");
        return MIDIMON_ERR_INVALID_PARAMS;
    }
    g_interval_ms = (long)interval;
    g_running = 1;
    if (pthread_create(&g_thread, NULL, ticker, NULL) != 0) {
        g_running = 0;
        return MIDIMON_ERR_FAILED;
    }
    return MIDIMON_OK;
}

static void plugin_stop(const midimon_plugin_t *self) {
    (void)self;
    g_running = 0;
    pthread_join(g_thread, NULL); /* no emit_event() after stop() returns */
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
    NULL, /* execute: a trigger plugin runs no actions */
    NULL, /* shutdown */
    NULL, /* destroy: everything is static */
    NULL, /* get_extension */
    plugin_start,
    plugin_stop,
};

MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { return &plugin; }
