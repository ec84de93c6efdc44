/*
 * protocol.h - the wire protocol between the midimon host (midimon/plugins/sandbox/wire.py,
 * worker.py) and midimon-worker, the small process that runs one native plugin inside a kernel
 * sandbox.
 *
 * Transport: one end of an AF_UNIX SOCK_SEQPACKET socketpair, fd 3 in the worker. SEQPACKET
 * keeps datagram boundaries, and a message is never split across datagrams (large params are
 * sent as several PARAMS messages, each a complete message). Since protocol 2 the host may pack
 * several complete messages back to back into one datagram of at most MM_MAX_DATAGRAM bytes
 * (requests that queued up while the worker was busy: one write, one read for all of them);
 * LOAD (it carries the image fd) and MIDI_STATUS always travel alone. The worker sends exactly
 * one message per datagram. The worker's stdout and stderr are not part of the protocol: a
 * plugin may print whatever it likes.
 *
 * Every message: a 16-byte header, then `length` payload bytes. All integers little-endian,
 * fixed width, at the offsets given below. Both sides check everything:
 *   - a datagram is at least MM_HEADER_SIZE bytes, at most MM_MAX_DATAGRAM (a longer one
 *     arrives truncated: MSG_TRUNC -> violation), and its messages fill it exactly: each
 *     header's length fits in what is left of the datagram (from the worker: exactly
 *     MM_HEADER_SIZE + length, one message);
 *   - length <= MM_MAX_PAYLOAD;
 *   - each payload is at least its fixed part, and its variable parts add up exactly;
 *   - reserved fields are zero; type is one the receiver expects at that moment.
 * A violation by the host makes the worker _exit(MM_EXIT_PROTOCOL). A violation by the worker
 * makes the host kill it and report a crash.
 *
 * Trust: the host treats everything the worker sends as hostile. The worker sends HELLO and
 * SANDBOXED before any plugin code has run (dlopen runs constructors), so those two describe
 * the real sandbox. From LOADED on, plugin code shares the worker's address space and can write
 * any message to fd 3 itself: the host re-checks every grant (a forged SEND_MIDI without the
 * Midi grant is refused there too) and only ever uses later messages as the plugin's own claims.
 *
 * Sequence numbers: the host numbers its requests (seq 1, 2, ...); the reply to a request
 * carries the request's seq. Pipelining: after INIT's STATUS the host may send further EXECUTE
 * requests before earlier ones are answered; the worker serves them strictly in order, one at a
 * time, and sends each RESULT as soon as execute() returns, so the host matches answers to
 * calls by seq and knows which call a crash or hang belongs to (the oldest unanswered one).
 * LOG and DENIED carry seq 0. The worker numbers its own SEND_MIDI
 * requests from 0x80000000 up; the host's MIDI_STATUS reply carries that seq.
 *
 * Flow (host -> worker on the left):
 *                                  <- HELLO           at start, unsolicited
 *   LOAD (+ SCM_RIGHTS image fd)  ->
 *                                  <- SANDBOXED       sandbox in force, nothing of the plugin ran
 *                                  <- LOADED          plugin struct read (or load error, then exit)
 *   INIT                          ->
 *                                  <- STATUS
 *   [PARAMS ...] EXECUTE          ->
 *                                  <- RESULT
 *   START (trigger plugins)       ->
 *                                  <- STATUS
 *                                  <- EVENT ...       from any plugin thread, until STOP's STATUS
 *   STOP                          ->
 *                                  <- STATUS
 *   SHUTDOWN                      ->
 *                                  <- STATUS          then the worker exits 0
 * While a request is outstanding the worker may also send LOG, DENIED and SEND_MIDI (which the
 * host answers with MIDI_STATUS before the worker goes on; requests that arrive before that
 * answer are kept, in order, and served after the call). EOF on fd 3 at any time makes the
 * worker exit at once, even while plugin code runs (a watchdog thread polls for the hang-up).
 */
#ifndef MIDIMON_WORKER_PROTOCOL_H
#define MIDIMON_WORKER_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define MM_PROTOCOL_VERSION 3

/* The fd the worker finds its socket on. */
#define MM_SOCKET_FD 3

/* Header: offset 0 u32 type | 4 u32 seq | 8 u32 length (payload bytes) | 12 u32 reserved (0) */
#define MM_HEADER_SIZE 16
#define MM_MAX_PAYLOAD 65536u            /* one datagram: 16 + 65536 bytes at most */
#define MM_MAX_DATAGRAM (MM_HEADER_SIZE + MM_MAX_PAYLOAD)

/* Limits both sides enforce. */
#define MM_MAX_PARAMS (1024u * 1024u)    /* params JSON of one execute (bytes, without the NUL) */
#define MM_PARAMS_CHUNK 60000u           /* params bytes per PARAMS message / EXECUTE tail */
#define MM_MAX_MODE 4096u                /* mode name bytes */
#define MM_MAX_PATH 4095u                /* one sandbox path */
#define MM_MAX_PATHS 256u                /* sandbox paths in LOAD */
#define MM_MAX_STRING 4096u              /* name / version / description bytes in LOADED */
#define MM_MAX_ERROR_TEXT 1024u          /* error text in LOADED */
#define MM_MESSAGE_CAPACITY 4096u        /* execute()'s message buffer; RESULT text <= 4095 */
#define MM_MAX_LOG 8192u                 /* one log line */
#define MM_MAX_MIDI 65536u               /* one send_midi() call */
#define MM_MAX_HOST_VERSION 64u
#define MM_MAX_STRUCT_SIZE 65536u        /* a larger plugin struct_size is corrupt or hostile */
#define MM_WORKER_SEQ_BASE 0x80000000u   /* first seq of the worker's own SEND_MIDI requests */
#define MM_MAX_EVENT_NAME 255u           /* one event name (MIDIMON_MAX_EVENT_NAME) */

/* ---- host -> worker ------------------------------------------------------------------------ */

/* LOAD: sandbox spec + plugin image. Exactly one SCM_RIGHTS fd rides along: a sealed memfd
 * (F_SEAL_WRITE|F_SEAL_GROW|F_SEAL_SHRINK) holding the bytes the host already verified. The
 * worker never opens the plugin's path; it loads /proc/self/fd/<that fd>.
 *   0  u32 protocol_version   MM_PROTOCOL_VERSION
 *   4  u32 flags              MM_LOAD_KERNEL_SANDBOX: apply no_new_privs, Landlock, seccomp
 *   8  u32 granted            MIDIMON_CAP_* bits granted to this plugin
 *   12 u32 max_processes      headroom for new tasks (processes + threads) of this user;
 *                             RLIMIT_NPROC = tasks the user already has + this (0: no limit)
 *   16 u64 address_space      RLIMIT_AS in bytes (0: no limit)
 *   24 u32 max_open_files     RLIMIT_NOFILE (0: no limit; at least 16 when set)
 *   28 u32 host_version_len   <= MM_MAX_HOST_VERSION
 *   32 u32 path_count         <= MM_MAX_PATHS
 *   36 host_version bytes (no NUL), then path_count entries of:
 *        u32 access (MM_PATH_READ or MM_PATH_WRITE), u32 len (1..MM_MAX_PATH), len bytes
 *        (absolute path, no NUL inside) */
#define MM_LOAD 0x0001u
#define MM_LOAD_FIXED 36u
#define MM_LOAD_KERNEL_SANDBOX 0x1u
#define MM_PATH_READ 1u    /* read files, list directories, map/execute files beneath it */
#define MM_PATH_WRITE 2u   /* everything beneath it: read, write, create, remove, rename */

/* INIT: call initialize(). Empty payload. Reply: STATUS. */
#define MM_INIT 0x0002u

/* PARAMS: one chunk of the next EXECUTE's params JSON. Chunks come in order, before EXECUTE.
 * Why chunks and not a bigger SO_SNDBUF: a unix datagram must fit in the sender's buffer, and
 * an unprivileged process cannot raise SO_SNDBUF past net.core.wmem_max (about 208 KiB by
 * default), so 1 MiB of params could never be one datagram. Params up to MM_PARAMS_CHUNK bytes
 * (the usual case) ride in the EXECUTE message itself: one datagram per call.
 *   0 u32 total_len (the whole params length, <= MM_MAX_PARAMS; same in every chunk)
 *   4 u32 offset    (bytes already sent; chunks are contiguous from 0)
 *   8 bytes         (1..MM_PARAMS_CHUNK) */
#define MM_PARAMS 0x0003u
#define MM_PARAMS_FIXED 8u

/* EXECUTE: call execute() once. Reply: RESULT.
 *   0  u32 params_len     total params bytes (<= MM_MAX_PARAMS)
 *   4  u8 velocity, 5 u8 channel, 6 u8 number, 7 u8 reserved (0)
 *   8  i32 value
 *   12 u32 trigger_kind
 *   16 u64 timestamp_ns
 *   24 i64 wall_time_ms
 *   32 u32 mode_len       <= MM_MAX_MODE
 *   36 u32 tail_len       params bytes in this message (<= MM_PARAMS_CHUNK); PARAMS chunks
 *                         before it plus this tail must make exactly params_len
 *   40 u64 event_value    binary64 bits (protocol 3): the context's event_value, finite
 *   48 u32 source_len     <= MM_MAX_EVENT_NAME: the context's source (a trigger plugin's name)
 *   52 u32 event_len      <= MM_MAX_EVENT_NAME: the context's event_name
 *   56 mode bytes, then source bytes, then event_name bytes, then tail bytes
 * The worker NUL-terminates the strings and the params before the call. */
#define MM_EXECUTE 0x0004u
#define MM_EXECUTE_FIXED 56u

/* MIDI_STATUS: the host's answer to the worker's SEND_MIDI (seq = that request's seq).
 *   0 i32 status (MIDIMON_OK or MIDIMON_ERR_*) */
#define MM_MIDI_STATUS 0x0005u
#define MM_MIDI_STATUS_SIZE 4u

/* SHUTDOWN: call stop() (if started), shutdown() (if initialized) then destroy(); reply
 * STATUS; exit 0. Empty. */
#define MM_SHUTDOWN 0x0006u

/* START: call a trigger plugin's start() (protocol 3). Reply: STATUS. From then on emit_event()
 * sends EVENT messages, at most max_events_per_s per second on average (a token bucket holding
 * one second's worth; excess events are dropped in the worker and counted in the next EVENT's
 * dropped_before). The host enforces the same cap again on what arrives: plugin code can write
 * to fd 3 itself.
 *   0 u32 max_events_per_s (1..MM_MAX_EVENT_RATE)
 *   4 u32 settings_len     (<= MM_PARAMS_CHUNK) the plugin's settings JSON
 *   8 settings bytes (the worker NUL-terminates them) */
#define MM_START 0x0007u
#define MM_START_FIXED 8u
#define MM_MAX_EVENT_RATE 1000000u

/* STOP: call stop(); no EVENT follows its STATUS reply. Empty. */
#define MM_STOP 0x0008u

/* ---- worker -> host ------------------------------------------------------------------------ */

/* HELLO: first message, sent before the worker reads anything.
 *   0 u32 protocol_version, 4 u32 pid, 8 u32 max_payload, 12 u32 abi_major, 16 u32 abi_minor */
#define MM_HELLO 0x0101u
#define MM_HELLO_SIZE 20u

/* SANDBOXED: what is actually in force. Sent after the sandbox is applied and before dlopen,
 * so no plugin code has run yet: the last message the host can fully trust.
 *   0  u32 flags          MM_ENF_* bits
 *   4  u32 landlock_abi   0 when Landlock is unavailable or not requested
 *   8  u64 rlimit_as      RLIMIT_AS soft limit now in force (UINT64_MAX: unlimited)
 *   16 u64 rlimit_nproc
 *   24 u64 rlimit_nofile
 *   32 u64 rlimit_core
 *   40 u32 uid            real uid of the worker
 *   44 u32 rules_added    Landlock path rules added
 *   48 u32 rules_skipped  paths skipped (missing)
 *   52 u32 seccomp_arch   AUDIT_ARCH_* the filter checks (0: no filter) */
#define MM_SANDBOXED 0x0102u
#define MM_SANDBOXED_SIZE 56u
#define MM_ENF_NO_NEW_PRIVS 0x001u
#define MM_ENF_LANDLOCK_FS 0x002u        /* filesystem rules in force */
#define MM_ENF_LANDLOCK_NET 0x004u       /* TCP bind/connect denied by Landlock (ABI >= 4) */
#define MM_ENF_SCOPE_SIGNAL 0x008u       /* signals only within the sandbox (ABI >= 6) */
#define MM_ENF_SCOPE_ABSTRACT_UNIX 0x010u /* abstract UNIX sockets only within it (ABI >= 6) */
#define MM_ENF_SECCOMP 0x020u
#define MM_ENF_CAPS_DROPPED 0x040u       /* the worker had capabilities (root) and dropped all */
#define MM_ENF_NO_CAPS 0x080u            /* the worker holds no capabilities now */
#define MM_ENF_RLIMITS 0x100u
#define MM_ENF_UNIX_SOCKETS 0x200u       /* socket(AF_UNIX) allowed (else EACCES + DENIED) */
#define MM_ENF_SIGNAL_FILTER 0x400u      /* seccomp confines signals to the worker itself */

/* LOADED: the plugin struct, or why it could not be loaded (then the worker exits 0).
 *   0  u32 error           MM_LOAD_OK or MM_LOAD_ERR_*
 *   4  u32 abi_major       raw from the struct (0 when never read)
 *   8  u32 abi_minor
 *   12 u32 struct_size
 *   16 u32 capabilities    raw MIDIMON_CAP_* bits (0 when struct_size < 16)
 *   20 u32 members         MM_HAS_* bits: which pointers are non-NULL
 *   24 u32 name_len, 28 u32 version_len, 32 u32 description_len (each <= MM_MAX_STRING)
 *   36 u32 error_len       <= MM_MAX_ERROR_TEXT
 *   40 name, version, description, error text (UTF-8 not checked here; no NULs) */
#define MM_LOADED 0x0103u
#define MM_LOADED_FIXED 40u
#define MM_LOAD_OK 0u
#define MM_LOAD_ERR_IMAGE 1u        /* the image fd is missing, not a sealed regular file */
#define MM_LOAD_ERR_SANDBOX 2u      /* a sandbox step the kernel supports failed */
#define MM_LOAD_ERR_DLOPEN 3u       /* dlopen refused the image */
#define MM_LOAD_ERR_NO_ENTRY 4u     /* no _create_plugin symbol */
#define MM_LOAD_ERR_NULL_PLUGIN 5u  /* _create_plugin returned NULL */
#define MM_LOAD_ERR_ABI_MAJOR 6u
#define MM_LOAD_ERR_ABI_MINOR 7u    /* the plugin's minor is newer than the worker's header */
#define MM_LOAD_ERR_STRUCT_SIZE 8u  /* smaller than ABI x.0's struct, or > MM_MAX_STRUCT_SIZE */
#define MM_LOAD_ERR_INVALID 9u      /* execute (and start), name, version or description is NULL */
#define MM_HAS_INITIALIZE 0x01u
#define MM_HAS_EXECUTE 0x02u
#define MM_HAS_SHUTDOWN 0x04u
#define MM_HAS_DESTROY 0x08u
#define MM_HAS_GET_EXTENSION 0x10u
#define MM_HAS_START 0x20u
#define MM_HAS_STOP 0x40u
#define MM_HAS_NAME 0x100u
#define MM_HAS_VERSION 0x200u
#define MM_HAS_DESCRIPTION 0x400u

/* STATUS: reply to INIT and SHUTDOWN.  0 i32 status */
#define MM_STATUS 0x0104u
#define MM_STATUS_SIZE 4u

/* RESULT: reply to EXECUTE.  0 i32 status, 4 message bytes (<= MM_MESSAGE_CAPACITY - 1; the
 * worker forces the buffer's last byte to NUL and sends up to the first NUL) */
#define MM_RESULT 0x0105u
#define MM_RESULT_FIXED 4u

/* LOG: one host->log() line, from any plugin thread.  0 i32 level, 4 bytes (<= MM_MAX_LOG) */
#define MM_LOG 0x0106u
#define MM_LOG_FIXED 4u

/* SEND_MIDI: a granted send_midi() on the host thread during initialize/execute. The worker
 * waits for MIDI_STATUS with the same seq.  0 bytes (1..MM_MAX_MIDI) */
#define MM_SEND_MIDI 0x0107u

/* EVENT: one emit_event() of a trigger plugin, from any plugin thread, seq 0 (protocol 3).
 *   0  u64 value          IEEE-754 binary64 bits, finite
 *   8  u32 flags          MIDIMON_EVENT_HAS_* bits
 *   12 u8 number (0..127), 13 u8 velocity (0..127), 14 u8 channel (0..15), 15 u8 reserved (0)
 *   16 u32 dropped_before events the worker dropped (rate cap) since the previous EVENT
 *   20 u32 name_len       1..MM_MAX_EVENT_NAME
 *   24 name bytes (UTF-8 checked by the host; no NUL) */
#define MM_EVENT 0x010Au
#define MM_EVENT_FIXED 24u

/* EVENTS_DROPPED: events the worker dropped at its rate cap and has not reported yet, sent by
 * the emit_event() call that drops one when the last report is MM_DROP_REPORT_NS old (so a
 * flood that ends is still counted without a later EVENT).  0 u32 count (>= 1) */
#define MM_EVENTS_DROPPED 0x010Bu
#define MM_EVENTS_DROPPED_SIZE 4u
#define MM_DROP_REPORT_NS 100000000u

/* DENIED: the sandbox stopped something.
 *   0  u32 reason   MM_DENY_*
 *   4  u32 fatal    1: the worker _exit(MM_EXIT_DENIED)s right after sending this;
 *                   0: the call failed (EACCES / MIDIMON_ERR_DENIED) and the plugin goes on
 *   8  i32 syscall  syscall number (-1 for a host service such as send_midi)
 *   12 u32 reserved (0)
 *   16 u64 arg0     first syscall argument (socket family, clone flags, target pid ...)
 *   24 u64 arg1     second argument
 *   32 u32 name_len (<= 64)
 *   36 name bytes ("execve", "socket", "send_midi", ... or "" when unknown) */
#define MM_DENIED 0x0108u
#define MM_DENIED_FIXED 36u

/* SET_LED: a granted set_pad() of the "midimon.leds/1" host extension, on the host thread
 * during initialize/execute; answered by MIDI_STATUS with the same seq (numbered with the
 * worker's SEND_MIDI requests).  0 u32 pad, 4 colour name bytes (1..MM_MAX_LED_COLOR) */
#define MM_SET_LED 0x0109u
#define MM_SET_LED_FIXED 4u
#define MM_MAX_LED_COLOR 63u
#define MM_MAX_DENIED_NAME 64u
#define MM_DENY_EXEC 1u          /* execve/execveat without Subprocess */
#define MM_DENY_FORK 2u          /* fork/vfork/clone of a process without Subprocess */
#define MM_DENY_NETWORK 3u       /* socket(AF_INET/AF_INET6) without Network */
#define MM_DENY_UNIX_SOCKET 4u   /* socket/socketpair(AF_UNIX) without Audio/System control/Subprocess (soft) */
#define MM_DENY_MIDI 5u          /* send_midi without Midi (soft) */
#define MM_DENY_FORBIDDEN 6u     /* never allowed: ptrace, mount, bpf, kexec, TIOCSTI ... */
#define MM_DENY_NAMESPACE 7u     /* clone with CLONE_NEW* flags */
#define MM_DENY_FOREIGN_ABI 8u   /* a syscall through another ABI (int 0x80, x32) */
#define MM_DENY_OTHER_PROCESS 9u /* signal / prlimit aimed at a process outside the worker */
#define MM_DENY_SOCKET_FAMILY 10u /* socket() of a family no capability grants: netlink, packet... (soft) */

/* Exit codes of the worker itself (a plugin's own exit() codes pass through unchanged). */
#define MM_EXIT_OK 0
#define MM_EXIT_USAGE 64       /* fd 3 is not a SOCK_SEQPACKET socket */
#define MM_EXIT_PROTOCOL 65    /* the host broke the protocol */
#define MM_EXIT_INTERNAL 70    /* out of memory before the plugin loaded, etc. */
#define MM_EXIT_DENIED 159     /* 128 + SIGSYS: after a fatal DENIED */

/* ---- little-endian field access (alignment-free, usable in a signal handler) ---------------- */

static inline void mm_put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void mm_put_u64(uint8_t *p, uint64_t v) {
    mm_put_u32(p, (uint32_t)v);
    mm_put_u32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t mm_get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t mm_get_u64(const uint8_t *p) {
    return (uint64_t)mm_get_u32(p) | ((uint64_t)mm_get_u32(p + 4) << 32);
}
static inline void mm_put_header(uint8_t *p, uint32_t type, uint32_t seq, uint32_t length) {
    mm_put_u32(p, type);
    mm_put_u32(p + 4, seq);
    mm_put_u32(p + 8, length);
    mm_put_u32(p + 12, 0);
}

#endif /* MIDIMON_WORKER_PROTOCOL_H */
