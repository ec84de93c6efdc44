/*
 * midimon_plugin.h - the one contract between the midimon host and a native action plugin.
 *
 * C99, no dependencies beyond <stddef.h> and <stdint.h>; usable from C++, Rust (#[repr(C)]
 * mirror) and Zig (@cImport). ABI version 1.1.
 *
 * ABI 1.1 (appended, nothing of 1.0 moved): trigger plugins. A plugin with plugin.toml
 * `type = "trigger"` feeds events in (OSC, gamepads) instead of (or besides) running actions:
 * the host calls start() after initialize() and stop() before shutdown(); between the two the
 * plugin emits events from its own threads through host->emit_event(). A 1.0 plugin's struct
 * ends before start/stop, which therefore read as NULL; a plugin checks
 * host->struct_size >= MIDIMON_HOST_V1_1_SIZE before it uses emit_event.
 *
 * How a plugin is found and called
 * --------------------------------
 * The plugin is a shared library (.so / .dylib / .dll) that exports exactly one entry symbol,
 * `_create_plugin`, returning a pointer to a `midimon_plugin_t`. The host reads the first three
 * members (abi_major, abi_minor, struct_size) before it calls anything:
 *   - abi_major must equal MIDIMON_ABI_MAJOR;
 *   - a plugin built for a newer abi_minor than the host knows is refused;
 *   - struct_size must be at least MIDIMON_PLUGIN_V1_0_SIZE; members past struct_size
 *     (from a plugin built against an older minor) read as zero/NULL.
 * Then: initialize() once, execute() any number of times, shutdown() once, destroy() once.
 * A trigger plugin (ABI 1.1): initialize(), start(), events..., stop(), shutdown(), destroy().
 *
 * Growth rules: members are only ever appended (abi_minor goes up); nothing is renumbered or
 * reordered. Larger additions are extensions found by string id through get_extension()
 * ("midimon.<name>/<rev>"), which returns NULL when absent.
 *
 * Ownership: whoever allocates frees; nothing crosses the boundary to be freed by the other side.
 * Host-owned inputs are valid only during the call that receives them.
 *
 * Threading: the host never calls one plugin instance concurrently. Every call below happens on
 * the plugin's "host thread" (in an isolated worker process: that worker's main thread). The tags
 * say when a member may be used:
 *   [host-thread]   called by the host on the plugin's host thread;
 *   [initialized]   only between initialize() returning MIDIMON_OK and shutdown();
 *   [started]       only between start() returning MIDIMON_OK and stop() returning;
 *   [any-thread]    a host service the plugin may call from any of its own threads.
 *
 * The region between MIDIMON_CDEF_BEGIN and MIDIMON_CDEF_END is read by the Python host as its
 * cffi declarations (one source of truth): keep it to plain typedefs and structs there, with
 * constants as `#define NAME <integer literal>` lines.
 */
#ifndef MIDIMON_PLUGIN_H
#define MIDIMON_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

/* Symbol visibility for the entry point. Build plugins with -fvisibility=hidden if you like:
 * MIDIMON_EXPORT keeps `_create_plugin` visible. */
#if defined(_WIN32) || defined(__CYGWIN__)
#define MIDIMON_EXPORT __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define MIDIMON_EXPORT __attribute__((visibility("default")))
#else
#define MIDIMON_EXPORT
#endif

/* Name of the one exported entry symbol (for hosts that resolve it by string). */
#define MIDIMON_ENTRY_SYMBOL "_create_plugin"

#ifdef __cplusplus
extern "C" {
#endif

/* MIDIMON_CDEF_BEGIN */

/* ABI version this header describes. */
#define MIDIMON_ABI_MAJOR 1
#define MIDIMON_ABI_MINOR 1

/* Capability bits (midimon_plugin_t.capabilities): what the plugin needs granted. */
#define MIDIMON_CAP_NETWORK 1
#define MIDIMON_CAP_FILESYSTEM 2
#define MIDIMON_CAP_AUDIO 4
#define MIDIMON_CAP_MIDI 8
#define MIDIMON_CAP_SUBPROCESS 16
#define MIDIMON_CAP_SYSTEM_CONTROL 32

/* Status codes returned by initialize(), execute() and host services. */
#define MIDIMON_OK 0
#define MIDIMON_ERR_FAILED 1          /* generic failure; details in the message buffer */
#define MIDIMON_ERR_INVALID_PARAMS 2  /* params_json missing a field, wrong type, bad value */
#define MIDIMON_ERR_DENIED 3          /* a capability or host service was refused */
#define MIDIMON_ERR_UNSUPPORTED 4     /* the request is valid but not supported here */
#define MIDIMON_ERR_TIMEOUT 5         /* the plugin gave up waiting on something */

/* Log levels for midimon_host_t.log. */
#define MIDIMON_LOG_DEBUG 0
#define MIDIMON_LOG_INFO 1
#define MIDIMON_LOG_WARN 2
#define MIDIMON_LOG_ERROR 3

/* What fired the action (midimon_trigger_context_t.trigger_kind). */
#define MIDIMON_TRIGGER_MANUAL 0          /* run by hand, e.g. `midimon plugins exec` */
#define MIDIMON_TRIGGER_NOTE 1
#define MIDIMON_TRIGGER_VELOCITY_RANGE 2
#define MIDIMON_TRIGGER_LONG_PRESS 3
#define MIDIMON_TRIGGER_DOUBLE_TAP 4
#define MIDIMON_TRIGGER_CHORD 5
#define MIDIMON_TRIGGER_CC 6
#define MIDIMON_TRIGGER_ENCODER 7
#define MIDIMON_TRIGGER_AFTERTOUCH 8
#define MIDIMON_TRIGGER_PITCH_BEND 9
#define MIDIMON_TRIGGER_PLUGIN 10         /* an event a trigger plugin emitted (ABI 1.1) */

/* midimon_event_t.flags: which optional fields the event carries (ABI 1.1). */
#define MIDIMON_EVENT_HAS_NUMBER 1
#define MIDIMON_EVENT_HAS_VELOCITY 2
#define MIDIMON_EVENT_HAS_CHANNEL 4

/* Longest event name the host accepts, in bytes without the NUL (ABI 1.1). */
#define MIDIMON_MAX_EVENT_NAME 255

typedef struct midimon_host midimon_host_t;
typedef struct midimon_plugin midimon_plugin_t;
typedef struct midimon_trigger_context midimon_trigger_context_t;
typedef struct midimon_event midimon_event_t;

/*
 * The event that fired an action. Owned by the host; valid only until execute() returns:
 * copy what you need to keep. For an event of a trigger plugin (MIDIMON_TRIGGER_PLUGIN) the
 * MIDI-like fields hold what the event carried (0 when it had none) and the timestamps say when
 * the host received it.
 */
struct midimon_trigger_context {
    uint32_t struct_size;   /* sizeof this struct as the host built it; read members past it as 0 */
    uint8_t velocity;       /* note velocity 0..127 (0 when the trigger has none) */
    uint8_t channel;        /* MIDI channel 0..15 (what users call channel 1..16) */
    uint8_t number;         /* note number or controller number 0..127 */
    uint8_t reserved0;      /* always 0 */
    int32_t value;          /* CC value / pressure 0..127, pitch bend -8192..8191, encoder delta */
    uint32_t trigger_kind;  /* MIDIMON_TRIGGER_* */
    const char *mode;       /* current mode name, UTF-8, NUL-terminated; never NULL */
    uint64_t timestamp_ns;  /* monotonic clock when the MIDI message arrived, nanoseconds */
    int64_t wall_time_ms;   /* wall clock (Unix epoch) when the MIDI message arrived, ms */

    /* ---- ABI 1.1: present when struct_size >= MIDIMON_TRIGGER_CONTEXT_V1_1_SIZE ---- */
    const char *source;     /* MIDIMON_TRIGGER_PLUGIN: name of the trigger plugin that emitted
                             * the event ("osc_in"); "" otherwise. UTF-8, NUL-terminated, never
                             * NULL; owned by the host, valid until execute() returns */
    const char *event_name; /* MIDIMON_TRIGGER_PLUGIN: the event's name ("/pad/1"); "" otherwise.
                             * Same ownership as `source` */
    double event_value;     /* MIDIMON_TRIGGER_PLUGIN: the event's value, unrounded (`value` holds
                             * it rounded to an integer); otherwise equal to `value` */
};

/*
 * One event a trigger plugin emits (ABI 1.1). Owned by the plugin (usually on its stack); the
 * host copies what it needs during emit_event() and keeps no pointer into it.
 */
struct midimon_event {
    uint32_t struct_size;   /* sizeof(midimon_event_t) as the plugin built it */
    uint32_t flags;         /* MIDIMON_EVENT_HAS_* bits: which of the fields below are set */
    const char *name;       /* UTF-8, NUL-terminated, 1..MIDIMON_MAX_EVENT_NAME bytes, e.g.
                             * "/pad/1" or "BTN_SOUTH"; owned by the plugin, read during the
                             * call only */
    double value;           /* the event's value (an OSC argument, an axis position, 1/0 for
                             * press/release); finite */
    uint8_t number;         /* note/controller-like number 0..127 (MIDIMON_EVENT_HAS_NUMBER) */
    uint8_t velocity;       /* 0..127 (MIDIMON_EVENT_HAS_VELOCITY) */
    uint8_t channel;        /* 0..15 (MIDIMON_EVENT_HAS_CHANNEL) */
    uint8_t reserved0;      /* always 0 */
    uint32_t reserved1;     /* always 0 */
};

/*
 * Services the host offers the plugin. Owned by the host; the pointer handed to initialize()
 * stays valid until destroy() returns. The plugin must not write to it.
 */
struct midimon_host {
    uint32_t abi_major;     /* MIDIMON_ABI_MAJOR of the host */
    uint32_t abi_minor;     /* MIDIMON_ABI_MINOR of the host */
    uint32_t struct_size;   /* sizeof(midimon_host_t) as the host built it */
    uint32_t reserved0;     /* always 0 */
    const char *host_name;    /* "midimon", static, UTF-8 */
    const char *host_version; /* e.g. "0.1.0", static, UTF-8 */
    void *host_data;        /* opaque to the plugin; owned by the host */

    /* Write one line to the host's log. `message` is UTF-8, NUL-terminated, owned by the caller
     * and only read during the call; the host may cut very long lines. Never fails, but may
     * block briefly when the host is behind (an isolated worker applies backpressure).
     * [any-thread] */
    void (*log)(const midimon_host_t *host, int32_t level, const char *message);

    /* Send raw MIDI bytes (one or more complete messages) to the host's MIDI output. Brokered:
     * the host checks the Midi capability grant and may refuse with MIDIMON_ERR_DENIED.
     * `bytes` is owned by the caller and only read during the call. Returns MIDIMON_OK when the
     * host accepted the bytes. Only during initialize() or execute(), on the host thread;
     * anywhere else it returns MIDIMON_ERR_UNSUPPORTED. [host-thread & initialized] */
    int32_t (*send_midi)(const midimon_host_t *host, const uint8_t *bytes, size_t len);

    /* Look up a host extension by id ("midimon.<name>/<rev>"). Returns a host-owned pointer
     * valid until destroy() returns, or NULL when the host lacks it (an isolated worker may
     * offer fewer extensions than an in-process host). [any-thread] */
    const void *(*get_extension)(const midimon_host_t *host, const char *id);

    /* ---- ABI 1.1: present when struct_size >= MIDIMON_HOST_V1_1_SIZE ---- */

    /* Hand one event to the host (trigger plugins). `event` and its name are owned by the
     * caller and only read during the call. Returns MIDIMON_OK when the host took the event,
     * MIDIMON_ERR_INVALID_PARAMS for a malformed one (empty or too long name, bad field),
     * MIDIMON_ERR_UNSUPPORTED outside start()..stop(). The host may drop events past the
     * plugin's rate cap (counted and audited, still MIDIMON_OK); it may block briefly when the
     * host is behind. [any-thread & started] */
    int32_t (*emit_event)(const midimon_host_t *host, const midimon_event_t *event);
};

/*
 * The plugin, as returned by _create_plugin(). Owned by the plugin from _create_plugin() until
 * destroy() returns; the host never writes to it and never frees it.
 */
struct midimon_plugin {
    uint32_t abi_major;     /* set to MIDIMON_ABI_MAJOR */
    uint32_t abi_minor;     /* set to MIDIMON_ABI_MINOR */
    uint32_t struct_size;   /* set to sizeof(midimon_plugin_t) */
    uint32_t capabilities;  /* MIDIMON_CAP_* bits the plugin needs; must match plugin.toml */

    /* Static UTF-8, NUL-terminated strings, valid until destroy() returns. `name` must equal
     * plugin.toml's name ([a-z0-9_]+). */
    const char *name;
    const char *version;
    const char *description;

    void *plugin_data;      /* the plugin's own state; opaque to the host. A plugin returning
                             * a static struct keeps its state in statics instead: one load
                             * per process is all the host ever makes of a binary. */

    /* Prepare to run. `host` stays valid until destroy() returns. On failure return a non-zero
     * MIDIMON_ERR_* code; the host then calls destroy() without shutdown(). May be NULL when
     * there is nothing to prepare. [host-thread] */
    int32_t (*initialize)(const midimon_plugin_t *self, const midimon_host_t *host);

    /* Run the action once.
     * params_json: the mapping's params as a UTF-8 JSON object, `params_len` bytes, also
     *   NUL-terminated; owned by the host, valid until execute() returns.
     * context: the trigger; owned by the host, valid until execute() returns.
     * message/message_cap: a host-owned buffer of message_cap bytes (message_cap >= 1). On
     *   failure write the error text, on success optionally a short result text: UTF-8,
     *   NUL-terminated, truncated to fit on a character boundary. The host reads it after
     *   execute() returns and never frees it.
     * Blocking is allowed (an HTTP request, a file write) but keep it short: the host gives each
     *   call a deadline and, in an isolated worker, kills the worker when it passes.
     * Returns MIDIMON_OK or a MIDIMON_ERR_* code. Required (never NULL), except in a trigger
     *   plugin (start set, ABI 1.1), where NULL means it runs no actions.
     * [host-thread & initialized] */
    int32_t (*execute)(const midimon_plugin_t *self,
                       const char *params_json, size_t params_len,
                       const midimon_trigger_context_t *context,
                       char *message, size_t message_cap);

    /* Stop background work and release what initialize() acquired; no thread the plugin
     * started may still run when it returns. The host calls no more execute() after it. May be
     * NULL. [host-thread & initialized] */
    void (*shutdown)(const midimon_plugin_t *self);

    /* Free the plugin (and anything _create_plugin allocated). `self` is invalid afterwards.
     * Called exactly once, last. May be NULL for a static plugin. [host-thread] */
    void (*destroy)(const midimon_plugin_t *self);

    /* Look up a plugin extension by id ("midimon.<name>/<rev>"). Returns a plugin-owned pointer
     * valid until destroy() returns, or NULL when absent. May be NULL itself. [host-thread] */
    const void *(*get_extension)(const midimon_plugin_t *self, const char *id);

    /* ---- ABI 1.1: read as NULL from a plugin whose struct_size ends before them ---- */

    /* Begin emitting events (a trigger plugin: open its socket or device, start its threads)
     * and return; events then go through host->emit_event() from any of the plugin's threads.
     * settings_json: the user's settings for this plugin (config.toml's
     *   [plugins.settings.<name>]) as a UTF-8 JSON object, `settings_len` bytes, also
     *   NUL-terminated ("{}" when there are none); owned by the host, valid until start()
     *   returns: copy what you keep.
     * Called once, after initialize() succeeded. On failure return a non-zero MIDIMON_ERR_*
     * code (and emit nothing); the host then calls shutdown(). NULL for an action plugin; a
     * plugin with plugin.toml `type = "trigger"` must set it. [host-thread & initialized] */
    int32_t (*start)(const midimon_plugin_t *self, const char *settings_json,
                     size_t settings_len);

    /* Stop emitting: when it returns no thread of the plugin calls emit_event() any more. Called
     * once after a successful start(), before shutdown(). May be NULL. [host-thread & started] */
    void (*stop)(const midimon_plugin_t *self);
};

/*
 * Host extension "midimon.leds/1": the controller's pad LEDs (LED feedback, docs/controllers.md).
 * Found with host->get_extension(host, MIDIMON_EXT_LEDS) (the id is defined below the
 * declarations); a host without it returns NULL. The struct is owned by the host and valid
 * until destroy() returns.
 */
typedef struct midimon_host_leds midimon_host_leds_t;
struct midimon_host_leds {
    uint32_t struct_size;   /* sizeof(midimon_host_leds_t) as the host built it */
    uint32_t reserved0;     /* always 0 */

    /* Light pad `pad` (its note number, as the device template lists it) in `color`, a colour
     * name of the device template (e.g. "red"; UTF-8, NUL-terminated, at most 63 bytes, owned
     * by the caller and only read during the call), until the host next sends every LED (mode
     * change, reload, reconnect). Brokered like send_midi: without the Midi capability grant
     * it returns MIDIMON_ERR_DENIED. MIDIMON_ERR_INVALID_PARAMS for a pad or colour the device
     * lacks; MIDIMON_ERR_UNSUPPORTED when LED feedback is off, or outside initialize() and
     * execute(). [host-thread & initialized] */
    int32_t (*set_pad)(const midimon_host_t *host, uint32_t pad, const char *color);
};

/* The entry point's type. Returns a plugin-owned pointer, or NULL on failure. Called once per
 * load, before anything else. [host-thread] */
typedef const midimon_plugin_t *(*midimon_create_plugin_fn)(void);

/* MIDIMON_CDEF_END */

/* Host extension ids, for host->get_extension(). */
#define MIDIMON_EXT_LEDS "midimon.leds/1"

/* The entry point every plugin defines:
 *   MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { ... }
 */
MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void);

/* Size of midimon_plugin_t in ABI 1.0: the smallest struct_size a host accepts. Later minors
 * append members, so sizeof(midimon_plugin_t) grows while this stays. */
#define MIDIMON_PLUGIN_V1_0_SIZE \
    (offsetof(midimon_plugin_t, get_extension) + sizeof(void *))

/* Size of midimon_trigger_context_t in ABI 1.1: read source, event_name and event_value only
 * when context->struct_size is at least this. */
#define MIDIMON_TRIGGER_CONTEXT_V1_1_SIZE \
    (offsetof(midimon_trigger_context_t, event_value) + sizeof(double))

/* Size of midimon_host_t in ABI 1.1: a plugin may call emit_event when host->struct_size is at
 * least this. */
#define MIDIMON_HOST_V1_1_SIZE \
    (offsetof(midimon_host_t, emit_event) + sizeof(void *))

/* The compatibility rule both sides apply: same major, and a plugin minor the host knows.
 * A constant expression (usable in #if) when its arguments are. Each argument is evaluated once
 * and compared as a long long (`+ 0LL`), which holds every uint32_t: with a literal 0 next to an
 * unsigned field, as in MIDIMON_ABI_COMPATIBLE(host->abi_major, host->abi_minor, 1, 0), a plain
 * `0 <= minor` test would draw gcc's -Wtype-limits under -Wextra; mixed int and uint32_t
 * arguments draw no -Wsign-compare either. */
#define MIDIMON_ABI_COMPATIBLE(host_major, host_minor, plugin_major, plugin_minor) \
    ((plugin_major) + 0LL == (host_major) + 0LL && (plugin_minor) + 0LL <= (host_minor) + 0LL)

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MIDIMON_PLUGIN_H */
