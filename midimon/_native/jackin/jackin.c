/* midimon's JACK MIDI input (see jackin.h). The process callback, on JACK's real-time thread,
 * copies each MIDI event and its CLOCK_MONOTONIC time into a single-producer/single-consumer
 * ring preallocated (and touched) before activation: no malloc, no lock, no interpreter. Its one
 * system call is a non-blocking eventfd write, at most once per cycle and only when the cycle
 * brought events: it cannot block (EFD_NONBLOCK; the counter cannot overflow at one write per
 * cycle), takes only the eventfd's short kernel spinlock, and is how the dispatcher thread
 * sleeps in read() instead of polling. A full ring drops the event and counts it. */
#define _GNU_SOURCE
#include "jackin.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "jack_api.h"

struct mj_input {
    jack_api jack;              /* owner: set once in mj_open */
    void *lib;                  /* owner: dlopen handle */
    jack_client_t *client;      /* owner; NULL after mj_stop */
    int event_fd;               /* owner creates/closes; producer writes; consumer reads */

    /* The ring. Slot i lives at slots + (i & mask) * stride: int64 stamp, uint32 size, bytes. */
    uint8_t *slots;             /* owner: allocated and touched before activation */
    uint32_t capacity, mask, max_bytes;
    size_t stride;
    _Atomic uint64_t head;      /* producer writes (release), consumer reads (acquire) */
    _Atomic uint64_t tail;      /* consumer writes (release), producer reads (acquire) */

    _Atomic(jack_port_t *) port;    /* owner sets; producer reads once per cycle */
    _Atomic int in_cycle;           /* producer: 1 while it may use `port` (see mj_unregister) */
    _Atomic unsigned filter;        /* owner sets (MJ_IGNORE_*); producer reads */
    int64_t last_stamp;             /* producer only: keeps stamps non-decreasing */

    _Atomic uint64_t received, dropped, oversized, filtered;   /* producer counts, owner reads */
    _Atomic int server_gone;                                   /* JACK's shutdown thread sets */
};

enum { MJ_IGNORE_SYSEX = 1, MJ_IGNORE_TIMING = 2, MJ_IGNORE_SENSE = 4 };

static void set_err(char *err, size_t err_len, const char *fmt, ...) {
    if (err == NULL || err_len == 0) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, err_len, fmt, args);
    va_end(args);
}

static int64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);  /* vDSO: no system call */
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int ignored(unsigned filter, uint8_t status) {
    if (status == 0xF0) return filter & MJ_IGNORE_SYSEX;
    if (status == 0xF1 || status == 0xF8) return filter & MJ_IGNORE_TIMING;
    if (status == 0xFE) return filter & MJ_IGNORE_SENSE;
    return 0;
}

/* JACK's real-time thread. */
static int process(jack_nframes_t nframes, void *arg) {
    mj_input *in = arg;
    atomic_store(&in->in_cycle, 1);
    jack_port_t *port = atomic_load(&in->port);
    if (port == NULL) goto done;
    void *buffer = in->jack.port_get_buffer(port, nframes);
    uint32_t count = in->jack.midi_get_event_count(buffer);
    if (count == 0) goto done;

    /* An event's time: the CLOCK_MONOTONIC time this callback runs, less the distance in JACK
     * time between the event's frame and the cycle's last event's frame. JACK's frame times
     * alone (jack_frames_to_time) are the server's schedule: when a server runs late (a busy
     * machine, a non-realtime dummy driver) they lie tens of milliseconds before the event was
     * even sent, and the engine compares stamps with the clock (long presses). Anchored here, a
     * stamp lies between the send and this callback, and events of one cycle keep their
     * spacing (hardware bridges spread them over the period; python-rtmidi senders put all at
     * frame 0). Never earlier than the previous stamp. */
    int64_t now = monotonic_ns();
    jack_nframes_t cycle_start = in->jack.last_frame_time(in->client);
    jack_midi_event_t last;
    if (in->jack.midi_event_get(&last, buffer, count - 1) != 0) last.time = 0;
    int64_t last_us = (int64_t)in->jack.frames_to_time(in->client, cycle_start + last.time);
    unsigned filter = atomic_load_explicit(&in->filter, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&in->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&in->tail, memory_order_acquire);
    uint64_t pushed = 0, dropped = 0, oversized = 0, filtered = 0;
    for (uint32_t i = 0; i < count; i++) {
        jack_midi_event_t event;
        if (in->jack.midi_event_get(&event, buffer, i) != 0 || event.size == 0) continue;
        if (ignored(filter, event.buffer[0])) { filtered++; continue; }
        if (event.size > in->max_bytes) { oversized++; continue; }
        if (head - tail >= in->capacity) {
            tail = atomic_load_explicit(&in->tail, memory_order_acquire);
            if (head - tail >= in->capacity) { dropped++; continue; }
        }
        int64_t event_us = (int64_t)in->jack.frames_to_time(in->client, cycle_start + event.time);
        int64_t stamp = now - (last_us - event_us) * 1000;
        if (stamp > now) stamp = now;
        if (stamp < in->last_stamp) stamp = in->last_stamp;
        in->last_stamp = stamp;
        uint8_t *slot = in->slots + (size_t)(head & in->mask) * in->stride;
        uint32_t size = (uint32_t)event.size;
        memcpy(slot, &stamp, sizeof stamp);
        memcpy(slot + 8, &size, sizeof size);
        memcpy(slot + 12, event.buffer, event.size);
        head++;
        pushed++;
    }
    if (pushed) {
        atomic_store_explicit(&in->head, head, memory_order_release);
        atomic_fetch_add_explicit(&in->received, pushed, memory_order_relaxed);
        uint64_t one = 1;
        ssize_t unused = write(in->event_fd, &one, sizeof one);  /* EAGAIN only if never read */
        (void)unused;
    }
    if (dropped) atomic_fetch_add_explicit(&in->dropped, dropped, memory_order_relaxed);
    if (oversized) atomic_fetch_add_explicit(&in->oversized, oversized, memory_order_relaxed);
    if (filtered) atomic_fetch_add_explicit(&in->filtered, filtered, memory_order_relaxed);
done:
    atomic_store(&in->in_cycle, 0);
    return 0;
}

/* JACK's own thread, when the server goes away: wake the dispatcher so it can notice. */
static void on_shutdown(void *arg) {
    mj_input *in = arg;
    atomic_store(&in->server_gone, 1);
    uint64_t one = 1;
    ssize_t unused = write(in->event_fd, &one, sizeof one);
    (void)unused;
}

/* libjack prints "Cannot connect to server socket" and the like on stderr while a client fails
 * to open; mj_open reports the failure in its own words, so it silences libjack (this copy of it:
 * python-rtmidi's wheels carry their own) around jack_client_open and puts its handlers back. */
typedef void (*jack_message_fn)(const char *message);
static void say_nothing(const char *message) { (void)message; }

static void quiet_jack(void *lib, int quiet) {
    static const char *const names[2][2] = {
        {"jack_set_error_function", "jack_error_callback"},
        {"jack_set_info_function", "jack_info_callback"},
    };
    static jack_message_fn saved[2];
    for (int i = 0; i < 2; i++) {
        void (*set)(jack_message_fn);
        *(void **)(&set) = dlsym(lib, names[i][0]);
        jack_message_fn *current = dlsym(lib, names[i][1]);
        if (set == NULL || current == NULL) continue;  /* an older libjack: leave it be */
        if (quiet) {
            saved[i] = *current;
            set(say_nothing);
        } else if (saved[i] != NULL) {
            set(saved[i]);
        }
    }
}

static int load_jack(mj_input *in, const char *libjack, char *err, size_t err_len) {
    in->lib = dlopen(libjack, RTLD_NOW | RTLD_LOCAL);
    if (in->lib == NULL) {
        set_err(err, err_len,
                "cannot load the JACK library %s (%s); install JACK (jackd2 or PipeWire's "
                "pipewire-jack) or use the ALSA MIDI API",
                libjack, dlerror());
        return -1;
    }
#define MJ_LOAD(field, symbol)                                                              \
    *(void **)(&in->jack.field) = dlsym(in->lib, symbol);                                    \
    if (in->jack.field == NULL) {                                                           \
        set_err(err, err_len, "the JACK library %s has no %s: not a usable libjack", libjack, \
                symbol);                                                                    \
        return -1;                                                                          \
    }
    MJ_JACK_SYMBOLS(MJ_LOAD)
#undef MJ_LOAD
    return 0;
}

mj_input *mj_open(const char *libjack, const char *client_name, uint32_t capacity,
                  uint32_t max_event_bytes, char *err, size_t err_len) {
    if (capacity == 0 || (capacity & (capacity - 1)) != 0 || capacity > (1u << 24)) {
        set_err(err, err_len, "ring capacity %u must be a power of two up to 16777216", capacity);
        return NULL;
    }
    if (max_event_bytes < 3 || max_event_bytes > 65536) {
        set_err(err, err_len, "max_event_bytes %u must be 3..65536", max_event_bytes);
        return NULL;
    }
    mj_input *in = calloc(1, sizeof *in);
    if (in == NULL) {
        set_err(err, err_len, "out of memory");
        return NULL;
    }
    in->event_fd = -1;
    in->capacity = capacity;
    in->mask = capacity - 1;
    in->max_bytes = max_event_bytes;
    in->stride = (12 + (size_t)max_event_bytes + 7) & ~(size_t)7;
    in->last_stamp = INT64_MIN;
    atomic_store(&in->filter, MJ_IGNORE_SYSEX | MJ_IGNORE_TIMING | MJ_IGNORE_SENSE);
    if (load_jack(in, libjack, err, err_len) != 0) goto fail;
    /* calloc'd pages are mapped on first touch: memset now, or the RT thread page-faults. */
    in->slots = malloc(in->stride * capacity);
    if (in->slots == NULL) {
        set_err(err, err_len, "out of memory for a %u-event ring", capacity);
        goto fail;
    }
    memset(in->slots, 0, in->stride * capacity);
    in->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (in->event_fd < 0) {
        set_err(err, err_len, "eventfd: %s", strerror(errno));
        goto fail;
    }
    int status = 0;
    static pthread_mutex_t opening = PTHREAD_MUTEX_INITIALIZER;  /* quiet_jack's saved handlers */
    pthread_mutex_lock(&opening);
    quiet_jack(in->lib, 1);
    in->client = in->jack.client_open(client_name, JackNoStartServer, &status);
    quiet_jack(in->lib, 0);
    pthread_mutex_unlock(&opening);
    if (in->client == NULL) {
        set_err(err, err_len,
                "cannot open JACK client %s (status 0x%x): is a JACK server running "
                "(jackd, or PipeWire with pipewire-jack)?",
                client_name, (unsigned)status);
        goto fail;
    }
    if (in->jack.set_process_callback(in->client, process, in) != 0) {
        set_err(err, err_len, "jack_set_process_callback failed");
        goto fail;
    }
    in->jack.on_shutdown(in->client, on_shutdown, in);
    if (in->jack.activate(in->client) != 0) {
        set_err(err, err_len, "cannot activate JACK client %s", client_name);
        goto fail;
    }
    return in;
fail:
    mj_stop(in);
    mj_free(in);
    return NULL;
}

int mj_register(mj_input *in, const char *port_name, char *err, size_t err_len) {
    if (in->client == NULL) {
        set_err(err, err_len, "the JACK client is closed");
        return -1;
    }
    if (atomic_load(&in->port) != NULL) mj_unregister(in);
    jack_port_t *port =
        in->jack.port_register(in->client, port_name, MJ_JACK_MIDI_TYPE, JackPortIsInput, 0);
    if (port == NULL) {
        set_err(err, err_len, "cannot register JACK MIDI input port %s (name taken or too long?)",
                port_name);
        return -1;
    }
    atomic_store(&in->port, port);
    return 0;
}

/* Unhook the port from the process callback, wait out a cycle that may still use it, then
 * unregister it (the load/store pairs are sequentially consistent: Dekker's argument). */
int mj_unregister(mj_input *in) {
    jack_port_t *port = atomic_exchange(&in->port, NULL);
    if (port == NULL || in->client == NULL) return 0;
    struct timespec pause = {0, 200000};
    for (int i = 0; i < 25000 && atomic_load(&in->in_cycle); i++) nanosleep(&pause, NULL);
    return in->jack.port_unregister(in->client, port);
}

int mj_connect(mj_input *in, const char *source_port, char *err, size_t err_len) {
    jack_port_t *port = atomic_load(&in->port);
    if (in->client == NULL || port == NULL) {
        set_err(err, err_len, "no JACK input port is registered");
        return -1;
    }
    int rc = in->jack.connect(in->client, source_port, in->jack.port_name(port));
    if (rc != 0 && rc != EEXIST) {
        set_err(err, err_len, "jack_connect(%s -> %s) failed (%d)", source_port,
                in->jack.port_name(port), rc);
        return -1;
    }
    return 0;
}

int mj_ports(mj_input *in, char *out, size_t out_len) {
    if (in->client == NULL) return -1;
    const char **names = in->jack.get_ports(in->client, NULL, MJ_JACK_MIDI_TYPE, JackPortIsOutput);
    size_t used = 0;
    for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
        size_t len = strlen(names[i]);
        if (used + len + 1 < out_len) {
            memcpy(out + used, names[i], len);
            out[used + len] = '\n';
        }
        used += len + 1;
    }
    if (names != NULL) in->jack.free(names);
    if (used < out_len) out[used] = '\0';
    return (int)used;  /* > out_len - 1: call again with a larger buffer */
}

const char *mj_client_name(mj_input *in) {
    return in->client == NULL ? "" : in->jack.get_client_name(in->client);
}

int mj_event_fd(mj_input *in) { return in->event_fd; }

uint32_t mj_max_event_bytes(mj_input *in) { return in->max_bytes; }

void mj_set_filter(mj_input *in, int sysex, int timing, int active_sense) {
    unsigned filter = (sysex ? MJ_IGNORE_SYSEX : 0) | (timing ? MJ_IGNORE_TIMING : 0) |
                      (active_sense ? MJ_IGNORE_SENSE : 0);
    atomic_store_explicit(&in->filter, filter, memory_order_relaxed);
}

/* The consumer: copies up to max_events events out, event i's bytes at data + i * max_bytes. */
size_t mj_drain(mj_input *in, uint8_t *data, uint32_t *sizes, int64_t *stamps, size_t max_events) {
    uint64_t tail = atomic_load_explicit(&in->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&in->head, memory_order_acquire);
    size_t n = 0;
    for (; tail != head && n < max_events; tail++, n++) {
        const uint8_t *slot = in->slots + (size_t)(tail & in->mask) * in->stride;
        memcpy(&stamps[n], slot, 8);
        memcpy(&sizes[n], slot + 8, 4);
        memcpy(data + n * in->max_bytes, slot + 12, sizes[n]);
    }
    atomic_store_explicit(&in->tail, tail, memory_order_release);
    return n;
}

void mj_stats_get(mj_input *in, mj_stats *out) {
    out->received = atomic_load(&in->received);
    out->dropped = atomic_load(&in->dropped);
    out->oversized = atomic_load(&in->oversized);
    out->filtered = atomic_load(&in->filtered);
    out->server_gone = atomic_load(&in->server_gone);
}

/* Deactivate and close the client: the process callback never runs again after this. */
void mj_stop(mj_input *in) {
    if (in == NULL || in->client == NULL) return;
    in->jack.deactivate(in->client);
    atomic_store(&in->port, NULL);
    in->jack.client_close(in->client);
    in->client = NULL;
}

/* After mj_stop and after the consumer stopped calling mj_drain. */
void mj_free(mj_input *in) {
    if (in == NULL) return;
    if (in->event_fd >= 0) close(in->event_fd);
    free(in->slots);
    /* libjack stays loaded (no dlclose): unloading a library that started threads and
     * registered atexit handlers is unsafe, and a second open finds it already mapped. */
    free(in);
}
