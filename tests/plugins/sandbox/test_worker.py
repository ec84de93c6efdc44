"""The isolated worker: a real midimon-worker running real compiled plugins in its sandbox.

One probe plugin does whatever its params ask (``{"action": "segv"}``, ``"connect"`` ...), so
each test starts a worker with the sandbox it needs and checks what the host sees.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import IN_CI, TEST_PLUGIN_SOURCE, RecordingHost, TcpListener, compile_plugin

from midimon.plugins.description.capabilities import LOCAL_SOCKET_CAPABILITIES, Capability
from midimon.plugins.loading import abi as abi_mod
from midimon.plugins.loading.context import TriggerContext, TriggerKind
from midimon.plugins.loading.image import sealed_image_fd
from midimon.plugins.sandbox.denials import (
    Denial,
    WorkerCrashed,
    WorkerError,
    WorkerLoadFailed,
    WorkerTimeout,
)
from midimon.plugins.sandbox.spec import SandboxSpec
from midimon.plugins.sandbox.wire import Wire
from midimon.plugins.sandbox.worker import WorkerProcess, worker_executable

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the isolated worker is Linux only"
)

PROBE_SOURCE = r"""
#define _GNU_SOURCE
#include "midimon_plugin.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netdb.h>
#include <stddef.h>
#include <unistd.h>
#include <sched.h>

static const midimon_host_t *g_host;
static char g_heartbeat[512];

static int str_param(const char *params, const char *key, char *out, size_t cap) {
    char pattern[64];
    const char *p;
    size_t n = 0;
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    p = strstr(params, pattern);
    if (!p) return 0;
    p += strlen(pattern);
    while (p[n] && p[n] != '"' && n + 1 < cap) { out[n] = p[n]; n++; }
    out[n] = '\0';
    return 1;
}

static long num_param(const char *params, const char *key, long fallback) {
    char pattern[64];
    const char *p;
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    p = strstr(params, pattern);
    return p ? strtol(p + strlen(pattern), NULL, 10) : fallback;
}

static int32_t fail(char *msg, size_t cap, const char *what) {
    snprintf(msg, cap, "%s failed: errno=%d (%s)", what, errno, strerror(errno));
    return MIDIMON_ERR_FAILED;
}

static void *midi_from_thread(void *arg) {
    const uint8_t bytes[3] = {0x90, 60, 1};
    *(int32_t *)arg = g_host->send_midi(g_host, bytes, sizeof bytes);
    return NULL;
}

static void *log_from_thread(void *arg) {
    (void)arg;
    g_host->log(g_host, MIDIMON_LOG_WARN, "from a thread");
    return NULL;
}

static void *heartbeat(void *arg) {
    (void)arg;
    for (;;) {
        int fd = open(g_heartbeat, O_WRONLY | O_APPEND | O_CREAT, 0644);
        if (fd >= 0) { (void)!write(fd, "x", 1); close(fd); }
        usleep(5000);
    }
    return NULL;
}

#ifdef P_CONSTRUCTOR_EXEC
__attribute__((constructor)) static void sneaky(void) {
    execl("/bin/sh", "sh", "-c", "exit 0", (char *)NULL);
}
#endif
#ifdef P_CONSTRUCTOR_LOOP
__attribute__((constructor)) static void stuck(void) { for (;;) pause(); }
#endif

static int32_t p_init(const midimon_plugin_t *self, const midimon_host_t *host) {
    (void)self;
    g_host = host;
    host->log(host, MIDIMON_LOG_INFO, "initialized");
    return MIDIMON_OK;
}

static int32_t p_exec(const midimon_plugin_t *self, const char *params, size_t len,
                      const midimon_trigger_context_t *ctx, char *msg, size_t cap) {
    char action[64] = "echo", path[512] = "";
    (void)self;
    str_param(params, "action", action, sizeof action);
    str_param(params, "path", path, sizeof path);
    if (!strcmp(action, "echo")) {
        snprintf(msg, cap, "len=%zu nul=%d params=%s vel=%u ch=%u num=%u val=%d kind=%u "
                 "mode=%s ts=%llu wall=%lld size=%u host=%s/%s",
                 len, params[len] == '\0', params, ctx->velocity, ctx->channel, ctx->number,
                 (int)ctx->value, (unsigned)ctx->trigger_kind, ctx->mode,
                 (unsigned long long)ctx->timestamp_ns, (long long)ctx->wall_time_ms,
                 (unsigned)ctx->struct_size, g_host->host_name, g_host->host_version);
    } else if (!strcmp(action, "sum")) {
        unsigned long sum = 0;
        size_t i;
        for (i = 0; i < len; i++) sum = sum * 31 + (unsigned char)params[i];
        snprintf(msg, cap, "len=%zu sum=%lu nul=%d", len, sum, params[len] == '\0');
    } else if (!strcmp(action, "log")) {
        pthread_t t;
        g_host->log(g_host, MIDIMON_LOG_ERROR, "from the host thread");
        pthread_create(&t, NULL, log_from_thread, NULL);
        pthread_join(t, NULL);
        snprintf(msg, cap, "logged");
    } else if (!strcmp(action, "midi")) {
        const uint8_t bytes[3] = {0x90, ctx->number, ctx->velocity};
        snprintf(msg, cap, "rc=%d", (int)g_host->send_midi(g_host, bytes, sizeof bytes));
    } else if (!strcmp(action, "midi_thread")) {
        pthread_t t;
        int32_t rc = -1;
        pthread_create(&t, NULL, midi_from_thread, &rc);
        pthread_join(t, NULL);
        snprintf(msg, cap, "rc=%d", (int)rc);
    } else if (!strcmp(action, "segv")) {
        volatile int *p = (int *)0;
        *p = 1;
    } else if (!strcmp(action, "abort")) {
        abort();
    } else if (!strcmp(action, "exit")) {
        exit((int)num_param(params, "code", 3));
    } else if (!strcmp(action, "loop")) {
        for (volatile unsigned long i = 0;; i++) { }
    } else if (!strcmp(action, "sleep")) {
        for (;;) pause();
    } else if (!strcmp(action, "execve")) {
        execl("/bin/sh", "sh", "-c", "exit 0", (char *)NULL);
        return fail(msg, cap, "execl");
    } else if (!strcmp(action, "spawn")) {
        int status = 0;
        pid_t child = fork();
        if (child < 0) return fail(msg, cap, "fork");
        if (child == 0) { execl("/bin/sh", "sh", "-c", "exit 7", (char *)NULL); _exit(127); }
        if (waitpid(child, &status, 0) < 0) return fail(msg, cap, "waitpid");
        snprintf(msg, cap, "child exited %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    } else if (!strcmp(action, "forkbomb")) {
        int i;
        for (i = 0; i < 1000; i++) {
            pid_t child = fork();
            if (child == 0) _exit(0);
            if (child < 0) return fail(msg, cap, "fork");
        }
        snprintf(msg, cap, "forked 1000 times");
    } else if (!strcmp(action, "connect")) {
        struct sockaddr_in addr;
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0) return fail(msg, cap, "socket");
        memset(&addr, 0, sizeof addr);
        addr.sin_family = AF_INET;
        addr.sin_port = htons((uint16_t)num_param(params, "port", 9));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
            close(s);
            return fail(msg, cap, "connect");
        }
        (void)!write(s, "hello", 5);
        close(s);
        snprintf(msg, cap, "connected");
    } else if (!strcmp(action, "read")) {
        char buf[128] = {0};
        ssize_t n;
        int fd = open(path, O_RDONLY);
        if (fd < 0) return fail(msg, cap, "open");
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        snprintf(msg, cap, "read %zd bytes: %s", n, buf);
    } else if (!strcmp(action, "write")) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) return fail(msg, cap, "open");
        (void)!write(fd, "hello", 5);
        close(fd);
        snprintf(msg, cap, "written");
    } else if (!strcmp(action, "malloc")) {
        size_t size = (size_t)num_param(params, "mib", 1) << 20;
        char *p = malloc(size);
        if (!p) { snprintf(msg, cap, "malloc returned NULL"); return MIDIMON_ERR_FAILED; }
        memset(p, 1, size);
        free(p);
        snprintf(msg, cap, "allocated");
    } else if (!strcmp(action, "spam")) {
        static char junk[65536];
        int i;
        memset(junk, 'A', sizeof junk);
        for (i = 0; i < 160; i++) {
            (void)!write(1, junk, sizeof junk);
            (void)!write(2, junk, sizeof junk);
        }
        {
            static const char fake[] = "\x05\x01\0\0\0\0\0\0\x04\0\0\0\0\0\0\0{\"fake\"}\n";
            fwrite(fake, 1, sizeof fake - 1, stdout);
            fflush(stdout);
        }
        snprintf(msg, cap, "spammed");
    } else if (!strcmp(action, "bigmsg")) {
        memset(msg, 'E', cap);
        return MIDIMON_ERR_FAILED;
    } else if (!strcmp(action, "heartbeat")) {
        pthread_t t;
        snprintf(g_heartbeat, sizeof g_heartbeat, "%s", path);
        pthread_create(&t, NULL, heartbeat, NULL);
        pthread_detach(t);
        snprintf(msg, cap, "beating");
    } else if (!strcmp(action, "unix")) {
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        if (s < 0) return fail(msg, cap, "socket(AF_UNIX)");
        close(s);
        snprintf(msg, cap, "socket ok");
    } else if (!strcmp(action, "socketpair")) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) return fail(msg, cap, "socketpair");
        close(sv[0]);
        close(sv[1]);
        snprintf(msg, cap, "socketpair ok");
    } else if (!strcmp(action, "family")) {
        int s = socket((int)num_param(params, "family", 0), (int)num_param(params, "type", 0),
                       (int)num_param(params, "proto", 0));
        if (s < 0) return fail(msg, cap, "socket");
        close(s);
        snprintf(msg, cap, "socket ok");
    } else if (!strcmp(action, "uconnect")) {
        /* connect to a local socket by path, or "@name" for an abstract one */
        struct sockaddr_un addr;
        socklen_t len;
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        if (s < 0) return fail(msg, cap, "socket(AF_UNIX)");
        memset(&addr, 0, sizeof addr);
        addr.sun_family = AF_UNIX;
        memcpy(addr.sun_path, path, strlen(path));
        if (path[0] == '@') addr.sun_path[0] = '\0';
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
        if (connect(s, (struct sockaddr *)&addr, len) < 0) {
            int e = errno;
            close(s);
            errno = e;
            return fail(msg, cap, "connect");
        }
        close(s);
        snprintf(msg, cap, "connected");
    } else if (!strcmp(action, "resolve")) {
        struct addrinfo hints, *list = NULL;
        int rc;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_ADDRCONFIG;
        rc = getaddrinfo("localhost", "80", &hints, &list);
        if (rc != 0) { snprintf(msg, cap, "getaddrinfo: %s", gai_strerror(rc)); return 1; }
        freeaddrinfo(list);
        snprintf(msg, cap, "resolved");
    } else if (!strcmp(action, "sigsys")) {
        struct sigaction sa;
        int rc;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_IGN;
        rc = sigaction(SIGSYS, &sa, NULL);
        snprintf(msg, cap, "rc=%d errno=%d", rc, rc ? errno : 0);
    } else if (!strcmp(action, "kill")) {
        int rc = kill((pid_t)num_param(params, "pid", 0), SIGTERM);
        snprintf(msg, cap, "rc=%d errno=%d", rc, rc ? errno : 0);
    } else if (!strcmp(action, "prlimit")) {
        struct rlimit old;
        int rc = prlimit((pid_t)num_param(params, "pid", 0), RLIMIT_CORE, NULL, &old);
        snprintf(msg, cap, "rc=%d", rc);
    } else if (!strcmp(action, "ptrace")) {
        ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        snprintf(msg, cap, "ptrace returned");
    } else if (!strcmp(action, "tiocsti")) {
        char c = 'x';
        ioctl(0, TIOCSTI, &c);
        snprintf(msg, cap, "ioctl returned");
    } else if (!strcmp(action, "x32")) {
        long rc = syscall(0x40000000L | 39L); /* getpid through the x32 ABI */
        snprintf(msg, cap, "x32 returned %ld", rc);
    } else if (!strcmp(action, "int80")) {
        long rc = 20; /* getpid through the i386 ABI */
#if defined(__x86_64__)
        __asm__ volatile("int $0x80" : "+a"(rc) : : "memory");
#endif
        snprintf(msg, cap, "int80 returned %ld", rc);
    } else if (!strcmp(action, "unshare")) {
        unshare(CLONE_NEWUSER);
        snprintf(msg, cap, "unshare returned");
    } else if (!strcmp(action, "forge_midi")) {
        /* Plugin code can write to the worker's socket itself: the host must re-check. */
        uint8_t out[19] = {0x07, 0x01, 0, 0, 0x77, 0x77, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0x90, 60, 1};
        uint8_t in[64];
        ssize_t n;
        if (send(3, out, sizeof out, 0) < 0) return fail(msg, cap, "send");
        n = recv(3, in, sizeof in, 0);
        if (n != 20) { snprintf(msg, cap, "odd reply of %zd bytes", n); return MIDIMON_ERR_FAILED; }
        snprintf(msg, cap, "forged status=%d type=0x%x", (int)in[16], (unsigned)in[0]);
    } else if (!strcmp(action, "garbage")) {
        (void)!send(3, "junk!", 5, 0);
        snprintf(msg, cap, "sent garbage");
    } else {
        snprintf(msg, cap, "unknown action %s", action);
        return MIDIMON_ERR_INVALID_PARAMS;
    }
    return MIDIMON_OK;
}

static const midimon_plugin_t plugin = {
    MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR, sizeof(midimon_plugin_t), MIDIMON_CAP_MIDI,
    "sandbox_probe", "2.3.4", "does what its params say", NULL,
    p_init, p_exec, NULL, NULL, NULL, NULL, NULL,
};

MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { return &plugin; }
"""

CTX = TriggerContext(velocity=100, number=60)
NOTHING: frozenset[Capability] = frozenset()


@pytest.fixture(scope="module", autouse=True)
def worker_binary() -> Path:
    """The installed worker; under CI=true a missing one fails every test here."""
    try:
        return worker_executable()
    except WorkerError as exc:
        if IN_CI:
            pytest.fail(f"midimon-worker is missing under CI: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """The probe plugin: (its folder, its bytes)."""
    folder = tmp_path_factory.mktemp("probe")
    so = compile_plugin(folder / "sandbox_probe.so", {}, PROBE_SOURCE)
    return folder, so.read_bytes()


class MidiHost(RecordingHost):
    """A RecordingHost whose send_midi returns a chosen status."""

    def __init__(self, status: int = 0) -> None:
        super().__init__()
        self.status = status

    def send_midi(self, plugin: str, data: bytes) -> int:
        super().send_midi(plugin, data)
        return self.status


StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
def start_worker(probe: tuple[Path, bytes]) -> Iterator[StartWorker]:
    """Start (and initialize) a worker for the probe or given bytes; all are killed at the end."""
    workers: list[WorkerProcess] = []

    def start(
        granted: frozenset[Capability] = NOTHING,
        *,
        host: RecordingHost | None = None,
        data: bytes | None = None,
        initialize: bool = True,
        output_fd: int | None = None,
        **spec_fields: object,
    ) -> WorkerProcess:
        folder, image = probe
        spec_fields.setdefault("read_paths", (folder,))
        spec = SandboxSpec(granted=frozenset(granted), **spec_fields)  # type: ignore[arg-type]
        fd = sealed_image_fd(image if data is None else data, "sandbox_probe")
        try:
            worker = WorkerProcess(
                fd, "sandbox_probe", spec, host or RecordingHost(), output_fd=output_fd
            )
            workers.append(worker)
            worker.start(timeout=10)
        finally:
            os.close(fd)
        if initialize:
            assert worker.initialize(5) == (0, "")
        return worker

    yield start
    for worker in workers:
        worker.kill()
        worker.shutdown(timeout=0.5)


def run(worker: WorkerProcess, action: str, timeout: float = 5.0, **params: object) -> tuple:
    """execute() the probe with {"action": action, **params}."""
    fields = [f'"action":"{action}"'] + [
        f'"{k}":"{v}"' if isinstance(v, str | Path) else f'"{k}":{v}' for k, v in params.items()
    ]
    return worker.execute(("{" + ",".join(fields) + "}").encode(), CTX, timeout)


def group_gone(pgid: int) -> bool:
    """True when no process of the group is left."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def landlock_in_force(worker: WorkerProcess) -> bool:
    """Whether the worker reported Landlock filesystem rules."""
    assert worker.load_info is not None
    return worker.load_info.enforcement.landlock_fs


def require_landlock(worker: WorkerProcess) -> None:
    """Skip when this kernel has no Landlock (what the worker reported); fail under CI=true,
    whose machines have it: a sandbox that silently lost Landlock must not pass."""
    if not landlock_in_force(worker):
        if IN_CI:
            pytest.fail("Landlock is not in force in the worker under CI")
        pytest.skip("Landlock is not available in this kernel")


def require_seccomp(worker: WorkerProcess) -> None:
    """Skip when this kernel or architecture has no seccomp filter; fail under CI=true."""
    assert worker.load_info is not None
    if not worker.load_info.enforcement.seccomp:
        if IN_CI:
            pytest.fail("seccomp is not in force in the worker under CI")
        pytest.skip("seccomp is not available here")


# -- load, round trip, host services ---------------------------------------------------------


def test_round_trip_params_and_context(start_worker: StartWorker) -> None:
    """LOAD -> INIT -> EXECUTE: struct fields, params and every context field arrive intact."""
    host = RecordingHost()
    worker = start_worker(host=host)
    info = worker.load_info
    assert info is not None
    assert (info.name, info.version, info.description) == (
        "sandbox_probe",
        "2.3.4",
        "does what its params say",
    )
    assert (info.abi_major, info.abi_minor) == (1, 1)
    assert info.struct_size == abi_mod.ffi().sizeof("midimon_plugin_t")
    assert info.capabilities == Capability.MIDI.bit
    assert host.logs == [("sandbox_probe", 1, "initialized")]
    ctx = TriggerContext(
        velocity=101,
        channel=15,
        number=127,
        value=-8192,
        trigger_kind=TriggerKind.PITCH_BEND,
        mode="Mode ü",
        timestamp_ns=2**63 + 5,
        wall_time_ms=-42,
    )
    params = b'{"action":"echo","x":[1,2,"\xc3\xa9"]}'
    status, message = worker.execute(params, ctx, 5)
    assert status == 0
    from midimon import __version__

    size = abi_mod.ffi().sizeof("midimon_trigger_context_t")
    assert message == (
        f"len={len(params)} nul=1 params={params.decode()} vel=101 ch=15 num=127 val=-8192 "
        f"kind=9 mode=Mode ü ts={2**63 + 5} wall=-42 size={size} host=midimon/{__version__}"
    )
    assert worker.execute(b"{}", CTX, 5)[1].startswith("len=2 nul=1 params={} vel=100")


def test_params_up_to_one_mib_travel_in_chunks(start_worker: StartWorker) -> None:
    """1 MiB of params arrives byte-exact (several PARAMS datagrams); more is refused."""
    worker = start_worker()
    for size in (59_990, 60_000, 120_000, 1024 * 1024):
        head = b'{"action":"sum","pad":"'
        params = head + b"x" * (size - len(head) - 2) + b'"}'
        assert len(params) == size
        expected = 0
        for byte in params:
            expected = (expected * 31 + byte) % 2**64
        assert worker.execute(params, CTX, 5) == (0, f"len={size} sum={expected} nul=1")
    with pytest.raises(ValueError, match="at most"):
        worker.execute(b"{" + b" " * (1024 * 1024) + b"}", CTX, 5)
    assert worker.alive


def test_log_and_send_midi_reach_the_host(start_worker: StartWorker) -> None:
    """log() from any thread and send_midi() from the host thread arrive; the status returns."""
    host = MidiHost(status=0)
    worker = start_worker({Capability.MIDI}, host=host)
    assert run(worker, "log") == (0, "logged")
    assert host.logs[1:] == [
        ("sandbox_probe", 3, "from the host thread"),
        ("sandbox_probe", 2, "from a thread"),
    ]
    assert run(worker, "midi") == (0, "rc=0")
    assert host.midi == [("sandbox_probe", bytes([0x90, 60, 100]))]
    host.status = 4
    assert run(worker, "midi") == (0, "rc=4")
    assert run(worker, "midi_thread") == (0, "rc=4")  # MIDIMON_ERR_UNSUPPORTED off-thread
    assert len(host.midi) == 2
    assert worker.denials == []


def test_send_midi_without_grant_is_denied(start_worker: StartWorker) -> None:
    """Without Midi, send_midi returns MIDIMON_ERR_DENIED, a Denial is recorded, work goes on."""
    host = MidiHost()
    worker = start_worker(host=host)
    assert run(worker, "midi") == (0, "rc=3")
    assert host.midi == []
    assert worker.denials == [
        Denial(
            "send_midi",
            Capability.MIDI,
            "tried send_midi without the MIDI capability",
            fatal=False,
        )
    ]
    assert run(worker, "echo")[0] == 0


def test_forged_send_midi_is_rechecked_by_the_host(start_worker: StartWorker) -> None:
    """Plugin code writing SEND_MIDI to the socket itself is still refused without Midi."""
    host = MidiHost()
    worker = start_worker(host=host)
    assert run(worker, "forge_midi") == (0, "forged status=3 type=0x5")
    assert host.midi == []
    assert [d.syscall for d in worker.denials] == ["send_midi"]


def test_hostile_message_is_a_crash(start_worker: StartWorker) -> None:
    """A malformed datagram on the socket kills the worker and says why."""
    worker = start_worker()
    with pytest.raises(WorkerCrashed, match="protocol violation") as caught:
        run(worker, "garbage")
    assert caught.value.denial is None
    assert not worker.alive


def test_enforcement_report(start_worker: StartWorker) -> None:
    """The worker reports the sandbox in force; describe() says it plainly (printed with -s)."""
    worker = start_worker()
    assert worker.load_info is not None
    enforcement = worker.load_info.enforcement
    lines = enforcement.describe()
    print("\n".join(["", "Enforcement.describe():", *lines]))
    assert enforcement.no_new_privs
    assert enforcement.rlimits["RLIMIT_AS"] == 256 * 1024 * 1024
    assert enforcement.rlimits["RLIMIT_NOFILE"] == 256
    assert enforcement.rlimits["RLIMIT_CORE"] == 0
    assert any(line.startswith("no_new_privs: on") for line in lines)
    if enforcement.landlock_fs:
        assert any(f"Landlock ABI {enforcement.landlock_abi}" in line for line in lines)
    if os.getuid() == 0:
        assert enforcement.capabilities_dropped and not enforcement.holds_capabilities
        assert any("RLIMIT_NPROC" in line for line in lines)


def test_rss_after_load_is_small(start_worker: StartWorker) -> None:
    """A loaded worker stays around a megabyte or two of resident memory."""
    worker = start_worker()
    rss = worker.rss_bytes()
    print(f"\nworker RSS after load: {rss / 1024:.0f} KiB" if rss else "")
    assert rss is not None and rss < 8 * 1024 * 1024


# -- crashes and timeouts ----------------------------------------------------------------------


@pytest.mark.parametrize(("action", "sig"), [("segv", signal.SIGSEGV), ("abort", signal.SIGABRT)])
def test_crash_names_the_signal(start_worker: StartWorker, action: str, sig: int) -> None:
    """A segfault or abort in execute -> WorkerCrashed naming SIGSEGV / SIGABRT."""
    worker = start_worker()
    with pytest.raises(WorkerCrashed) as caught:
        run(worker, action)
    assert caught.value.signal == sig and caught.value.exit_code is None
    assert signal.Signals(sig).name in str(caught.value)
    assert not worker.alive
    with pytest.raises(WorkerError, match="gone"):
        run(worker, "echo")


def test_exit_code_is_reported(start_worker: StartWorker) -> None:
    """exit(3) in execute -> WorkerCrashed with exit_code 3."""
    worker = start_worker()
    with pytest.raises(WorkerCrashed, match="status 3") as caught:
        run(worker, "exit", code=3)
    assert caught.value.exit_code == 3 and caught.value.signal is None


def test_infinite_loop_times_out_and_the_group_is_gone(start_worker: StartWorker) -> None:
    """A busy loop -> WorkerTimeout within timeout + slack; no process of its group is left."""
    worker = start_worker()
    pid = worker.pid
    assert pid is not None
    started = time.monotonic()
    with pytest.raises(WorkerTimeout) as caught:
        run(worker, "loop", timeout=0.5)
    elapsed = time.monotonic() - started
    assert caught.value.seconds == 0.5
    assert 0.5 <= elapsed < 2.0, elapsed
    assert group_gone(pid)
    assert not Path(f"/proc/{pid}").exists()


def test_kill_from_another_thread(start_worker: StartWorker) -> None:
    """kill() from another thread ends a call blocked in the plugin, at once."""
    worker = start_worker()
    threading.Timer(0.2, worker.kill).start()
    started = time.monotonic()
    with pytest.raises(WorkerCrashed, match="killed by the host") as caught:
        run(worker, "sleep", timeout=10)
    assert time.monotonic() - started < 2
    assert caught.value.signal == signal.SIGKILL
    worker.kill()  # idempotent


def test_worker_exits_when_the_host_hangs_up(start_worker: StartWorker) -> None:
    """EOF on fd 3 ends the worker even while plugin code runs (the watchdog thread)."""
    worker = start_worker()
    threading.Timer(0.2, worker.hang_up).start()
    started = time.monotonic()
    with pytest.raises(WorkerCrashed) as caught:
        run(worker, "sleep", timeout=10)
    assert time.monotonic() - started < 2
    assert caught.value.exit_code == 0


def test_constructor_hang_times_out_start(tmp_path: Path, start_worker: StartWorker) -> None:
    """A constructor that never returns makes start() time out, not hang."""
    so = compile_plugin(tmp_path / "stuck.so", {"P_CONSTRUCTOR_LOOP": "1"}, PROBE_SOURCE)
    fd = sealed_image_fd(so.read_bytes(), "stuck")
    try:
        worker = WorkerProcess(fd, "stuck", SandboxSpec(granted=NOTHING), RecordingHost())
        with pytest.raises(WorkerTimeout):
            worker.start(timeout=0.5)
    finally:
        os.close(fd)
    assert worker.pid is not None and group_gone(worker.pid)


# -- the seccomp filter ------------------------------------------------------------------------


def test_execve_without_subprocess_is_denied(start_worker: StartWorker) -> None:
    """execve("/bin/sh") -> WorkerCrashed carrying a Denial naming execve and Subprocess."""
    worker = start_worker()
    require_seccomp(worker)
    with pytest.raises(WorkerCrashed) as caught:
        run(worker, "execve")
    denial = caught.value.denial
    assert denial is not None and denial.fatal
    assert (denial.syscall, denial.capability) == ("execve", Capability.SUBPROCESS)
    assert "tried execve without the Subprocess capability" in str(caught.value)
    assert caught.value.exit_code == Wire.EXIT_DENIED


def test_spawn_needs_subprocess(start_worker: StartWorker) -> None:
    """fork + exec of /bin/sh: denied (at the fork) without Subprocess, runs with it."""
    worker = start_worker()
    require_seccomp(worker)
    with pytest.raises(WorkerCrashed) as caught:
        run(worker, "spawn")
    assert caught.value.denial is not None
    assert caught.value.denial.syscall in ("clone(fork)", "fork")
    assert caught.value.denial.capability is Capability.SUBPROCESS
    allowed = start_worker({Capability.SUBPROCESS})
    assert run(allowed, "spawn") == (0, "child exited 7")


def test_fork_bomb_is_denied(start_worker: StartWorker) -> None:
    """A fork loop without Subprocess is stopped at its first fork."""
    worker = start_worker()
    require_seccomp(worker)
    pid = worker.pid
    assert pid is not None
    with pytest.raises(WorkerCrashed, match="fork") as caught:
        run(worker, "forkbomb")
    assert caught.value.denial is not None
    assert caught.value.denial.capability is Capability.SUBPROCESS
    assert group_gone(pid)


def test_sandbox_is_in_force_before_constructors_run(
    tmp_path: Path, start_worker: StartWorker
) -> None:
    """A constructor calling execve is stopped: the sandbox precedes dlopen."""
    so = compile_plugin(tmp_path / "sneaky.so", {"P_CONSTRUCTOR_EXEC": "1"}, PROBE_SOURCE)
    with pytest.raises(WorkerCrashed) as caught:
        start_worker(data=so.read_bytes(), initialize=False)
    assert caught.value.denial is not None and caught.value.denial.syscall == "execve"


def test_tcp_connect_needs_network(start_worker: StartWorker) -> None:
    """Without Network socket(AF_INET) is denied; with it the local server sees the client."""
    server = TcpListener()
    try:
        worker = start_worker()
        require_seccomp(worker)
        with pytest.raises(WorkerCrashed) as caught:
            run(worker, "connect", port=server.port)
        denial = caught.value.denial
        assert denial is not None
        assert (denial.syscall, denial.capability) == ("socket(AF_INET)", Capability.NETWORK)
        assert server.accepted == 0
        allowed = start_worker({Capability.NETWORK})
        assert run(allowed, "connect", port=server.port) == (0, "connected")
        deadline = time.monotonic() + 2
        while server.accepted == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.accepted == 1
    finally:
        server.sock.close()


def test_unix_sockets_fail_softly_without_a_grant(start_worker: StartWorker) -> None:
    """socket(AF_UNIX) without Audio/System control/Subprocess: EACCES, named, plugin lives."""
    worker = start_worker()
    require_seccomp(worker)
    status, message = run(worker, "unix")
    assert status == 1 and f"errno={errno.EACCES}" in message
    assert [(d.syscall, d.fatal) for d in worker.denials] == [("socket(AF_UNIX)", False)]
    assert worker.alive and run(worker, "echo")[0] == 0
    assert run(start_worker({Capability.AUDIO}), "unix") == (0, "socket ok")


@pytest.mark.parametrize("action", ["unix", "socketpair"])
def test_network_alone_gives_no_local_sockets(start_worker: StartWorker, action: str) -> None:
    """Network means IP: socket(AF_UNIX) and socketpair() fail with EACCES, the denial names
    the call and says which capabilities give local sockets; IP still works."""
    worker = start_worker({Capability.NETWORK})
    require_seccomp(worker)
    status, message = run(worker, action)
    assert status == 1 and f"errno={errno.EACCES}" in message
    [denial] = worker.denials
    assert (denial.syscall, denial.fatal) == (f"{action.replace('unix', 'socket')}(AF_UNIX)", False)
    assert "Network is IP only" in denial.detail and "Audio" in denial.detail
    assert run(worker, "family", family=socket.AF_INET, type=socket.SOCK_STREAM) == (
        0,
        "socket ok",
    )
    lines = worker.load_info.enforcement.describe()  # type: ignore[union-attr]
    assert any("socketpair() fail with EACCES" in line for line in lines)


@pytest.mark.parametrize("capability", list(Capability))
def test_local_socket_capabilities(start_worker: StartWorker, capability: Capability) -> None:
    """Exactly the capabilities in LOCAL_SOCKET_CAPABILITIES (Audio, System control,
    Subprocess) keep socket(AF_UNIX) and socketpair(): the C filter and the table agree."""
    worker = start_worker({capability})
    require_seccomp(worker)
    if capability in LOCAL_SOCKET_CAPABILITIES:
        assert run(worker, "unix") == (0, "socket ok")
        assert run(worker, "socketpair") == (0, "socketpair ok")
        assert worker.denials == []
    else:
        assert run(worker, "unix")[0] == 1 and run(worker, "socketpair")[0] == 1
        assert [d.syscall for d in worker.denials] == ["socket(AF_UNIX)", "socketpair(AF_UNIX)"]


@pytest.mark.parametrize(
    ("family", "proto", "name"),
    [
        (socket.AF_NETLINK, 4, "socket(AF_NETLINK)"),  # NETLINK_SOCK_DIAG: lists every socket
        (socket.AF_PACKET, 0, "socket(AF_PACKET)"),
        (socket.AF_VSOCK, 0, "socket(AF_VSOCK)"),
    ],
)
def test_other_socket_families_for_everyone(
    start_worker: StartWorker, family: int, proto: int, name: str
) -> None:
    """Families no capability grants fail with EACCES and a named denial, even with all six."""
    worker = start_worker(frozenset(Capability))
    require_seccomp(worker)
    status, message = run(worker, "family", family=family, type=socket.SOCK_RAW, proto=proto)
    assert status == 1 and f"errno={errno.EACCES}" in message
    assert [(d.syscall, d.fatal) for d in worker.denials] == [(name, False)]
    assert worker.alive


def test_network_resolves_names(start_worker: StartWorker) -> None:
    """getaddrinfo() works with Network alone: its NETLINK_ROUTE socket is allowed, and the
    local sockets it tries first (nscd, systemd-resolved) fail softly; it falls back."""
    worker = start_worker({Capability.NETWORK})
    require_seccomp(worker)
    assert run(worker, "resolve") == (0, "resolved")
    assert {d.syscall for d in worker.denials} <= {"socket(AF_UNIX)"}
    assert all(not d.fatal for d in worker.denials)


def test_sigsys_handler_cannot_be_replaced(start_worker: StartWorker) -> None:
    """sigaction(SIGSYS) fails with EINVAL, so denials keep being reported."""
    worker = start_worker()
    require_seccomp(worker)
    assert run(worker, "sigsys") == (0, f"rc=-1 errno={errno.EINVAL}")
    with pytest.raises(WorkerCrashed) as caught:
        run(worker, "execve")
    assert caught.value.denial is not None


@pytest.mark.parametrize(
    ("action", "syscall"),
    [("ptrace", "ptrace"), ("unshare", "unshare"), ("tiocsti", "ioctl(TIOCSTI)")],
)
def test_forbidden_syscalls(start_worker: StartWorker, action: str, syscall: str) -> None:
    """ptrace, unshare and TIOCSTI are trapped for every plugin, whatever it was granted."""
    worker = start_worker({Capability.SUBPROCESS, Capability.NETWORK})
    require_seccomp(worker)
    with pytest.raises(WorkerCrashed) as caught:
        run(worker, action)
    denial = caught.value.denial
    assert denial is not None and (denial.syscall, denial.capability) == (syscall, None)


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 ABIs")
@pytest.mark.parametrize("action", ["x32", "int80"])
def test_foreign_syscall_abis_are_trapped(start_worker: StartWorker, action: str) -> None:
    """A syscall through the x32 or i386 ABI cannot slip past the x86_64 filter."""
    worker = start_worker()
    require_seccomp(worker)
    with pytest.raises(WorkerCrashed) as caught:
        run(worker, action)
    if caught.value.denial is None:  # a kernel without IA-32 emulation faults int 0x80
        assert action == "int80" and caught.value.signal == signal.SIGSEGV
    else:
        assert "foreign ABI" in caught.value.denial.syscall


def test_other_processes_are_out_of_reach(start_worker: StartWorker) -> None:
    """Signals to a process outside the sandbox fail; prlimit on it is trapped."""
    victim = subprocess.Popen(["sleep", "30"])
    try:
        worker = start_worker()
        require_seccomp(worker)
        try:
            status, message = run(worker, "kill", pid=victim.pid)
        except WorkerCrashed as exc:  # Landlock < 6: the seccomp signal filter traps it
            assert exc.denial is not None and exc.denial.syscall == "kill"
        else:
            assert (status, message) == (0, f"rc=-1 errno={errno.EPERM}")
        assert victim.poll() is None
        worker = start_worker()
        with pytest.raises(WorkerCrashed) as caught:
            run(worker, "prlimit", pid=victim.pid)
        assert caught.value.denial is not None
        assert caught.value.denial.syscall == "prlimit64"
        assert run(start_worker(), "prlimit", pid=0) == (0, "rc=0")
    finally:
        victim.kill()
        victim.wait()


# -- Landlock ------------------------------------------------------------------------------------


def test_reading_outside_read_paths_fails(start_worker: StartWorker, tmp_path: Path) -> None:
    """A file outside the read paths cannot be opened (EACCES); inside them it can."""
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("top secret")
    worker = start_worker()
    require_landlock(worker)
    for path in (secret, Path("/etc/hostname"), Path("/etc/passwd")):
        if path.exists():
            status, message = run(worker, "read", path=path)
            assert status == 1 and f"errno={errno.EACCES}" in message, (path, message)
    folder = worker.spec.read_paths[0]
    allowed = start_worker(read_paths=(folder, secret.parent))
    assert run(allowed, "read", path=secret) == (0, "read 10 bytes: top secret")


def test_writes_only_inside_write_paths(start_worker: StartWorker, tmp_path: Path) -> None:
    """Writing to a granted write path works; next to it, and in a read path, it fails."""
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    worker = start_worker({Capability.FILESYSTEM}, write_paths=(allowed,))
    require_landlock(worker)
    assert run(worker, "write", path=allowed / "out.txt") == (0, "written")
    assert (allowed / "out.txt").read_text() == "hello"
    for target in (tmp_path / "elsewhere.txt", worker.spec.read_paths[0] / "x.txt"):
        status, message = run(worker, "write", path=target)
        assert status == 1 and f"errno={errno.EACCES}" in message
        assert not target.exists()


def test_thread_dies_with_the_worker_after_shutdown(
    start_worker: StartWorker, tmp_path: Path
) -> None:
    """A plugin thread still running at shutdown stops with its worker."""
    beats = tmp_path / "beats"
    beats.mkdir()
    worker = start_worker(write_paths=(beats,))
    pid = worker.pid
    assert pid is not None
    assert run(worker, "heartbeat", path=beats / "beat") == (0, "beating")
    time.sleep(0.1)
    assert (beats / "beat").stat().st_size > 0
    worker.shutdown()
    assert not worker.alive and worker.wait_status == 0
    assert group_gone(pid)
    size = (beats / "beat").stat().st_size
    time.sleep(0.2)
    assert (beats / "beat").stat().st_size == size


# -- rlimits, output, message size ---------------------------------------------------------------


def test_malloc_beyond_the_address_space_limit(start_worker: StartWorker) -> None:
    """Past RLIMIT_AS malloc returns NULL (or the worker dies); the host carries on."""
    worker = start_worker(address_space=96 * 1024 * 1024)
    assert run(worker, "malloc", mib=16) == (0, "allocated")
    try:
        status, message = run(worker, "malloc", mib=512)
    except WorkerCrashed as exc:
        assert exc.signal is not None or exc.exit_code is not None
    else:
        assert (status, message) == (1, "malloc returned NULL")
        assert run(worker, "malloc", mib=16) == (0, "allocated")
    assert run(start_worker(), "echo")[0] == 0


def test_output_spam_does_not_disturb_the_protocol(
    start_worker: StartWorker, tmp_path: Path
) -> None:
    """20 MiB on stdout/stderr plus protocol-looking bytes go to the output, not the socket."""
    out = tmp_path / "worker.out"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        worker = start_worker(output_fd=fd)
    finally:
        os.close(fd)
    for _ in range(2):
        assert run(worker, "spam", timeout=10) == (0, "spammed")
    assert out.stat().st_size > 2 * 20 * 1024 * 1024
    assert run(worker, "echo")[0] == 0


def test_huge_message_is_truncated(start_worker: StartWorker) -> None:
    """A message filling the whole 4096-byte buffer without a NUL arrives as 4095 bytes."""
    worker = start_worker()
    assert run(worker, "bigmsg") == (1, "E" * 4095)


def test_without_kernel_sandbox_only_rlimits_apply(start_worker: StartWorker) -> None:
    """kernel_sandbox=False: no Landlock/seccomp/no_new_privs, rlimits still set, said so."""
    worker = start_worker(kernel_sandbox=False, address_space=200 * 1024 * 1024)
    assert worker.load_info is not None
    enforcement = worker.load_info.enforcement
    assert not (enforcement.no_new_privs or enforcement.landlock_fs or enforcement.seccomp)
    assert enforcement.rlimits["RLIMIT_AS"] == 200 * 1024 * 1024
    assert any("kernel sandbox OFF" in line for line in enforcement.describe())
    assert run(worker, "read", path="/etc/passwd")[0] == 0


# -- load failures -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("defines", "code"),
    [
        ({"P_ENTRY": "not_the_entry"}, "no_entry"),
        ({"P_RETURN_NULL": "1"}, "null_plugin"),
        ({"P_MAJOR": "2"}, "abi_major"),
        ({"P_MINOR": "99"}, "abi_minor"),
        ({"P_SIZE": "8"}, "struct_size"),
    ],
)
def test_load_failures(
    start_worker: StartWorker, tmp_path: Path, defines: dict[str, str], code: str
) -> None:
    """A broken plugin yields WorkerLoadFailed with the reason code; the worker is gone."""
    so = compile_plugin(tmp_path / "broken.so", defines, TEST_PLUGIN_SOURCE)
    with pytest.raises(WorkerLoadFailed) as caught:
        start_worker(data=so.read_bytes(), initialize=False)
    assert caught.value.code == code
    if code == "abi_major":
        assert caught.value.abi_major == 2


def test_not_a_shared_object(start_worker: StartWorker) -> None:
    """Bytes dlopen refuses -> WorkerLoadFailed("dlopen") naming the plugin, not /proc."""
    with pytest.raises(WorkerLoadFailed) as caught:
        start_worker(data=b"\x7fELF this is not a library" * 10, initialize=False)
    assert caught.value.code == "dlopen"
    assert "/proc/self/fd" not in caught.value.message


def test_unsealed_image_is_refused(probe: tuple[Path, bytes]) -> None:
    """The worker loads only a sealed memfd: an unsealed one is refused before dlopen."""
    fd = os.memfd_create("unsealed", os.MFD_CLOEXEC)
    try:
        os.write(fd, probe[1])
        worker = WorkerProcess(fd, "sandbox_probe", SandboxSpec(granted=NOTHING), RecordingHost())
        with pytest.raises(WorkerLoadFailed) as caught:
            worker.start(timeout=5)
    finally:
        os.close(fd)
    assert caught.value.code == "image"
    assert not worker.alive


# -- the protocol itself -------------------------------------------------------------------------
