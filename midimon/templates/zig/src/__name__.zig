//! {{name}}: a midimon action plugin (ABI 1.0), scaffolded by `midimon new-plugin`.
//!
//! params (a JSON object, read with include/midimon_params.h): `message` (optional string).
//! execute() answers
//! `hello from {{name}}: note N velocity V mode M, message="..."`.
//!
//! The ABI types come from include/midimon_plugin.h through `zig translate-c` (build.sh), as
//! the module "midimon_abi"; the params reader from include/midimon_params.h, as
//! "midimon_params". Built ReleaseSafe; Zig never unwinds, so nothing crosses the C
//! boundary (a failed safety check aborts the worker process).

const std = @import("std");
const c = @import("midimon_abi");
const params_h = @import("midimon_params");

const name = "{{name}}";
const version = "0.1.0";

comptime {
    // Guard the generated bindings against a surprise layout on 64-bit targets.
    if (@sizeOf(usize) == 8) {
        std.debug.assert(@sizeOf(c.midimon_trigger_context_t) == 64);
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
    .execute = execute,
    .shutdown = null,
    .destroy = null,
    .get_extension = null,
};

/// The one exported symbol.
export fn _create_plugin() callconv(.c) [*c]const c.midimon_plugin_t {
    return &plugin;
}

/// Is the member at `offset` (`len` bytes) inside a host-built struct of `size` bytes?
fn hasMember(size: u32, offset: usize, len: usize) bool {
    return offset + len <= size;
}

fn initialize(self: [*c]const c.midimon_plugin_t, h: [*c]const c.midimon_host_t) callconv(.c) i32 {
    _ = self;
    if (h == null or h.*.abi_major != c.MIDIMON_ABI_MAJOR) return c.MIDIMON_ERR_UNSUPPORTED;
    if (hasMember(h.*.struct_size, @offsetOf(c.midimon_host_t, "log"), @sizeOf(usize))) {
        if (h.*.log) |log_fn| log_fn(h, c.MIDIMON_LOG_DEBUG, name ++ " initialized");
    }
    return c.MIDIMON_OK;
}

/// Copy `text` into the host buffer, NUL-terminated, truncated without splitting a UTF-8
/// sequence.
fn writeMessage(dst: [*c]u8, cap: usize, text: []const u8) void {
    if (dst == null or cap == 0) return;
    var n = @min(text.len, cap - 1);
    while (n > 0 and n < text.len and (text[n] & 0xC0) == 0x80) n -= 1;
    @memcpy(dst[0..n], text[0..n]);
    dst[n] = 0;
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
    var note: u8 = 0;
    var velocity: u8 = 0;
    var mode: []const u8 = "";
    if (context != null) {
        // Members past the host's struct_size read as zero.
        const size = context.*.struct_size;
        const T = c.midimon_trigger_context_t;
        if (hasMember(size, @offsetOf(T, "number"), 1)) note = context.*.number;
        if (hasMember(size, @offsetOf(T, "velocity"), 1)) velocity = context.*.velocity;
        if (hasMember(size, @offsetOf(T, "mode"), @sizeOf(usize)) and context.*.mode != null)
            mode = std.mem.span(context.*.mode);
    }
    // text_buf comes back NUL-terminated (empty unless found), cut on a UTF-8 boundary.
    var text_buf: [256]u8 = undefined;
    switch (params_h.midimon_params_string(params_json, params_len, "message", &text_buf, text_buf.len)) {
        params_h.MIDIMON_PARAMS_FOUND, params_h.MIDIMON_PARAMS_MISSING => {}, // optional
        params_h.MIDIMON_PARAMS_WRONG_TYPE => {
            writeMessage(message, message_cap, "params: \"message\" must be a string without NUL");
            return c.MIDIMON_ERR_INVALID_PARAMS;
        },
        else => {
            writeMessage(message, message_cap, "params are not a valid JSON object");
            return c.MIDIMON_ERR_INVALID_PARAMS;
        },
    }
    const text = std.mem.sliceTo(&text_buf, 0);
    var out: [1024]u8 = undefined;
    const result = std.fmt.bufPrint(&out, "hello from {s}: note {d} velocity {d} mode {s}, message=\"{s}\"", .{ name, note, velocity, mode, text }) catch out[0..];
    writeMessage(message, message_cap, result);
    return c.MIDIMON_OK;
}
