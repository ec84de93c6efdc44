//! midi_transpose: a midimon action plugin (ABI 1.0) that sends the triggering note, transposed,
//! through the host's MIDI output (host.send_midi), optionally preceded by a control change.
//!
//! The ABI types come straight from abi/midimon_plugin.h: Zig 0.17 no longer has @cImport, so
//! the build runs `zig translate-c` on the header and hands the result to this file as the
//! module "midimon_abi" (see CMakeLists.txt). There is no hand-written mirror to drift.
//!
//! Safety: built ReleaseSafe. Zig has no unwinding; a safety-check failure (which should not
//! happen: every value from outside is range-checked first) aborts the worker process.

const std = @import("std");
const c = @import("midimon_abi");

const name = "midi_transpose";
const version = "1.0.0";

comptime {
    // Guard the generated bindings against a surprise layout on 64-bit targets.
    if (@sizeOf(usize) == 8) {
        std.debug.assert(@sizeOf(c.midimon_trigger_context_t) == 64);
        std.debug.assert(@sizeOf(c.midimon_host_t) == 72);
        std.debug.assert(@sizeOf(c.midimon_plugin_t) == 104);
    }
}

/// Safety panics print their message to stderr and abort. Zig never unwinds, so nothing crosses
/// the C boundary; and this handler avoids the default one's stack-trace machinery, which would
/// pull much of std.Io (and its libc imports) into the library.
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
    .capabilities = c.MIDIMON_CAP_MIDI,
    .name = name,
    .version = version,
    .description = "Send the triggering note transposed (and optional CC) through the host's MIDI output",
    .plugin_data = null,
    .initialize = initialize,
    .execute = execute,
    .shutdown = shutdown,
    .destroy = destroy,
    .get_extension = null,
};

/// The host handed to initialize(); valid until destroy(). Only touched on the host thread.
var host: ?*const c.midimon_host_t = null;

/// The one exported symbol.
export fn _create_plugin() callconv(.c) [*c]const c.midimon_plugin_t {
    return &plugin;
}

/// Is the member at `offset` (of `len` bytes) inside a host-built struct of `struct_size` bytes?
fn hasMember(struct_size: u32, offset: usize, len: usize) bool {
    return offset + len <= struct_size;
}

fn hostLog(level: i32, comptime fmt: []const u8, args: anytype) void {
    const h = host orelse return;
    if (!hasMember(h.struct_size, @offsetOf(c.midimon_host_t, "log"), @sizeOf(usize))) return;
    const log_fn = h.log orelse return;
    var buf: [512]u8 = undefined;
    // Too long for the buffer: log what fit.
    const n = if (std.fmt.bufPrint(buf[0 .. buf.len - 1], fmt, args)) |out| out.len else |_| buf.len - 1;
    buf[n] = 0;
    log_fn(h, level, &buf);
}

fn initialize(self: [*c]const c.midimon_plugin_t, h: [*c]const c.midimon_host_t) callconv(.c) i32 {
    _ = self;
    if (h == null) return c.MIDIMON_ERR_FAILED;
    if (h.*.abi_major != c.MIDIMON_ABI_MAJOR) return c.MIDIMON_ERR_UNSUPPORTED;
    host = h;
    hostLog(c.MIDIMON_LOG_DEBUG, "{s} {s} initialized (host ABI {d}.{d})", .{ name, version, h.*.abi_major, h.*.abi_minor });
    return c.MIDIMON_OK;
}

fn shutdown(self: [*c]const c.midimon_plugin_t) callconv(.c) void {
    _ = self; // nothing running in the background
}

fn destroy(self: [*c]const c.midimon_plugin_t) callconv(.c) void {
    _ = self; // the plugin struct is static
    host = null;
}

// ---------------------------------------------------------------------------------------------
// execute

/// A fixed-size message builder; text that does not fit is dropped.
const Message = struct {
    buf: [1024]u8 = undefined,
    len: usize = 0,
    status: i32 = c.MIDIMON_OK,

    fn set(self: *Message, status: i32, comptime fmt: []const u8, args: anytype) void {
        self.status = status;
        const out = std.fmt.bufPrint(&self.buf, fmt, args) catch {
            self.len = self.buf.len;
            return;
        };
        self.len = out.len;
    }
};

/// Copy `text` into the host buffer, NUL-terminated, truncated to `cap` without splitting a
/// UTF-8 sequence.
fn writeMessage(dst: [*c]u8, cap: usize, text: []const u8) void {
    if (dst == null or cap == 0) return;
    var n = @min(text.len, cap - 1);
    // Back up to the start of a code point (never cut between a lead and continuation byte).
    while (n > 0 and n < text.len and (text[n] & 0xC0) == 0x80) n -= 1;
    @memcpy(dst[0..n], text[0..n]);
    dst[n] = 0;
}

const Context = struct {
    velocity: u8 = 0,
    channel: u8 = 0,
    note: u8 = 0,
    value: i32 = 0,
};

/// Copy the context, reading members past the host's struct_size as zero.
fn readContext(p: [*c]const c.midimon_trigger_context_t) Context {
    var ctx: Context = .{};
    if (p == null) return ctx;
    const size = p.*.struct_size;
    const T = c.midimon_trigger_context_t;
    if (hasMember(size, @offsetOf(T, "velocity"), 1)) ctx.velocity = p.*.velocity;
    if (hasMember(size, @offsetOf(T, "channel"), 1)) ctx.channel = p.*.channel;
    if (hasMember(size, @offsetOf(T, "number"), 1)) ctx.note = p.*.number;
    if (hasMember(size, @offsetOf(T, "value"), 4)) ctx.value = p.*.value;
    return ctx;
}

/// An optional integer field in lo..hi. Absent or null gives null. On a wrong type or a value
/// out of range, sets `msg` (naming the field) and returns error.InvalidParams.
fn intField(obj: std.json.ObjectMap, comptime field: []const u8, lo: i64, hi: i64, msg: *Message) error{InvalidParams}!?i64 {
    const v = obj.get(field) orelse return null;
    switch (v) {
        .null => return null,
        .integer => |i| {
            if (i < lo or i > hi) {
                msg.set(c.MIDIMON_ERR_INVALID_PARAMS, "field `" ++ field ++ "` must be in {d}..{d}, got {d}", .{ lo, hi, i });
                return error.InvalidParams;
            }
            return i;
        },
        else => {
            msg.set(c.MIDIMON_ERR_INVALID_PARAMS, "field `" ++ field ++ "` must be an integer, got {s}", .{typeName(v)});
            return error.InvalidParams;
        },
    }
}

fn typeName(v: std.json.Value) []const u8 {
    return switch (v) {
        .null => "null",
        .bool => "a boolean",
        .integer => "an integer",
        .float => "a non-integer number",
        .number_string => "a number out of range",
        .string => "a string",
        .array => "an array",
        .object => "an object",
    };
}

fn send(bytes: []const u8, what: []const u8, msg: *Message) bool {
    const h = host orelse {
        msg.set(c.MIDIMON_ERR_FAILED, "host refused send_midi: plugin not initialized", .{});
        return false;
    };
    const send_fn = if (hasMember(h.struct_size, @offsetOf(c.midimon_host_t, "send_midi"), @sizeOf(usize))) h.send_midi else null;
    if (send_fn) |f| {
        const rc = f(h, bytes.ptr, bytes.len);
        if (rc == c.MIDIMON_OK) return true;
        msg.set(rc, "host refused send_midi: status {d} ({s}) for the {s} [{d}, {d}, {d}]", .{ rc, statusName(rc), what, bytes[0], bytes[1], bytes[2] });
    } else {
        msg.set(c.MIDIMON_ERR_UNSUPPORTED, "host refused send_midi: the host offers no send_midi", .{});
    }
    return false;
}

fn statusName(rc: i32) []const u8 {
    return switch (rc) {
        c.MIDIMON_ERR_FAILED => "ERR_FAILED",
        c.MIDIMON_ERR_INVALID_PARAMS => "ERR_INVALID_PARAMS",
        c.MIDIMON_ERR_DENIED => "ERR_DENIED",
        c.MIDIMON_ERR_UNSUPPORTED => "ERR_UNSUPPORTED",
        c.MIDIMON_ERR_TIMEOUT => "ERR_TIMEOUT",
        else => "unknown status",
    };
}

fn run(params: []const u8, ctx: Context, msg: *Message) void {
    var arena = std.heap.ArenaAllocator.init(std.heap.c_allocator);
    defer arena.deinit();
    const alloc = arena.allocator();

    const text = if (std.mem.trim(u8, params, " \t\r\n").len == 0) "{}" else params;
    var scanner = std.json.Scanner.initCompleteInput(alloc, text);
    defer scanner.deinit();
    const root = std.json.parseFromTokenSourceLeaky(std.json.Value, alloc, &scanner, .{
        .duplicate_field_behavior = .use_last,
    }) catch |err| {
        if (err == error.OutOfMemory) {
            msg.set(c.MIDIMON_ERR_FAILED, "out of memory parsing params", .{});
        } else {
            msg.set(c.MIDIMON_ERR_INVALID_PARAMS, "invalid params JSON at byte {d}: {s}", .{ scanner.cursor, @errorName(err) });
        }
        return;
    };
    const obj = switch (root) {
        .object => |o| o,
        else => {
            msg.set(c.MIDIMON_ERR_INVALID_PARAMS, "params must be a JSON object, got {s}", .{typeName(root)});
            return;
        },
    };

    const semitones = (intField(obj, "semitones", -127, 127, msg) catch return) orelse 12;
    const target = @as(i64, ctx.note) + semitones;
    if (target < 0 or target > 127) {
        msg.set(c.MIDIMON_ERR_INVALID_PARAMS, "field `semitones`: note {d} {s} {d} = {d} is outside 0..127", .{ ctx.note, if (semitones < 0) "-" else "+", @abs(semitones), target });
        return;
    }
    const channel: u8 = @intCast((intField(obj, "channel", 0, 15, msg) catch return) orelse (ctx.channel & 0x0F));
    const default_velocity: i64 = if (ctx.velocity == 0) 100 else @min(ctx.velocity, 127);
    const velocity: u8 = @intCast((intField(obj, "velocity", 1, 127, msg) catch return) orelse default_velocity);
    const note_off = if (obj.get("note_off")) |v| switch (v) {
        .bool => |b| b,
        .null => true,
        else => {
            msg.set(c.MIDIMON_ERR_INVALID_PARAMS, "field `note_off` must be a boolean, got {s}", .{typeName(v)});
            return;
        },
    } else true;
    const cc = intField(obj, "cc", 0, 127, msg) catch return;
    const cc_value = (intField(obj, "cc_value", 0, 127, msg) catch return) orelse std.math.clamp(ctx.value, 0, 127);

    const note: u8 = @intCast(target);
    if (cc) |controller| {
        if (!send(&.{ 0xB0 | channel, @intCast(controller), @intCast(cc_value) }, "control change", msg)) return;
    }
    if (!send(&.{ 0x90 | channel, note, velocity }, "note-on", msg)) return;
    if (note_off) {
        if (!send(&.{ 0x80 | channel, note, 0 }, "note-off", msg)) return;
    }
    // The message is for people: channels 1..16 (params and bytes keep MIDI's 0..15).
    msg.set(c.MIDIMON_OK, "sent note {d} -> {d} on channel {d}", .{ ctx.note, note, @as(u16, channel) + 1 });
}

fn execute(
    self: [*c]const c.midimon_plugin_t,
    params_json: [*c]const u8,
    params_len: usize,
    context: [*c]const c.midimon_trigger_context_t,
    message: [*c]u8,
    message_cap: usize,
) callconv(.c) i32 {
    _ = self;
    const params: []const u8 = if (params_json == null) "" else params_json[0..params_len];
    var msg: Message = .{};
    run(params, readContext(context), &msg);
    writeMessage(message, message_cap, msg.buf[0..msg.len]);
    return msg.status;
}
