/* Calls to an isolated plugin's worker written by the walk itself (see fastpath.h, "Calls to
 * isolated plugins"): the EXECUTE message of protocol.h, sent only while the worker has nothing
 * else unanswered, then handed to the Python pipeline that reads the worker's answers. */
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
    uint32_t busy;              /* calls sent or queued and not answered yet */
    int asleep;                 /* the pipeline's reader sleeps until its pipe is written */
    fp_sent sent;               /* the walk's call nobody took over yet (seq 0: none) */
};

static int64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint32_t next_seq(uint32_t seq) { return seq % 0x7FFFFFFFu + 1; }  /* as pipeline.py */

fp_channel *fp_channel_new(int tx_fd, int wake_fd, uint32_t last_seq) {
    fp_channel *channel = calloc(1, sizeof *channel);
    if (channel == NULL) return NULL;
    pthread_mutex_init(&channel->mutex, NULL);
    channel->tx_fd = tx_fd;
    channel->wake_fd = wake_fd;
    channel->seq = last_seq;
    return channel;
}

/* Hand the walk's call to the caller (mutex held). */
static void take_over(fp_channel *channel, fp_sent *sent) {
    *sent = channel->sent;
    channel->sent.seq = 0;
}

uint32_t fp_channel_claim(fp_channel *channel, fp_sent *sent) {
    pthread_mutex_lock(&channel->mutex);
    take_over(channel, sent);
    channel->seq = next_seq(channel->seq);
    channel->busy++;
    uint32_t seq = channel->seq;
    pthread_mutex_unlock(&channel->mutex);
    return seq;
}

void fp_channel_adopt(fp_channel *channel, fp_sent *sent) {
    pthread_mutex_lock(&channel->mutex);
    take_over(channel, sent);
    channel->asleep = 0;
    pthread_mutex_unlock(&channel->mutex);
}

void fp_channel_release(fp_channel *channel, uint32_t calls) {
    pthread_mutex_lock(&channel->mutex);
    channel->busy = channel->busy > calls ? channel->busy - calls : 0;
    pthread_mutex_unlock(&channel->mutex);
}

int fp_channel_sleep(fp_channel *channel, fp_sent *sent) {
    pthread_mutex_lock(&channel->mutex);
    take_over(channel, sent);
    channel->asleep = sent->seq == 0;
    int asleep = channel->asleep;
    pthread_mutex_unlock(&channel->mutex);
    return asleep;
}

uint32_t fp_channel_close(fp_channel *channel, fp_sent *sent) {
    pthread_mutex_lock(&channel->mutex);
    take_over(channel, sent);
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
    if (channel->tx_fd < 0 || channel->busy != 0 ||
        fp_counter_get(target->lane_submitted) != fp_counter_get(target->lane_finished)) {
        pthread_mutex_unlock(&channel->mutex);
        return FP_SEND_REFUSED;
    }
    int64_t now = monotonic_ns();
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
    channel->busy = 1;
    channel->sent = (fp_sent){.seq = seq, .sent_ns = now, .timeout_ns = target->timeout_ns};
    if (channel->asleep) {  /* the reader must start timing the call */
        ssize_t unused = write(channel->wake_fd, "", 1);
        (void)unused;  /* a full pipe already wakes it */
        channel->asleep = 0;
    }
    pthread_mutex_unlock(&channel->mutex);
    return FP_SEND_SENT;
}

