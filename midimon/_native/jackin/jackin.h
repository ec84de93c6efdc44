/* midimon's JACK MIDI input: JACK's real-time thread only copies events into a lock-free ring.
 *
 * libmidimon-jackin.so needs neither JACK headers nor libjack to build or load: it declares the
 * few JACK functions it calls (jack_api.h) and dlopen()s libjack when an input is opened.
 *
 * Threads: mj_open, mj_connect, mj_ports, mj_register, mj_unregister, mj_set_filter, mj_stop
 * and mj_free are for the owner (Python, holding its own lock); mj_drain is for the ONE
 * consumer thread (the dispatcher); the producer is JACK's process thread, inside this file.
 * The declarations between the markers are what midimon/midi_jack.py hands to cffi, read from
 * this file (installed as midimon/include/jackin.h); tests/test_midi_jack.py checks the built
 * library defines each function declared.
 */
#ifndef MIDIMON_JACKIN_H
#define MIDIMON_JACKIN_H

#include <stddef.h>
#include <stdint.h>

/* MIDIMON_JACKIN_CDEF_BEGIN */
typedef struct mj_input mj_input;

typedef struct mj_stats {
    uint64_t received;   /* events copied into the ring */
    uint64_t dropped;    /* events lost because the ring was full */
    uint64_t oversized;  /* events longer than max_event_bytes (long sysex), not delivered */
    uint64_t filtered;   /* events ignored by mj_set_filter (sysex, timing, active sensing) */
    int server_gone;     /* 1 once JACK shut the client down */
} mj_stats;

mj_input *mj_open(const char *libjack, const char *client_name, uint32_t capacity,
                  uint32_t max_event_bytes, char *err, size_t err_len);
int mj_register(mj_input *in, const char *port_name, char *err, size_t err_len);
int mj_unregister(mj_input *in);
int mj_connect(mj_input *in, const char *source_port, char *err, size_t err_len);
int mj_ports(mj_input *in, char *out, size_t out_len);
const char *mj_client_name(mj_input *in);
int mj_event_fd(mj_input *in);
uint32_t mj_max_event_bytes(mj_input *in);
void mj_set_filter(mj_input *in, int sysex, int timing, int active_sense);
size_t mj_drain(mj_input *in, uint8_t *data, uint32_t *sizes, int64_t *stamps, size_t max_events);
void mj_stats_get(mj_input *in, mj_stats *out);
void mj_stop(mj_input *in);
void mj_free(mj_input *in);
/* MIDIMON_JACKIN_CDEF_END */

#endif
