/* midimon's native dispatch: raw MIDI bytes -> trigger table -> plugin call, in C.
 *
 * The daemon compiles, for the current mode, the part of its trigger table whose every action is
 * a call to an in-process `inline` plugin, or one call to an isolated plugin
 * (midimon/daemon/native_dispatch.py builds it from the compiled table of
 * midimon/engine/dispatch_table.py). fp_dispatch walks a batch of raw messages through it and
 * calls the in-process plugins' execute() directly, or writes the call to the isolated plugin's
 * worker socket itself, behind the calls in flight (channel.c): no interpreter runs between the
 * bytes and the plugin. Whatever else an event needs (a stateful trigger, another action type, a
 * worker with a call of Python's not written yet, a message not in canonical form, a plugin
 * whose state changed) stops the walk at that event, which the caller then hands to the Python
 * path; order is kept because both run on the caller's one thread. What happened is written to
 * records the caller turns into stats, counters and audit entries after the walk.
 *
 * Threads: fp_dispatch runs on one table from one thread at a time: the serve loop's walks and
 * the Python side's (fp_slot_dispatch) both hold the slot's mutex; the table builders are the
 * daemon's Python side, with the GIL released by cffi; fp_gate_*, fp_bucket_take,
 * fp_counter_bump and fp_slot_publish are [any-thread]. Ownership is said per call.
 * The declarations between the markers are handed to cffi by midimon/midi_jack.py, after
 * jackin.h's (the two are one library, libmidimon-jackin.so).
 */
#ifndef MIDIMON_FASTPATH_H
#define MIDIMON_FASTPATH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct mj_input;  /* jackin.h's input, which fp_serve drains (declared there for cffi) */

/* MIDIMON_FASTPATH_CDEF_BEGIN */
/* One in-process plugin's call gate: a mutex every call to the plugin takes (the Python path
 * too, around execute/shutdown), and whether the plugin may still be called. Owned by the
 * Python NativePlugin that made it (fp_gate_new), freed by it (fp_gate_free) only after no table
 * can reach it. [any-thread] */
typedef struct fp_gate fp_gate;
fp_gate *fp_gate_new(void);
void fp_gate_enter(fp_gate *gate);        /* blocks until the gate is free */
/* fp_gate_enter waiting at most `timeout_ns`: 1 when entered, 0 when a call still holds it
 * (shutting down a plugin that may never return from a call). */
int fp_gate_enter_within(fp_gate *gate, int64_t timeout_ns);
void fp_gate_leave(fp_gate *gate);
void fp_gate_close(fp_gate *gate);        /* caller holds the gate: no fast call after this */
void fp_gate_free(fp_gate *gate);

/* A plugin's token bucket (rate tokens/s, up to burst saved), shared by the Python path and the
 * native one so the rate limit counts both. Owned by the Python TokenBucket that made it.
 * fp_bucket_take: 1 when a token was taken at time `now` (CLOCK_MONOTONIC seconds), else 0.
 * [any-thread] */
typedef struct fp_bucket fp_bucket;
fp_bucket *fp_bucket_new(double rate, double burst, double tokens, double now);
int fp_bucket_take(fp_bucket *bucket, double now);
void fp_bucket_free(fp_bucket *bucket);

/* A change counter: the plugin manager bumps it whenever a plugin is loaded, unloaded,
 * restarted, disabled or its grants change; a table built at one count refuses to run at
 * another (the walk stops before the event). Owned by the daemon. [any-thread] */
typedef struct fp_counter fp_counter;
fp_counter *fp_counter_new(void);
uint64_t fp_counter_bump(fp_counter *counter);
uint64_t fp_counter_get(fp_counter *counter);
void fp_counter_free(fp_counter *counter);

/* One plugin call a table can make: the plugin's own struct and execute(), its encoded params
 * (JSON, NUL-terminated, `params_len` bytes), its gate and bucket, and how long a call waits
 * for a busy gate. Every pointer is owned by the Python side, which keeps it alive as long as
 * the table (the table copies none of them). */
typedef struct fp_channel fp_channel;  /* below: calls to an isolated plugin's worker */
typedef struct fp_target {
    uintptr_t execute;          /* midimon_plugin_t.execute of the plugin (in-process) */
    uintptr_t self;             /* the plugin's own midimon_plugin_t pointer (in-process) */
    fp_gate *gate;              /* in-process */
    fp_bucket *bucket;
    const char *params;
    size_t params_len;
    int64_t timeout_ns;
    /* An isolated plugin's call instead (execute, self and gate unused): the channel to its
     * worker, and the two counts of its lane (the Python thread that runs its calls in MIDI
     * order when they cannot be sent at once): calls handed to it, calls it finished. */
    fp_channel *channel;
    fp_counter *lane_submitted;
    fp_counter *lane_finished;
} fp_target;

/* The table for one config, one mode and one change count. Built by the caller:
 * fp_table_new, then fp_table_set_* and fp_table_add_*, then used by fp_dispatch; freed with
 * fp_table_free when no fp_dispatch can still run on it. `mode` is copied. */
typedef struct fp_table fp_table;
fp_table *fp_table_new(const char *mode, uint32_t n_targets, fp_counter *changes,
                       uint64_t expected_changes);
void fp_table_set_target(fp_table *table, uint32_t index, const fp_target *target);
/* Every cell at once, after the entries: `rows[status]` nonzero where a row of the Python table
 * exists; `cells[status * 128 + number]` the entry of (status, number): 0 nothing listens, 1 the
 * Python path must take it, else 2 + the index fp_table_add_entry returned. Both copied.
 * Returns 0, or -1 (the table must not be used) for a cell naming no entry. */
int fp_table_set_cells(fp_table *table, const uint8_t *rows, const uint32_t *cells);
/* A new entry (returns its index, or -1 without memory); then its routes in order, each with
 * its value range, how its value is made (0: 0, 1: the value checked), the trigger kind the
 * context reports (MIDIMON_TRIGGER_*) and its calls (indices of targets; copied). Returns 0, or
 * -1 without memory or with no entry yet, or when an entry would hold a call to an isolated
 * plugin and any other call (such an entry holds that one call and no other). */
int64_t fp_table_add_entry(fp_table *table);
int fp_table_add_route(fp_table *table, int32_t low, int32_t high, int how,
                       uint32_t trigger_kind, const uint32_t *targets, uint32_t n_targets);
void fp_table_free(fp_table *table);

/* What fp_dispatch did for one call. `kind`: FP_CALLED (status: execute()'s return value),
 * FP_RATE_LIMITED, FP_BUSY (the gate stayed busy past the target's timeout), FP_GONE (the plugin
 * was shut down meanwhile). `message` holds what execute() wrote (FP_CALLED only). A call sent
 * to an isolated plugin's worker writes no record (counts.sent; its channel hands it to the
 * Python side, which reads the answer); one refused by the rate limit writes FP_RATE_LIMITED. */
typedef struct fp_record {
    uint32_t target;             /* the index of the call in `table` */
    int32_t kind;
    int32_t status;
    int32_t reserved0;
    int64_t elapsed_ns;          /* execute()'s own time (FP_CALLED) */
    const fp_table *table;       /* the table walked (borrowed: the caller keeps it alive) */
    char message[4096];
} fp_record;

enum { FP_CALLED = 0, FP_RATE_LIMITED = 1, FP_BUSY = 2, FP_GONE = 3 };

/* Counts of one walk, added to by fp_dispatch. */
typedef struct fp_counts {
    uint64_t events;             /* messages handled (all of them count as MIDI in) */
    uint64_t triggers;           /* triggers fired */
    uint64_t calls;              /* records written */
    uint64_t out_of_records;     /* set to 1 when a walk stopped for want of records */
    uint64_t sent;               /* calls sent to isolated plugins' workers (no record) */
} fp_counts;

/* Walk `count` messages (message i: `sizes[i]` bytes at data + i * stride, received at
 * stamps[i], CLOCK_MONOTONIC ns) through `table`, from the first. Returns how many were
 * handled: the index of the first one the Python path must take (== count when none). Stops
 * also before a message whose calls might not fit in the records left (max_records - counts->
 * calls). `records` and `counts` are the caller's. Blocking: as long as the plugins' execute(). */
size_t fp_dispatch(fp_table *table, const uint8_t *data, const uint32_t *sizes,
                   const int64_t *stamps, size_t stride, size_t count, fp_record *records,
                   size_t max_records, fp_counts *counts);

/* -- Calls to isolated plugins (channel.c) -----------------------------------------------------
 * A channel lets the walk write execute() calls to an isolated plugin's worker itself (the same
 * EXECUTE message midimon/plugins/sandbox/wire.py makes) instead of stopping for Python, while
 * every call of the pipeline's own is already on the socket and the plugin's lane is idle: then
 * no call can overtake another, and the walk's calls queue behind those in flight (the worker
 * answers in order). The Python pipeline that reads the worker's answers (pipeline.py) numbers
 * its own calls through the channel too, and takes the calls the walk sent over as its own, in
 * order, before anything else (fp_channel_claim, fp_channel_adopt, fp_channel_sleep,
 * fp_channel_close): it times them, reads their answers, and a crash or hang during one is that
 * call's, as for any call of its own. `busy` counts every call not answered yet, the walk's and
 * the pipeline's; the pipeline releases each one answered or failed. The channel holds the fd
 * numbers of the pipeline's socket and wake-up pipe, which the pipeline closes only after
 * fp_channel_close (under the channel's mutex, so no send is under way then). Owned by the
 * pipeline (freed once no table points to it). [any-thread]; the pipeline calls all but
 * fp_channel_release with its own lock held, and every `taken` array has FP_CHANNEL_SENT_MAX
 * entries. */
enum { FP_CHANNEL_SENT_MAX = 64 };   /* the walk's calls not taken over yet, at most */
typedef struct fp_sent {
    uint32_t seq;
    uint32_t reserved0;
    int64_t sent_ns;            /* CLOCK_MONOTONIC of the send */
    int64_t timeout_ns;         /* the call's timeout (the target's) */
} fp_sent;
/* `last_seq`: the last request number the pipeline used (the next is last_seq % 0x7FFFFFFF + 1);
 * `max_busy`: the pipeline's queue size (the walk sends nothing past it). */
fp_channel *fp_channel_new(int tx_fd, int wake_fd, uint32_t last_seq, uint32_t max_busy);
/* The number of a call of the pipeline's own (busy + 1; the walk sends nothing until it is
 * written), after taking over into `taken` (`*n_taken` of them, oldest first) the walk's calls
 * sent before it. */
uint32_t fp_channel_claim(fp_channel *channel, fp_sent *taken, uint32_t *n_taken);
/* Take over the walk's calls into `taken`, oldest first; how many. The reader is awake. */
uint32_t fp_channel_adopt(fp_channel *channel, fp_sent *taken);
/* `calls` claimed calls of the pipeline's are on the socket now (or were given up unsent). */
void fp_channel_written(fp_channel *channel, uint32_t calls);
/* `calls` of the unanswered ones were answered or failed. */
void fp_channel_release(fp_channel *channel, uint32_t calls);
/* The reader is about to sleep without a deadline: 1, and the walk writes the wake-up pipe after
 * its next send; or 0 with the walk's calls taken over into `taken` (time them instead). */
int fp_channel_sleep(fp_channel *channel, fp_sent *taken, uint32_t *n_taken);
/* No sends from the walk from now on (the worker is gone or shutting down); the calls it sent
 * that nobody took over yet go into `taken`. Returns the last request number used. */
uint32_t fp_channel_close(fp_channel *channel, fp_sent *taken, uint32_t *n_taken);
void fp_channel_free(fp_channel *channel);

/* -- The serve loop (serve.c) -------------------------------------------------------------------
 * The JACK input's dispatcher thread runs fp_serve with the GIL released: it waits for the ring,
 * drains it and walks each message through the table published in the slot, and returns to
 * Python only for what Python must do. The slot's mutex is held only inside these C calls, never
 * across Python code (a Python thread holding it while it waits for the GIL would stall the
 * walk): by a walk (fp_serve's, or fp_slot_dispatch's for Python's own walks, so walks on one
 * table never overlap), and by fp_slot_publish, which therefore returns only once no walk uses
 * the table published before. Owned by the daemon's NativeDispatch. [any-thread]; `table` must
 * stay alive until another is published. fp_slot_publish waits at most `wait_ns` for a walk
 * (0: not at all): 0 when published, ETIMEDOUT when a walk held the slot all that time (a
 * plugin call that does not return), and then nothing changed. */
typedef struct fp_slot fp_slot;
fp_slot *fp_slot_new(void);
int fp_slot_publish(fp_slot *slot, fp_table *table, int64_t valid_until_ns, int64_t wait_ns);
/* fp_dispatch with the slot's mutex held, `counts` zeroed first (Python's own walks; the
 * caller owns every buffer). */
size_t fp_slot_dispatch(fp_slot *slot, fp_table *table, const uint8_t *data,
                        const uint32_t *sizes, const int64_t *stamps, size_t stride,
                        size_t count, fp_record *records, size_t max_records, fp_counts *counts);
/* fp_slot_dispatch of one message of `size` bytes (Daemon.feed, on the thread that feeds;
 * `message` is the caller's, read during the call only): 1 when walked, 0 when it is the
 * compiled path's (a message longer than 3 bytes too, with nothing counted). */
size_t fp_slot_dispatch_one(fp_slot *slot, fp_table *table, const char *message, uint32_t size,
                            int64_t stamp, fp_record *records, size_t max_records,
                            fp_counts *counts);
void fp_slot_free(fp_slot *slot);

/* One batch of walks for Python to account for: the counts and the records (64 at most, each
 * naming its table), and which hand-over gave it to Python (1, 2, ...). */
typedef struct fp_batch {
    uint64_t number;
    fp_counts counts;
    fp_record records[64];       /* FP_LEDGER_RECORDS */
} fp_batch;

/* Two batches handed between the serve loop, which fills one while Python accounts for the
 * other on its own thread (so the loop never waits for the GIL), and their hand-off. Owned by
 * the caller of fp_serve (one per loop). fp_ledger_take, fp_ledger_done: the accounting thread;
 * fp_ledger_handed: [any-thread]; the rest by the loop's owner. A table published is walked
 * into the batch being filled, which is handed over as number fp_ledger_handed() + 1: the
 * caller keeps a table it no longer publishes until that batch is accounted for. */
typedef struct fp_ledger fp_ledger;
fp_ledger *fp_ledger_new(void);
/* A full batch to account for, or NULL after `timeout_ns` or once closed with none full. */
fp_batch *fp_ledger_take(fp_ledger *ledger, int64_t timeout_ns);
void fp_ledger_done(fp_ledger *ledger, fp_batch *batch);   /* accounted: the loop may refill it */
uint64_t fp_ledger_handed(fp_ledger *ledger);              /* batches handed over so far */
void fp_ledger_close(fp_ledger *ledger);   /* take() returns the full batch left, then NULL */
/* After the loop ended: the batch it was filling (number: the next hand-over's). */
fp_batch *fp_ledger_filling(fp_ledger *ledger);
void fp_ledger_free(fp_ledger *ledger);

/* What the serve loop has buffered: `have` messages, of which `next` is the first not handled.
 * Owned by the caller; Python advances `next` past the messages it takes. */
typedef struct fp_serve_state {
    uint32_t have;
    uint32_t next;
    fp_ledger *ledger;
} fp_serve_state;

/* Why fp_serve returned. PYTHON: message `next` is the Python path's (no table published, or
 * the walk cannot decide it). STALE: the table's time is up (the daemon re-checks the plugins'
 * state file): publish again. WOKE: woken with nothing to do (the input was closed, or JACK went
 * away). */
enum { FP_SERVE_PYTHON = 1, FP_SERVE_STALE = 2, FP_SERVE_WOKE = 3 };

/* Schedule the calling thread real-time (SCHED_FIFO at `priority`, 1..99), or normally again
 * (0). Returns 0, or the errno (EPERM: no rtprio rights). The serve loop's thread, for itself:
 * on a loaded machine a normal thread waits milliseconds for a CPU after its wake-up. */
int fp_thread_priority(int priority);

/* The dispatcher thread's loop: walk what is buffered into the ledger's batches, drain more,
 * sleep on the input's eventfd when there is none. `data`, `sizes` and `stamps` hold
 * `max_events` messages of mj_max_event_bytes(in) bytes each. Blocking: until a return reason;
 * as long as plugins' execute() inside; while both batches wait to be accounted for and the
 * one being filled can take no more. The dispatcher thread only (the input's one consumer). */
int fp_serve(struct mj_input *in, fp_slot *slot, uint8_t *data, uint32_t *sizes,
             int64_t *stamps, uint32_t max_events, fp_serve_state *state);
/* MIDIMON_FASTPATH_CDEF_END */

/* channel.c, for fastpath.c: send one call for `target` (index `index` of `table`) with
 * `context`, when the channel takes it. FP_SEND_REFUSED: not now (a call of the pipeline's not
 * written yet, the lane not idle, closed, full, the socket full or gone; nothing changed: the
 * Python path takes the event); FP_SEND_SENT;
 * FP_SEND_RECORDED: `record` says what happened instead (the rate limit refused it). */
struct midimon_trigger_context;
enum { FP_SEND_REFUSED = 0, FP_SEND_SENT = 1, FP_SEND_RECORDED = 2 };
int fp_channel_send(fp_table *table, const fp_target *target, uint32_t index,
                    const struct midimon_trigger_context *context, fp_record *record);
/* The clock `clock` in ns (CLOCK_MONOTONIC: the stamps; CLOCK_REALTIME: wall time, timed
 * waits), for fastpath.c and channel.c. */
static inline int64_t fp_clock_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* fastpath.c, for channel.c: a token taken for a call that then could not be sent goes back
 * (the Python path takes one for the same event). [any-thread] */
void fp_bucket_give_back(fp_bucket *bucket);

#endif
