/* midimon's native dispatch (see fastpath.h): the compiled dispatch of midimon/daemon/dispatch.py,
 * the same decisions in the same order, for the events whose actions are all in-process
 * `inline` plugin calls. Everything it cannot decide exactly as the Python path would stops the
 * walk before that event. */
#define _GNU_SOURCE
#include "fastpath.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "midimon_plugin.h"

enum { CELL_NONE = 0, CELL_PYTHON = 1, CELL_FIRST_ENTRY = 2 };

struct fp_gate {
    pthread_mutex_t mutex;
    int alive;                  /* written with the mutex held */
};

struct fp_bucket {
    pthread_mutex_t mutex;
    double rate, burst, tokens, stamp;   /* with the mutex held */
};

struct fp_counter {
    _Atomic uint64_t value;
};

typedef struct fp_route {
    int32_t low, high;
    int how;
    uint32_t trigger_kind;
    uint32_t first_call, n_calls;
} fp_route;

typedef struct fp_entry {
    uint32_t first_route, n_routes;
    uint32_t calls;             /* the most records one message reaching this entry writes */
    int isolated;               /* its one call goes to an isolated plugin's worker */
} fp_entry;

struct fp_table {
    char *mode;
    fp_counter *changes;
    uint64_t expected_changes;
    fp_target *targets;
    uint32_t n_targets;
    uint8_t row_exists[256];    /* a row of the Python table exists for this status byte */
    uint32_t cells[256][128];
    fp_entry *entries;
    size_t n_entries, cap_entries;
    fp_route *routes;
    size_t n_routes, cap_routes;
    uint32_t *calls;
    size_t n_calls, cap_calls;
    midimon_trigger_context_t context;   /* reused: calls on one table never overlap */
};

/* -- gates ------------------------------------------------------------------------------------ */
fp_gate *fp_gate_new(void) {
    fp_gate *gate = calloc(1, sizeof *gate);
    if (gate == NULL) return NULL;
    pthread_mutex_init(&gate->mutex, NULL);
    gate->alive = 1;
    return gate;
}

void fp_gate_enter(fp_gate *gate) { pthread_mutex_lock(&gate->mutex); }
void fp_gate_leave(fp_gate *gate) { pthread_mutex_unlock(&gate->mutex); }
void fp_gate_close(fp_gate *gate) { gate->alive = 0; }

static int gate_take(fp_gate *gate, int64_t timeout_ns);
int fp_gate_enter_within(fp_gate *gate, int64_t timeout_ns) { return gate_take(gate, timeout_ns); }

void fp_gate_free(fp_gate *gate) {
    if (gate == NULL) return;
    pthread_mutex_destroy(&gate->mutex);
    free(gate);
}

/* Take the gate, waiting at most timeout_ns (what the Python path's call lock waits). */
static int gate_take(fp_gate *gate, int64_t timeout_ns) {
    if (pthread_mutex_trylock(&gate->mutex) == 0) return 1;
    int64_t deadline = fp_clock_ns(CLOCK_REALTIME) + (timeout_ns > 0 ? timeout_ns : 0);
    struct timespec until = {deadline / 1000000000, deadline % 1000000000};
    int rc;
    do rc = pthread_mutex_timedlock(&gate->mutex, &until);
    while (rc == EINTR);
    return rc == 0;
}

/* -- buckets ---------------------------------------------------------------------------------- */
fp_bucket *fp_bucket_new(double rate, double burst, double tokens, double now) {
    fp_bucket *bucket = calloc(1, sizeof *bucket);
    if (bucket == NULL) return NULL;
    pthread_mutex_init(&bucket->mutex, NULL);
    bucket->rate = rate;
    bucket->burst = burst;
    bucket->tokens = tokens;
    bucket->stamp = now;
    return bucket;
}

/* TokenBucket.try_take's arithmetic, step for step. */
int fp_bucket_take(fp_bucket *bucket, double now) {
    pthread_mutex_lock(&bucket->mutex);
    double tokens = bucket->tokens + (now - bucket->stamp) * bucket->rate;
    bucket->tokens = tokens < bucket->burst ? tokens : bucket->burst;
    bucket->stamp = now;
    int taken = bucket->tokens >= 1;
    if (taken) bucket->tokens -= 1;
    pthread_mutex_unlock(&bucket->mutex);
    return taken;
}

void fp_bucket_give_back(fp_bucket *bucket) {
    pthread_mutex_lock(&bucket->mutex);
    bucket->tokens = bucket->tokens + 1 < bucket->burst ? bucket->tokens + 1 : bucket->burst;
    pthread_mutex_unlock(&bucket->mutex);
}

void fp_bucket_free(fp_bucket *bucket) {
    if (bucket == NULL) return;
    pthread_mutex_destroy(&bucket->mutex);
    free(bucket);
}

/* -- change counters -------------------------------------------------------------------------- */
fp_counter *fp_counter_new(void) { return calloc(1, sizeof(fp_counter)); }
uint64_t fp_counter_bump(fp_counter *counter) { return atomic_fetch_add(&counter->value, 1) + 1; }
uint64_t fp_counter_get(fp_counter *counter) { return atomic_load(&counter->value); }
void fp_counter_free(fp_counter *counter) { free(counter); }

/* -- tables ----------------------------------------------------------------------------------- */
fp_table *fp_table_new(const char *mode, uint32_t n_targets, fp_counter *changes,
                       uint64_t expected_changes) {
    fp_table *table = calloc(1, sizeof *table);
    if (table == NULL) return NULL;
    table->mode = strdup(mode);
    table->targets = calloc(n_targets ? n_targets : 1, sizeof *table->targets);
    if (table->mode == NULL || table->targets == NULL) {
        fp_table_free(table);
        return NULL;
    }
    table->n_targets = n_targets;
    table->changes = changes;
    table->expected_changes = expected_changes;
    midimon_trigger_context_t *context = &table->context;
    context->struct_size = sizeof *context;
    context->mode = table->mode;
    context->source = "";
    context->event_name = "";
    return table;
}

void fp_table_set_target(fp_table *table, uint32_t index, const fp_target *target) {
    if (index < table->n_targets) table->targets[index] = *target;
}

int fp_table_set_cells(fp_table *table, const uint8_t *rows, const uint32_t *cells) {
    for (int status = 0; status < 256; status++) {
        table->row_exists[status] = rows[status] != 0;
        for (int number = 0; number < 128; number++) {
            uint32_t entry = cells[status * 128 + number];
            if (entry >= CELL_FIRST_ENTRY && entry - CELL_FIRST_ENTRY >= table->n_entries)
                return -1;
            table->cells[status][number] = entry;
        }
    }
    return 0;
}

static int grow(void **items, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 0;
    size_t next = *cap ? *cap * 2 : 16;
    while (next < need) next *= 2;
    void *moved = realloc(*items, next * size);
    if (moved == NULL) return -1;
    *items = moved;
    *cap = next;
    return 0;
}

int64_t fp_table_add_entry(fp_table *table) {
    if (grow((void **)&table->entries, &table->cap_entries, table->n_entries + 1,
             sizeof *table->entries) != 0)
        return -1;
    fp_entry *entry = &table->entries[table->n_entries];
    entry->first_route = (uint32_t)table->n_routes;
    entry->n_routes = 0;
    entry->calls = 0;
    entry->isolated = 0;
    return (int64_t)table->n_entries++;
}

int fp_table_add_route(fp_table *table, int32_t low, int32_t high, int how,
                       uint32_t trigger_kind, const uint32_t *targets, uint32_t n_targets) {
    if (table->n_entries == 0) return -1;
    fp_entry *entry = &table->entries[table->n_entries - 1];
    int isolated = entry->isolated;
    for (uint32_t i = 0; i < n_targets; i++) {
        if (targets[i] >= table->n_targets) return -1;
        isolated |= table->targets[targets[i]].channel != NULL;
    }
    /* an isolated call is sent only while its worker has nothing else: one per message */
    if (isolated && entry->calls + n_targets > 1) return -1;
    if (grow((void **)&table->routes, &table->cap_routes, table->n_routes + 1,
             sizeof *table->routes) != 0 ||
        grow((void **)&table->calls, &table->cap_calls, table->n_calls + n_targets,
             sizeof *table->calls) != 0)
        return -1;
    fp_route *route = &table->routes[table->n_routes++];
    route->low = low;
    route->high = high;
    route->how = how;
    route->trigger_kind = trigger_kind;
    route->first_call = (uint32_t)table->n_calls;
    route->n_calls = n_targets;
    memcpy(table->calls + table->n_calls, targets, n_targets * sizeof *targets);
    table->n_calls += n_targets;
    entry->isolated = isolated;
    entry->n_routes++;
    entry->calls += n_targets;
    return 0;
}

void fp_table_free(fp_table *table) {
    if (table == NULL) return;
    free(table->mode);
    free(table->targets);
    free(table->entries);
    free(table->routes);
    free(table->calls);
    free(table);
}

/* -- the walk --------------------------------------------------------------------------------- */
typedef int32_t (*execute_fn)(const midimon_plugin_t *, const char *, size_t,
                              const midimon_trigger_context_t *, char *, size_t);

/* PreparedCall.run's steps for a call it may make: the token bucket, the call lock (here the
 * plugin's gate) with the call's timeout, then execute(). */
static void call(fp_table *table, const fp_target *target, uint32_t index, fp_record *record) {
    record->target = index;
    record->table = table;
    record->status = 0;
    record->elapsed_ns = 0;
    record->message[0] = '\0';
    if (!fp_bucket_take(target->bucket, (double)fp_clock_ns(CLOCK_MONOTONIC) / 1e9)) {
        record->kind = FP_RATE_LIMITED;
        return;
    }
    if (!gate_take(target->gate, target->timeout_ns)) {
        record->kind = FP_BUSY;
        return;
    }
    if (!target->gate->alive) {
        fp_gate_leave(target->gate);
        record->kind = FP_GONE;
        return;
    }
    execute_fn execute = (execute_fn)target->execute;
    int64_t started = fp_clock_ns(CLOCK_MONOTONIC);
    record->status = execute((const midimon_plugin_t *)target->self, target->params,
                             target->params_len, &table->context, record->message,
                             sizeof record->message);
    record->elapsed_ns = fp_clock_ns(CLOCK_MONOTONIC) - started;
    fp_gate_leave(target->gate);
    record->message[sizeof record->message - 1] = '\0';  /* a plugin that forgot the NUL */
    record->kind = FP_CALLED;
}

/* The context of one call, as the Python path's TriggerContext for the same trigger. */
static void fill_context(midimon_trigger_context_t *context, uint8_t status, uint8_t number,
                         uint8_t velocity, int32_t value, uint32_t trigger_kind, int64_t stamp) {
    context->velocity = velocity;
    context->channel = status & 0x0F;
    context->number = number;
    context->reserved0 = 0;
    context->value = value;
    context->trigger_kind = trigger_kind;
    context->timestamp_ns = (uint64_t)stamp;
    context->wall_time_ms = fp_clock_ns(CLOCK_REALTIME) / 1000000;  /* per call, as Python */
    context->event_value = value;
}

/* A message reaching an entry whose one call goes to an isolated plugin: the call is sent (or
 * refused by the rate limit, one record) before anything is counted, since a send the channel
 * refuses leaves the message to the Python path. 0 when it did. */
static int send_isolated(fp_table *table, const fp_entry *entry, uint8_t status, uint8_t number,
                         uint8_t velocity, int32_t checked, int64_t stamp, fp_record *record,
                         fp_counts *counts) {
    uint32_t fired = 0;
    for (uint32_t r = 0; r < entry->n_routes; r++) {
        const fp_route *route = &table->routes[entry->first_route + r];
        if (checked < route->low || checked > route->high) continue;
        fired++;
        if (route->n_calls == 0) continue;
        uint32_t index = table->calls[route->first_call];
        fill_context(&table->context, status, number, velocity, route->how == 0 ? 0 : checked,
                     route->trigger_kind, stamp);
        int sent = fp_channel_send(table, &table->targets[index], index, &table->context, record);
        if (sent == FP_SEND_REFUSED) return -1;
        if (sent == FP_SEND_RECORDED)
            counts->calls++;
        else
            counts->sent++;
    }
    counts->events++;
    counts->triggers += fired;
    return 0;
}

size_t fp_dispatch(fp_table *table, const uint8_t *data, const uint32_t *sizes,
                   const int64_t *stamps, size_t stride, size_t count, fp_record *records,
                   size_t max_records, fp_counts *counts) {
    midimon_trigger_context_t *context = &table->context;
    for (size_t i = 0; i < count; i++) {
        /* a plugin loaded, unloaded, restarted, disabled or granted since the build */
        if (atomic_load(&table->changes->value) != table->expected_changes) return i;
        const uint8_t *message = data + i * stride;
        uint32_t size = sizes[i];
        if (size < 2) return i;
        uint8_t status = message[0];
        if (!table->row_exists[status]) {  /* nothing listens to this status (or it is none) */
            counts->events++;
            continue;
        }
        uint8_t kind = status & 0xF0;
        uint32_t cell;
        int32_t checked;
        uint8_t number = 0, velocity = 0;
        if (kind == 0xD0) {  /* channel aftertouch: status, pressure */
            if (size != 2 || message[1] > 0x7F) return i;
            cell = table->cells[status][0];
            checked = message[1];
        } else {
            if (size != 3 || message[1] > 0x7F || message[2] > 0x7F) return i;
            number = message[1];
            checked = message[2];
            if (kind == 0x90) {
                if (checked == 0) {  /* a note-on with velocity 0 is a note-off */
                    uint8_t off = (uint8_t)(status - 0x10);
                    if (table->row_exists[off] && table->cells[off][number] != CELL_NONE) return i;
                    counts->events++;
                    continue;
                }
                velocity = (uint8_t)checked;
                cell = table->cells[status][number];
            } else if (kind == 0xE0) {  /* pitch bend: LSB, MSB */
                checked = ((checked << 7) | number) - 8192;
                number = 0;
                cell = table->cells[status][0];
            } else {  /* poly aftertouch, CC (note-off listeners are all stateful) */
                velocity = kind == 0x80 ? (uint8_t)checked : 0;
                cell = table->cells[status][number];
            }
        }
        if (cell == CELL_NONE) {
            counts->events++;
            continue;
        }
        if (cell == CELL_PYTHON) return i;
        const fp_entry *entry = &table->entries[cell - CELL_FIRST_ENTRY];
        if (counts->calls + entry->calls > max_records) {
            counts->out_of_records = 1;
            return i;
        }
        if (entry->isolated) {
            if (send_isolated(table, entry, status, number, velocity, checked, stamps[i],
                              &records[counts->calls], counts) != 0)
                return i;
            continue;
        }
        counts->events++;
        for (uint32_t r = 0; r < entry->n_routes; r++) {
            const fp_route *route = &table->routes[entry->first_route + r];
            if (checked < route->low || checked > route->high) continue;
            int32_t value = route->how == 0 ? 0 : checked;
            counts->triggers++;
            for (uint32_t c = 0; c < route->n_calls; c++) {
                uint32_t index = table->calls[route->first_call + c];
                fill_context(context, status, number, velocity, value, route->trigger_kind,
                             stamps[i]);
                call(table, &table->targets[index], index, &records[counts->calls++]);
            }
        }
    }
    return count;
}
