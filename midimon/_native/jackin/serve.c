/* The native dispatcher loop (see fastpath.h, "The serve loop"): the JACK input's dispatcher
 * thread waits for the ring, drains it and walks the messages through the published table
 * without taking the GIL, into the ledger's batches, which Python accounts for on another thread;
 * it returns to Python only to hand it a message the walk cannot decide or to have it publish the
 * table again. */
#define _GNU_SOURCE
#include "fastpath.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jackin.h"

struct fp_slot {
    pthread_mutex_t mutex;      /* held by a walk or a publish, inside C only */
    fp_table *table;            /* with the mutex held; NULL: no walk */
    int64_t valid_until_ns;     /* with the mutex held; CLOCK_MONOTONIC */
};

fp_slot *fp_slot_new(void) {
    fp_slot *slot = calloc(1, sizeof *slot);
    if (slot == NULL) return NULL;
    pthread_mutex_init(&slot->mutex, NULL);
    return slot;
}

int fp_slot_publish(fp_slot *slot, fp_table *table, int64_t valid_until_ns, int64_t wait_ns) {
    int rc = pthread_mutex_trylock(&slot->mutex);
    if (rc == EBUSY && wait_ns > 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);  /* what pthread_mutex_timedlock counts in */
        int64_t deadline = (int64_t)until.tv_sec * 1000000000 + until.tv_nsec + wait_ns;
        until.tv_sec = deadline / 1000000000;
        until.tv_nsec = deadline % 1000000000;
        do rc = pthread_mutex_timedlock(&slot->mutex, &until);
        while (rc == EINTR);
    }
    if (rc != 0) return ETIMEDOUT;
    slot->table = table;
    slot->valid_until_ns = valid_until_ns;
    pthread_mutex_unlock(&slot->mutex);
    return 0;
}

size_t fp_slot_dispatch(fp_slot *slot, fp_table *table, const uint8_t *data,
                        const uint32_t *sizes, const int64_t *stamps, size_t stride,
                        size_t count, fp_record *records, size_t max_records, fp_counts *counts) {
    memset(counts, 0, sizeof *counts);
    pthread_mutex_lock(&slot->mutex);
    size_t done = fp_dispatch(table, data, sizes, stamps, stride, count, records, max_records,
                              counts);
    pthread_mutex_unlock(&slot->mutex);
    return done;
}

size_t fp_slot_dispatch_one(fp_slot *slot, fp_table *table, const char *message, uint32_t size,
                            int64_t stamp, fp_record *records, size_t max_records,
                            fp_counts *counts) {
    if (size > 3) {
        memset(counts, 0, sizeof *counts);
        return 0;
    }
    return fp_slot_dispatch(slot, table, (const uint8_t *)message, &size, &stamp, 4, 1, records,
                            max_records, counts);
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

/* -- the ledger ------------------------------------------------------------------------------- */
enum { FP_LEDGER_RECORDS = 64, HANDOFF_RETRY_MS = 2 };

struct fp_ledger {
    pthread_mutex_t mutex;
    pthread_cond_t changed;     /* a batch was handed over or accounted for, or closed */
    fp_batch batches[2];
    int filling;                /* the loop's: the batch it walks into (the mutex to change) */
    int full[2];                /* with the mutex: handed to Python, not accounted for yet */
    int closed;                 /* with the mutex */
    uint64_t handed;            /* with the mutex: hand-overs so far */
};

fp_ledger *fp_ledger_new(void) {
    fp_ledger *ledger = calloc(1, sizeof *ledger);
    if (ledger == NULL) return NULL;
    pthread_mutex_init(&ledger->mutex, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ledger->changed, &attr);
    pthread_condattr_destroy(&attr);
    return ledger;
}

static int empty(const fp_batch *batch) { return batch->counts.events == 0; }

fp_batch *fp_ledger_take(fp_ledger *ledger, int64_t timeout_ns) {
    int64_t deadline = monotonic_now() + timeout_ns;
    struct timespec until = {deadline / 1000000000, deadline % 1000000000};
    pthread_mutex_lock(&ledger->mutex);
    fp_batch *found = NULL;
    for (;;) {
        for (int i = 0; i < 2; i++)  /* at most one is full: the loop hands over to an empty one */
            if (ledger->full[i]) found = &ledger->batches[i];
        if (found != NULL || ledger->closed) break;
        if (pthread_cond_timedwait(&ledger->changed, &ledger->mutex, &until) == ETIMEDOUT) break;
    }
    pthread_mutex_unlock(&ledger->mutex);
    return found;
}

void fp_ledger_done(fp_ledger *ledger, fp_batch *batch) {
    pthread_mutex_lock(&ledger->mutex);
    batch->counts.events = batch->counts.triggers = batch->counts.calls = 0;
    batch->counts.out_of_records = batch->counts.sent = 0;
    ledger->full[batch - ledger->batches] = 0;
    pthread_cond_broadcast(&ledger->changed);
    pthread_mutex_unlock(&ledger->mutex);
}

uint64_t fp_ledger_handed(fp_ledger *ledger) {
    pthread_mutex_lock(&ledger->mutex);
    uint64_t handed = ledger->handed;
    pthread_mutex_unlock(&ledger->mutex);
    return handed;
}

void fp_ledger_close(fp_ledger *ledger) {
    pthread_mutex_lock(&ledger->mutex);
    ledger->closed = 1;
    pthread_cond_broadcast(&ledger->changed);
    pthread_mutex_unlock(&ledger->mutex);
}

fp_batch *fp_ledger_filling(fp_ledger *ledger) {
    pthread_mutex_lock(&ledger->mutex);
    fp_batch *batch = &ledger->batches[ledger->filling];
    batch->number = ledger->handed + 1;
    pthread_mutex_unlock(&ledger->mutex);
    return batch;
}

void fp_ledger_free(fp_ledger *ledger) {
    if (ledger == NULL) return;
    pthread_cond_destroy(&ledger->changed);
    pthread_mutex_destroy(&ledger->mutex);
    free(ledger);
}

/* The loop hands its batch to Python and fills the other: at once when the other is free;
 * else, with `wait`, once Python is done with it. 1 when handed over. */
static int hand_over(fp_ledger *ledger, int wait) {
    pthread_mutex_lock(&ledger->mutex);
    int other = 1 - ledger->filling;
    while (ledger->full[other] && wait && !ledger->closed)
        pthread_cond_wait(&ledger->changed, &ledger->mutex);
    int handed = !ledger->full[other];
    if (handed) {
        ledger->batches[ledger->filling].number = ++ledger->handed;
        ledger->full[ledger->filling] = 1;
        ledger->filling = other;
        pthread_cond_broadcast(&ledger->changed);
    }
    pthread_mutex_unlock(&ledger->mutex);
    return handed;
}

int fp_thread_priority(int priority) {
    struct sched_param param = {0};
    param.sched_priority = priority;
    return pthread_setschedparam(pthread_self(), priority > 0 ? SCHED_FIFO : SCHED_OTHER, &param);
}

/* -- the loop --------------------------------------------------------------------------------- */
/* Walk what is buffered from state->next with the slot's table. Returns -1 when all of it was
 * walked, else what fp_serve returns. */
static int walk(fp_slot *slot, const uint8_t *data, const uint32_t *sizes, const int64_t *stamps,
                size_t stride, fp_serve_state *state) {
    fp_ledger *ledger = state->ledger;
    for (;;) {
        fp_batch *batch = &ledger->batches[ledger->filling];
        pthread_mutex_lock(&slot->mutex);
        fp_table *table = slot->table;
        if (table == NULL) {
            pthread_mutex_unlock(&slot->mutex);
            return FP_SERVE_PYTHON;
        }
        if (monotonic_now() > slot->valid_until_ns) {
            pthread_mutex_unlock(&slot->mutex);
            return FP_SERVE_STALE;
        }
        size_t first = state->next;
        size_t done = fp_dispatch(table, data + first * stride, sizes + first, stamps + first,
                                  stride, state->have - first, batch->records, FP_LEDGER_RECORDS,
                                  &batch->counts);
        pthread_mutex_unlock(&slot->mutex);
        state->next = (uint32_t)(first + done);
        if (state->next == state->have) return -1;
        /* stopped before a message: it is Python's, or the batch had no room for its records
         * (then hand the batch over, when Python is done with the other, and walk on) */
        if (!batch->counts.out_of_records) return FP_SERVE_PYTHON;
        batch->counts.out_of_records = 0;
        hand_over(ledger, 1);
    }
}

int fp_serve(struct mj_input *in, fp_slot *slot, uint8_t *data, uint32_t *sizes, int64_t *stamps,
             uint32_t max_events, fp_serve_state *state) {
    size_t stride = mj_max_event_bytes(in);
    int fd = mj_event_fd(in);
    fp_ledger *ledger = state->ledger;
    for (;;) {
        if (state->next < state->have) {
            int result = walk(slot, data, sizes, stamps, stride, state);
            if (result >= 0) return result;
        }
        /* everything buffered is handled: more without sleeping, if there is more */
        state->have = (uint32_t)mj_drain(in, data, sizes, stamps, max_events);
        state->next = 0;
        if (state->have) continue;
        /* nothing waits: hand what was walked to Python, or try again shortly */
        int pending = !empty(&ledger->batches[ledger->filling]) && !hand_over(ledger, 0);
        struct pollfd wait = {fd, POLLIN, 0};
        int ready = poll(&wait, 1, pending ? HANDOFF_RETRY_MS : -1);
        if (ready == 0) continue;  /* the retry's time */
        if (ready < 0 && errno != EINTR) return FP_SERVE_WOKE;
        uint64_t signals;
        ssize_t unused = read(fd, &signals, sizeof signals);  /* reset the eventfd's counter */
        (void)unused;
        state->have = (uint32_t)mj_drain(in, data, sizes, stamps, max_events);
        state->next = 0;
        if (state->have == 0) return FP_SERVE_WOKE;  /* a close, or the server went away */
    }
}
