/* The part of JACK's C API (jack/jack.h, jack/midiport.h; stable since JACK 0.1xx, the same in
 * jackd2 and PipeWire's libjack) that jackin.c calls, declared here so that building midimon
 * needs no JACK headers. Every function is looked up with dlsym() in the libjack opened at run
 * time; the types are only those the calls need. */
#ifndef MIDIMON_JACK_API_H
#define MIDIMON_JACK_API_H

#include <stddef.h>
#include <stdint.h>

typedef uint32_t jack_nframes_t;
typedef uint64_t jack_time_t;
typedef struct _jack_client jack_client_t;
typedef struct _jack_port jack_port_t;
typedef unsigned char jack_midi_data_t;

typedef struct {
    jack_nframes_t time;       /* frame offset in this cycle */
    size_t size;               /* bytes of the message */
    jack_midi_data_t *buffer;  /* the bytes (JACK's memory, valid during the cycle) */
} jack_midi_event_t;

enum { JackNullOption = 0x00, JackNoStartServer = 0x01 };                   /* jack_options_t */
enum { JackPortIsInput = 0x1, JackPortIsOutput = 0x2 };                     /* JackPortFlags */
#define MJ_JACK_MIDI_TYPE "8 bit raw midi"                                  /* JACK_DEFAULT_MIDI_TYPE */

typedef int (*JackProcessCallback)(jack_nframes_t nframes, void *arg);
typedef void (*JackShutdownCallback)(void *arg);

/* One pointer per function, filled by dlsym() (names as in libjack). */
typedef struct jack_api {
    jack_client_t *(*client_open)(const char *name, int options, int *status, ...);
    int (*client_close)(jack_client_t *client);
    char *(*get_client_name)(jack_client_t *client);
    int (*set_process_callback)(jack_client_t *client, JackProcessCallback cb, void *arg);
    void (*on_shutdown)(jack_client_t *client, JackShutdownCallback cb, void *arg);
    int (*activate)(jack_client_t *client);
    int (*deactivate)(jack_client_t *client);
    jack_port_t *(*port_register)(jack_client_t *client, const char *name, const char *type,
                                  unsigned long flags, unsigned long buffer_size);
    int (*port_unregister)(jack_client_t *client, jack_port_t *port);
    const char *(*port_name)(const jack_port_t *port);
    void *(*port_get_buffer)(jack_port_t *port, jack_nframes_t nframes);
    int (*connect)(jack_client_t *client, const char *source, const char *destination);
    const char **(*get_ports)(jack_client_t *client, const char *name_pattern,
                              const char *type_pattern, unsigned long flags);
    void (*free)(void *ptr);
    jack_nframes_t (*last_frame_time)(const jack_client_t *client);
    jack_time_t (*frames_to_time)(const jack_client_t *client, jack_nframes_t frames);
    uint32_t (*midi_get_event_count)(void *port_buffer);
    int (*midi_event_get)(jack_midi_event_t *event, void *port_buffer, uint32_t index);
} jack_api;

/* (field, symbol) pairs, in the struct's order, for the loader. */
#define MJ_JACK_SYMBOLS(X)                                                                  \
    X(client_open, "jack_client_open") X(client_close, "jack_client_close")                 \
    X(get_client_name, "jack_get_client_name")                                               \
    X(set_process_callback, "jack_set_process_callback") X(on_shutdown, "jack_on_shutdown") \
    X(activate, "jack_activate") X(deactivate, "jack_deactivate")                           \
    X(port_register, "jack_port_register") X(port_unregister, "jack_port_unregister")       \
    X(port_name, "jack_port_name") X(port_get_buffer, "jack_port_get_buffer")               \
    X(connect, "jack_connect") X(get_ports, "jack_get_ports") X(free, "jack_free")          \
    X(last_frame_time, "jack_last_frame_time") X(frames_to_time, "jack_frames_to_time")     \
    X(midi_get_event_count, "jack_midi_get_event_count")                                     \
    X(midi_event_get, "jack_midi_event_get")

#endif
