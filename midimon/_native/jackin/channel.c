/* Calls to an isolated plugin's worker written by the walk itself (see fastpath.h, "Calls to
 * isolated plugins"): the EXECUTE message of protocol.h, sent only while no call of the
 * pipeline's waits to be written, then handed to the Python pipeline that reads the answers. */
#define _GNU_SOURCE
#include "fastpath.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "midimon_plugin.h"
#include "protocol.h"

struct fp_channel {
    pthread_mutex_t mutex;      /* every field below with it held */
    int tx_fd, wake_fd;         /* -1 once closed */
    uint32_t seq;               /* the last request number used, by the walk or the pipeline */
    uint32_t busy;              /* calls sent or claimed and not answered yet */
    uint32_t unwritten;         /* the pipeline's calls claimed and not on the socket yet */
    uint32_t max_busy;
    int asleep;                 /* the pipeline's reader sleeps until its pipe is written */
    uint32_t n_sent;            /* the walk's calls nobody took over yet, oldest first */
    fp_sent sent[FP_CHANNEL_SENT_MAX];
};

static uint32_t next_seq(uint32_t seq) { return seq % 0x7FFFFFFFu + 1; }  /* as pipeline.py */

fp_channel *fp_channel_new(int tx_fd, int wake_fd, uint32_t last_seq, uint32_t max_busy) {
    fp_channel *channel = calloc(1, sizeof *channel);
    if (channel == NULL) return NULL;
    pthread_mutex_init(&channel->mutex, NULL);
    channel->tx_fd = tx_fd;
    channel->wake_fd = wake_fd;
    channel->seq = last_seq;
    channel->max_busy = max_busy;
    return channel;
}

/* Hand the walk's calls to the caller, oldest first (mutex held); how many. */
static uint32_t take_over(fp_channel *channel, fp_sent *taken) {
    uint32_t n = channel->n_sent;
    memcpy(taken, channel->sent, n * sizeof *taken);
    channel->n_sent = 0;
    return n;
}

uint32_t fp_channel_claim(fp_channel *channel, fp_sent *taken, uint32_t *n_taken) {
    pthread_mutex_lock(&channel->mutex);
    *n_taken = take_over(channel, taken);
    channel->seq = next_seq(channel->seq);
    channel->busy++;
    channel->unwritten++;
    uint32_t seq = channel->seq;
    pthread_mutex_unlock(&channel->mutex);
    return seq;
}

uint32_t fp_channel_adopt(fp_channel *channel, fp_sent *taken) {
    pthread_mutex_lock(&channel->mutex);
    uint32_t n = take_over(channel, taken);
    channel->asleep = 0;
    pthread_mutex_unlock(&channel->mutex);
    return n;
}

void fp_channel_written(fp_channel *channel, uint32_t calls) {
    pthread_mutex_lock(&channel->mutex);
    channel->unwritten = channel->unwritten > calls ? channel->unwritten - calls : 0;
    pthread_mutex_unlock(&channel->mutex);
}

void fp_channel_release(fp_channel *channel, uint32_t calls) {
    pthread_mutex_lock(&channel->mutex);
    channel->busy = channel->busy > calls ? channel->busy - calls : 0;
    pthread_mutex_unlock(&channel->mutex);
}

int fp_channel_sleep(fp_channel *channel, fp_sent *taken, uint32_t *n_taken) {
    pthread_mutex_lock(&channel->mutex);
    *n_taken = take_over(channel, taken);
    channel->asleep = *n_taken == 0;
    int asleep = channel->asleep;
    pthread_mutex_unlock(&channel->mutex);
    return asleep;
}

uint32_t fp_channel_close(fp_channel *channel, fp_sent *taken, uint32_t *n_taken) {
    pthread_mutex_lock(&channel->mutex);
    *n_taken = take_over(channel, taken);
    channel->tx_fd = channel->wake_fd = -1;
    uint32_t seq = channel->seq;
    pthread_mutex_unlock(&channel->mutex);
    return seq;
}

void fp_channel_free(fp_channel *channel) {
    if (channel == NULL) return;
    pthread_mutex_destroy(&channel->mutex);
    free(channel);
}

int fp_channel_send(fp_table *table, const fp_target *target, uint32_t index,
                    const struct midimon_trigger_context *context, fp_record *record) {
    fp_channel *channel = target->channel;
    pthread_mutex_lock(&channel->mutex);
    /* a call of the pipeline's not on the socket yet, or one queued on the lane, would be
     * overtaken */
    if (channel->tx_fd < 0 || channel->unwritten != 0 || channel->busy >= channel->max_busy ||
        channel->n_sent == FP_CHANNEL_SENT_MAX ||
        fp_counter_get(target->lane_submitted) != fp_counter_get(target->lane_finished)) {
        pthread_mutex_unlock(&channel->mutex);
        return FP_SEND_REFUSED;
    }
    int64_t now = fp_clock_ns(CLOCK_MONOTONIC);
    if (!fp_bucket_take(target->bucket, (double)now / 1e9)) {
        pthread_mutex_unlock(&channel->mutex);
        record->target = index;
        record->table = table;
        record->kind = FP_RATE_LIMITED;
        record->status = 0;
        record->elapsed_ns = 0;
        record->message[0] = '\0';
        return FP_SEND_RECORDED;
    }
    /* EXECUTE (protocol.h): the header, the fixed part, the mode, no source or event name, and
     * the params whole (the table holds only params that fit one message) */
    size_t mode_len = strlen(context->mode);
    uint32_t seq = next_seq(channel->seq);
    uint8_t head[MM_HEADER_SIZE + MM_EXECUTE_FIXED];
    uint8_t *fixed = head + MM_HEADER_SIZE;
    mm_put_header(head, MM_EXECUTE, seq, (uint32_t)(MM_EXECUTE_FIXED + mode_len +
                                                    target->params_len));
    mm_put_u32(fixed, (uint32_t)target->params_len);
    fixed[4] = context->velocity;
    fixed[5] = context->channel;
    fixed[6] = context->number;
    fixed[7] = 0;
    mm_put_u32(fixed + 8, (uint32_t)context->value);
    mm_put_u32(fixed + 12, context->trigger_kind);
    mm_put_u64(fixed + 16, context->timestamp_ns);
    mm_put_u64(fixed + 24, (uint64_t)context->wall_time_ms);
    mm_put_u32(fixed + 32, (uint32_t)mode_len);
    mm_put_u32(fixed + 36, (uint32_t)target->params_len);
    uint64_t value_bits;
    memcpy(&value_bits, &context->event_value, sizeof value_bits);
    mm_put_u64(fixed + 40, value_bits);
    mm_put_u32(fixed + 48, 0);
    mm_put_u32(fixed + 52, 0);
    struct iovec parts[3] = {
        {head, sizeof head},
        {(void *)context->mode, mode_len},
        {(void *)target->params, target->params_len},
    };
    struct msghdr message = {.msg_iov = parts, .msg_iovlen = 3};
    ssize_t written = sendmsg(channel->tx_fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (written != (ssize_t)(sizeof head + mode_len + target->params_len)) {
        /* full or gone: the Python path queues the call, or finds the worker dead */
        pthread_mutex_unlock(&channel->mutex);
        fp_bucket_give_back(target->bucket);
        return FP_SEND_REFUSED;
    }
    channel->seq = seq;
    channel->busy++;
    channel->sent[channel->n_sent++] =
        (fp_sent){.seq = seq, .sent_ns = now, .timeout_ns = target->timeout_ns};
    if (channel->asleep) {  /* the reader must start timing the call */
        ssize_t unused = write(channel->wake_fd, "", 1);
        (void)unused;  /* a full pipe already wakes it */
        channel->asleep = 0;
    }
    pthread_mutex_unlock(&channel->mutex);
    return FP_SEND_SENT;
}

