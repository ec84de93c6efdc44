/* The native dispatcher loop (see fastpath.h, "The serve loop"): the JACK input's dispatcher
 * thread waits for the ring, drains it and walks the messages through the published table
 * without taking the GIL; it returns to Python only for what Python must do (account for the
 * calls made, take a message the walk cannot, publish another table). */
#define _GNU_SOURCE
#include "fastpath.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "jackin.h"

struct fp_slot {
    pthread_mutex_t mutex;      /* the walk lock: the daemon holds it with its engine lock */
    fp_table *table;            /* with the mutex held; NULL: no walk */
    int64_t valid_until_ns;     /* with the mutex held; CLOCK_MONOTONIC */
};

fp_slot *fp_slot_new(void) {
    fp_slot *slot = calloc(1, sizeof *slot);
    if (slot == NULL) return NULL;
    pthread_mutex_init(&slot->mutex, NULL);
    return slot;
}

void fp_slot_lock(fp_slot *slot) { pthread_mutex_lock(&slot->mutex); }
void fp_slot_unlock(fp_slot *slot) { pthread_mutex_unlock(&slot->mutex); }

void fp_slot_publish(fp_slot *slot, fp_table *table, int64_t valid_until_ns) {
    slot->table = table;
    slot->valid_until_ns = valid_until_ns;
}

void fp_slot_free(fp_slot *slot) {
    if (slot == NULL) return;
    pthread_mutex_destroy(&slot->mutex);
    free(slot);
}

static int64_t monotonic_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Walk what is buffered from state->next with the slot's table. Returns -1 to go on (all
 * walked), else what fp_serve returns. */
static int walk(fp_slot *slot, const uint8_t *data, const uint32_t *sizes, const int64_t *stamps,
                size_t stride, fp_record *records, size_t max_records, fp_serve_state *state) {
    pthread_mutex_lock(&slot->mutex);
    fp_table *table = slot->table;
    if (table == NULL) {
        pthread_mutex_unlock(&slot->mutex);
        return state->counts.events ? FP_SERVE_ACCOUNT : FP_SERVE_PYTHON;
    }
    if (monotonic_now() > slot->valid_until_ns) {
        pthread_mutex_unlock(&slot->mutex);
        return state->counts.events ? FP_SERVE_ACCOUNT : FP_SERVE_STALE;
    }
    if (state->counts.events && table != state->walked) {  /* records of another table */
        pthread_mutex_unlock(&slot->mutex);
        return FP_SERVE_ACCOUNT;
    }
    size_t first = state->next;
    size_t done = fp_dispatch(table, data + first * stride, sizes + first, stamps + first, stride,
                              state->have - first, records, max_records, &state->counts);
    state->walked = table;
    pthread_mutex_unlock(&slot->mutex);
    state->next = (uint32_t)(first + done);
    if (state->next == state->have) return -1;
    /* stopped before a message: for want of records (account, then walk it), or Python's */
    return state->counts.calls ? FP_SERVE_ACCOUNT : FP_SERVE_PYTHON;
}

int fp_serve(struct mj_input *in, fp_slot *slot, uint8_t *data, uint32_t *sizes, int64_t *stamps,
             uint32_t max_events, fp_record *records, size_t max_records, fp_serve_state *state) {
    size_t stride = mj_max_event_bytes(in);
    int fd = mj_event_fd(in);
    for (;;) {
        if (state->next < state->have) {
            int result = walk(slot, data, sizes, stamps, stride, records, max_records, state);
            if (result >= 0) return result;
        }
        /* everything buffered is handled: more without sleeping, if there is more */
        state->have = (uint32_t)mj_drain(in, data, sizes, stamps, max_events);
        state->next = 0;
        if (state->have) continue;
        if (state->counts.events) return FP_SERVE_ACCOUNT;  /* nothing waits: account now */
        struct pollfd wait = {fd, POLLIN, 0};
        int ready = poll(&wait, 1, -1);
        if (ready < 0 && errno != EINTR) return FP_SERVE_WOKE;
        uint64_t signals;
        ssize_t unused = read(fd, &signals, sizeof signals);  /* reset the eventfd's counter */
        (void)unused;
        state->have = (uint32_t)mj_drain(in, data, sizes, stamps, max_events);
        state->next = 0;
        if (state->have == 0) return FP_SERVE_WOKE;  /* a close, or the server went away */
    }
}
