//! {{name}}: a midimon trigger plugin (ABI 1.1), scaffolded by `midimon new-plugin --type trigger`.
//!
//! Between start() and stop() a thread of its own emits the event "/tick" every `interval_ms`
//! milliseconds (a setting, default 1000), valued 1, 2, 3 ... Replace the thread's body with
//! what your plugin listens to (a socket, a device) and emit one event per thing that happened.
//! Settings come from config.toml's [plugins.settings.{{name}}], as a JSON object, in start(),
//! read with include/midimon_params.h.
//!
//! The ABI types come from include/midimon_plugin.h through `zig translate-c` (build.sh), as
//! the module "midimon_abi"; the settings reader from include/midimon_params.h, as
//! "midimon_params". The thread is a libc pthread, as in C. Built ReleaseSafe; Zig never
//! unwinds, so nothing crosses the C boundary (a failed safety check aborts the worker).

const std = @import("std");
const c = @import("midimon_abi");
const params_h = @import("midimon_params");

const name = "{{name}}";
const version = "0.1.0";

comptime {
    // Guard the generated bindings against a surprise layout on 64-bit targets.
    if (@sizeOf(usize) == 8) {
        std.debug.assert(@sizeOf(c.midimon_event_t) == 32);
        std.debug.assert(@sizeOf(c.midimon_host_t) == 72);
        std.debug.assert(@sizeOf(c.midimon_plugin_t) == 104);
    }
}

/// Safety panics print their message and abort, without the default handler's stack-trace
/// machinery.
pub const panic = std.debug.FullPanic(panicAbort);

fn panicAbort(msg: []const u8, first_trace_addr: ?usize) noreturn {
    @branchHint(.cold);
    _ = first_trace_addr;
    const prefix = name ++ ": panic: ";
    _ = std.c.write(2, prefix, prefix.len);
    _ = std.c.write(2, msg.ptr, msg.len);
    _ = std.c.write(2, "\n", 1);
    std.c.abort();
}

const plugin: c.midimon_plugin_t = .{
    .abi_major = c.MIDIMON_ABI_MAJOR,
    .abi_minor = c.MIDIMON_ABI_MINOR,
    .struct_size = @sizeOf(c.midimon_plugin_t),
    .capabilities = {{cap_expr}}, // must match [plugin.capabilities] in plugin.toml
    .name = name,
    .version = version,
    .description = "{{description}}",
    .plugin_data = null,
    .initialize = initialize,
    .execute = null, // a trigger plugin runs no actions
    .shutdown = null,
    .destroy = null, // everything is static
    .get_extension = null,
    .start = start,
    .stop = stop,
};

/// The one exported symbol.
export fn _create_plugin() callconv(.c) [*c]const c.midimon_plugin_t {
    return &plugin;
}

var host: [*c]const c.midimon_host_t = null;
var running = std.atomic.Value(bool).init(false);
var thread: std.c.pthread_t = undefined;
var interval_ms: i64 = 1000;

fn log(level: i32, text: [*:0]const u8) void {
    if (host != null) {
        if (host.*.log) |log_fn| log_fn(host, level, text); // [any-thread]
    }
}

fn initialize(self: [*c]const c.midimon_plugin_t, h: [*c]const c.midimon_host_t) callconv(.c) i32 {
    _ = self;
    if (h == null or h.*.abi_major != c.MIDIMON_ABI_MAJOR) return c.MIDIMON_ERR_UNSUPPORTED;
    // emit_event came with ABI 1.1: a 1.0 host cannot take events.
    const needed = @offsetOf(c.midimon_host_t, "emit_event") + @sizeOf(usize);
    if (h.*.struct_size < needed or h.*.emit_event == null) return c.MIDIMON_ERR_UNSUPPORTED;
    host = h;
    log(c.MIDIMON_LOG_DEBUG, name ++ " initialized");
    return c.MIDIMON_OK;
}

/// The thread between start() and stop(): one "/tick" every interval_ms.
fn ticker(arg: ?*anyopaque) callconv(.c) ?*anyopaque {
    _ = arg;
    var count: f64 = 0;
    var waited: i64 = 0;
    while (running.load(.acquire)) {
        // Sleep in short steps so that stop() never waits a whole interval.
        const step: i64 = @min(interval_ms - waited, 50);
        var pause: std.c.timespec = .{ .sec = 0, .nsec = @intCast(step * std.time.ns_per_ms) };
        _ = std.c.nanosleep(&pause, null);
        waited += step;
        if (waited < interval_ms) continue;
        waited = 0;
        if (!running.load(.acquire)) break;
        count += 1;
        var event = std.mem.zeroes(c.midimon_event_t);
        event.struct_size = @sizeOf(c.midimon_event_t);
        event.flags = 0; // set MIDIMON_EVENT_HAS_* for number, velocity or channel
        event.name = "/tick";
        event.value = count;
        _ = host.*.emit_event.?(host, &event); // [any-thread & started]: fine from here
    }
    return null;
}

fn start(self: [*c]const c.midimon_plugin_t, settings_json: [*c]const u8, settings_len: usize) callconv(.c) i32 {
    _ = self;
    var interval: i64 = 1000;
    const found = params_h.midimon_params_int(settings_json, settings_len, "interval_ms", &interval);
    if (found < 0 or interval < 1 or interval > 3600000) {
        log(c.MIDIMON_LOG_ERROR, name ++ ": interval_ms must be 1..3600000");
        return c.MIDIMON_ERR_INVALID_PARAMS;
    }
    interval_ms = interval;
    running.store(true, .release);
    if (std.c.pthread_create(&thread, null, ticker, null) != .SUCCESS) {
        running.store(false, .release);
        return c.MIDIMON_ERR_FAILED;
    }
    return c.MIDIMON_OK;
}

fn stop(self: [*c]const c.midimon_plugin_t) callconv(.c) void {
    _ = self;
    running.store(false, .release);
    _ = std.c.pthread_join(thread, null); // no emit_event() after stop() returns
}
