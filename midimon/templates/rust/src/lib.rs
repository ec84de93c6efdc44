//! {{name}}: a midimon action plugin (ABI 1.0), scaffolded by `midimon new-plugin`.
//!
//! params (a JSON object): `message` (optional string). execute() answers
//! `hello from {{name}}: note N velocity V mode M, message="..."`.
//!
//! Panics: every `extern "C"` entry point runs inside `catch_unwind` (see Cargo.toml), so no
//! unwind crosses the C boundary; a panic becomes MIDIMON_ERR_FAILED.

#![allow(dead_code)]

use std::ffi::CStr;
use std::mem::{offset_of, size_of};
use std::os::raw::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

// ---------------------------------------------------------------------------------------------
// A minimal #[repr(C)] mirror of midimon_plugin.h (ABI 1.0). Members only ever get appended.

pub const MIDIMON_ABI_MAJOR: u32 = 1;
pub const MIDIMON_ABI_MINOR: u32 = 0;

pub const MIDIMON_CAP_NETWORK: u32 = 1;
pub const MIDIMON_CAP_FILESYSTEM: u32 = 2;
pub const MIDIMON_CAP_AUDIO: u32 = 4;
pub const MIDIMON_CAP_MIDI: u32 = 8;
pub const MIDIMON_CAP_SUBPROCESS: u32 = 16;
pub const MIDIMON_CAP_SYSTEM_CONTROL: u32 = 32;

pub const MIDIMON_OK: i32 = 0;
pub const MIDIMON_ERR_FAILED: i32 = 1;
pub const MIDIMON_ERR_INVALID_PARAMS: i32 = 2;
pub const MIDIMON_ERR_UNSUPPORTED: i32 = 4;

pub const MIDIMON_LOG_DEBUG: i32 = 0;
pub const MIDIMON_LOG_INFO: i32 = 1;

#[repr(C)]
pub struct MidimonTriggerContext {
    pub struct_size: u32,
    pub velocity: u8,
    pub channel: u8,
    pub number: u8,
    pub reserved0: u8,
    pub value: i32,
    pub trigger_kind: u32,
    pub mode: *const c_char,
    pub timestamp_ns: u64,
    pub wall_time_ms: i64,
}

#[repr(C)]
pub struct MidimonHost {
    pub abi_major: u32,
    pub abi_minor: u32,
    pub struct_size: u32,
    pub reserved0: u32,
    pub host_name: *const c_char,
    pub host_version: *const c_char,
    pub host_data: *mut c_void,
    pub log:
        Option<unsafe extern "C" fn(host: *const MidimonHost, level: i32, message: *const c_char)>,
    pub send_midi:
        Option<unsafe extern "C" fn(host: *const MidimonHost, bytes: *const u8, len: usize) -> i32>,
    pub get_extension:
        Option<unsafe extern "C" fn(host: *const MidimonHost, id: *const c_char) -> *const c_void>,
}

#[repr(C)]
pub struct MidimonPlugin {
    pub abi_major: u32,
    pub abi_minor: u32,
    pub struct_size: u32,
    pub capabilities: u32,
    pub name: *const c_char,
    pub version: *const c_char,
    pub description: *const c_char,
    pub plugin_data: *mut c_void,
    pub initialize:
        Option<unsafe extern "C" fn(this: *const MidimonPlugin, host: *const MidimonHost) -> i32>,
    pub execute: Option<
        unsafe extern "C" fn(
            this: *const MidimonPlugin,
            params_json: *const c_char,
            params_len: usize,
            context: *const MidimonTriggerContext,
            message: *mut c_char,
            message_cap: usize,
        ) -> i32,
    >,
    pub shutdown: Option<unsafe extern "C" fn(this: *const MidimonPlugin)>,
    pub destroy: Option<unsafe extern "C" fn(this: *const MidimonPlugin)>,
    pub get_extension: Option<
        unsafe extern "C" fn(this: *const MidimonPlugin, id: *const c_char) -> *const c_void,
    >,
}

// Layout checks against the C header on 64-bit targets: a mismatch is a compile error.
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(size_of::<MidimonTriggerContext>() == 40);
    assert!(offset_of!(MidimonTriggerContext, mode) == 16);
    assert!(size_of::<MidimonHost>() == 64);
    assert!(offset_of!(MidimonHost, log) == 40);
    assert!(size_of::<MidimonPlugin>() == 88);
    assert!(offset_of!(MidimonPlugin, execute) == 56);
};

// ---------------------------------------------------------------------------------------------
// The plugin

const NAME: &str = "{{name}}";

#[repr(transparent)]
struct StaticPlugin(MidimonPlugin);
// SAFETY: never mutated; the raw pointers inside point to 'static data.
unsafe impl Sync for StaticPlugin {}

static PLUGIN: StaticPlugin = StaticPlugin(MidimonPlugin {
    abi_major: MIDIMON_ABI_MAJOR,
    abi_minor: MIDIMON_ABI_MINOR,
    struct_size: size_of::<MidimonPlugin>() as u32,
    capabilities: {{cap_expr}}, // must match [plugin.capabilities] in plugin.toml
    name: c"{{name}}".as_ptr(),
    version: concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char,
    description: c"{{description}}".as_ptr(),
    plugin_data: ptr::null_mut(),
    initialize: Some(plugin_initialize),
    execute: Some(plugin_execute),
    shutdown: None,
    destroy: None,
    get_extension: None,
});

/// The one exported entry point.
#[no_mangle]
pub extern "C" fn _create_plugin() -> *const MidimonPlugin {
    &PLUGIN.0
}

/// Is the member at `offset` (`len` bytes) inside a host-built struct of `size` bytes?
fn has_member(size: u32, offset: usize, len: usize) -> bool {
    offset + len <= size as usize
}

/// Copy `text` into the host's buffer: NUL-terminated, truncated on a char boundary.
unsafe fn write_message(buf: *mut c_char, cap: usize, text: &str) {
    if buf.is_null() || cap == 0 {
        return;
    }
    let mut n = text.len().min(cap - 1);
    while !text.is_char_boundary(n) {
        n -= 1;
    }
    ptr::copy_nonoverlapping(text.as_ptr(), buf as *mut u8, n);
    *buf.add(n) = 0;
}

/// A tiny lookup of a top-level string field `"key": "value"` (enough for this template; use
/// a real JSON parser when the params grow). Simple backslash escapes are undone.
fn json_string_field(json: &str, key: &str) -> Option<String> {
    let pattern = format!("\"{key}\"");
    let mut from = 0;
    while let Some(found) = json[from..].find(&pattern) {
        let after = from + found + pattern.len();
        from = after;
        let rest = json[after..].trim_start();
        let Some(rest) = rest.strip_prefix(':') else { continue };
        let rest = rest.trim_start();
        let rest = rest.strip_prefix('"')?; // present but not a string
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(ch) = chars.next() {
            match ch {
                '"' => return Some(out),
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(other) => out.push(other),
                    None => break,
                },
                other => out.push(other),
            }
        }
        return Some(out);
    }
    None
}

unsafe extern "C" fn plugin_initialize(_this: *const MidimonPlugin, host: *const MidimonHost) -> i32 {
    catch_unwind(|| {
        if host.is_null() || (*host).abi_major != MIDIMON_ABI_MAJOR {
            return MIDIMON_ERR_UNSUPPORTED;
        }
        if has_member((*host).struct_size, offset_of!(MidimonHost, log), size_of::<usize>()) {
            if let Some(log) = (*host).log {
                log(host, MIDIMON_LOG_DEBUG, c"{{name}} initialized".as_ptr());
            }
        }
        MIDIMON_OK
    })
    .unwrap_or(MIDIMON_ERR_FAILED)
}

unsafe extern "C" fn plugin_execute(
    _this: *const MidimonPlugin,
    params_json: *const c_char,
    params_len: usize,
    context: *const MidimonTriggerContext,
    message: *mut c_char,
    message_cap: usize,
) -> i32 {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let params = if params_json.is_null() {
            ""
        } else {
            let bytes = std::slice::from_raw_parts(params_json as *const u8, params_len);
            match std::str::from_utf8(bytes) {
                Ok(text) => text,
                Err(_) => return (MIDIMON_ERR_INVALID_PARAMS, "params are not UTF-8".to_owned()),
            }
        };
        let (mut note, mut velocity, mut mode) = (0u8, 0u8, String::new());
        if !context.is_null() {
            // Members past the host's struct_size read as zero.
            let size = (*context).struct_size;
            type Ctx = MidimonTriggerContext;
            if has_member(size, offset_of!(Ctx, number), 1) {
                note = (*context).number;
            }
            if has_member(size, offset_of!(Ctx, velocity), 1) {
                velocity = (*context).velocity;
            }
            if has_member(size, offset_of!(Ctx, mode), size_of::<usize>())
                && !(*context).mode.is_null()
            {
                mode = CStr::from_ptr((*context).mode).to_string_lossy().into_owned();
            }
        }
        let text = json_string_field(params, "message").unwrap_or_default();
        (
            MIDIMON_OK,
            format!("hello from {NAME}: note {note} velocity {velocity} mode {mode}, message=\"{text}\""),
        )
    }));
    let (status, text) = outcome.unwrap_or_else(|_| (MIDIMON_ERR_FAILED, format!("{NAME}: panic")));
    write_message(message, message_cap, &text);
    status
}
