"""A test plugin that numbers its calls, for the pipelining tests (tests/plugins/test_pipeline.py,
tests/daemon/test_dispatch_paths.py)."""

# execute() numbers its calls (1, 2, ...) in its message; -DP_CRASH_AT=k: SIGSEGV in call k;
# -DP_HANG_AT=k: call k never returns; -DP_SLEEP_US=n: every call takes n us; -DP_SEND_MIDI:
# every call sends a note through the host.
COUNTER_SOURCE = r"""
#define _GNU_SOURCE
#include "midimon_plugin.h"
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#ifndef P_NAME
#define P_NAME "counter"
#endif
#ifndef P_CAPS
#define P_CAPS 0
#endif

static const midimon_host_t *g_host;
static unsigned g_calls;

static int32_t c_init(const midimon_plugin_t *self, const midimon_host_t *host) {
    (void)self;
    g_host = host;
    return MIDIMON_OK;
}

static int32_t c_exec(const midimon_plugin_t *self, const char *params, size_t len,
                      const midimon_trigger_context_t *ctx, char *msg, size_t cap) {
    (void)self;
    (void)ctx;
    g_calls++;
#ifdef P_CRASH_AT
    if (g_calls == P_CRASH_AT) raise(SIGSEGV);
#endif
#ifdef P_HANG_AT
    if (g_calls == P_HANG_AT) for (;;) pause();
#endif
#ifdef P_SLEEP_US
    usleep(P_SLEEP_US);
#endif
#ifdef P_SEND_MIDI
    {
        const uint8_t note[3] = {0x90, (uint8_t)(g_calls & 0x7f), 1};
        int32_t rc = g_host->send_midi(g_host, note, sizeof note);
        if (rc != MIDIMON_OK) return rc;
    }
#endif
    snprintf(msg, cap, "call %u pid %d len %zu params=%.40s", g_calls, (int)getpid(), len,
             params);
    return MIDIMON_OK;
}

static const midimon_plugin_t PLUGIN = {
    .abi_major = MIDIMON_ABI_MAJOR,
    .abi_minor = MIDIMON_ABI_MINOR,
    .struct_size = sizeof(midimon_plugin_t),
    .name = P_NAME,
    .version = "1.0.0",
    .description = "counts its calls",
    .capabilities = P_CAPS,
    .initialize = c_init,
    .execute = c_exec,
};

MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { return &PLUGIN; }
"""
