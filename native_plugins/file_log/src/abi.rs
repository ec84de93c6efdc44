//! `#[repr(C)]` mirror of abi/midimon_plugin.h, ABI v1.0.
//!
//! This file mirrors abi/midimon_plugin.h v1.0 by hand: every struct, in member order, and every
//! constant. When the header gains members (a new abi_minor), append them here in the same order
//! and bump the size asserts at the bottom. Function pointers are `Option<unsafe extern "C" fn>`,
//! which has the same layout as a nullable C function pointer.

#![allow(dead_code)]

use core::ffi::{c_char, c_void};

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
pub const MIDIMON_ERR_DENIED: i32 = 3;
pub const MIDIMON_ERR_UNSUPPORTED: i32 = 4;
pub const MIDIMON_ERR_TIMEOUT: i32 = 5;

pub const MIDIMON_LOG_DEBUG: i32 = 0;
pub const MIDIMON_LOG_INFO: i32 = 1;
pub const MIDIMON_LOG_WARN: i32 = 2;
pub const MIDIMON_LOG_ERROR: i32 = 3;

pub const MIDIMON_TRIGGER_MANUAL: u32 = 0;
pub const MIDIMON_TRIGGER_NOTE: u32 = 1;
pub const MIDIMON_TRIGGER_VELOCITY_RANGE: u32 = 2;
pub const MIDIMON_TRIGGER_LONG_PRESS: u32 = 3;
pub const MIDIMON_TRIGGER_DOUBLE_TAP: u32 = 4;
pub const MIDIMON_TRIGGER_CHORD: u32 = 5;
pub const MIDIMON_TRIGGER_CC: u32 = 6;
pub const MIDIMON_TRIGGER_ENCODER: u32 = 7;
pub const MIDIMON_TRIGGER_AFTERTOUCH: u32 = 8;
pub const MIDIMON_TRIGGER_PITCH_BEND: u32 = 9;

/// `struct midimon_trigger_context`: the event that fired an action (host-owned, valid only
/// during execute()). Members at or past `struct_size` must be read as zero.
#[repr(C)]
#[derive(Debug)]
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

/// `struct midimon_host`: services the host offers (host-owned, valid until destroy()).
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

/// `struct midimon_plugin`: what `_create_plugin` returns (plugin-owned).
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

/// `midimon_create_plugin_fn`.
pub type MidimonCreatePluginFn = unsafe extern "C" fn() -> *const MidimonPlugin;

// Layout checks against the C header on 64-bit targets (LP64 and LLP64 agree here: every member
// is a fixed-width integer or a pointer). A mismatch is a compile error, not a runtime crash.
#[cfg(target_pointer_width = "64")]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<MidimonTriggerContext>() == 40);
    assert!(align_of::<MidimonTriggerContext>() == 8);
    assert!(offset_of!(MidimonTriggerContext, velocity) == 4);
    assert!(offset_of!(MidimonTriggerContext, value) == 8);
    assert!(offset_of!(MidimonTriggerContext, trigger_kind) == 12);
    assert!(offset_of!(MidimonTriggerContext, mode) == 16);
    assert!(offset_of!(MidimonTriggerContext, timestamp_ns) == 24);
    assert!(offset_of!(MidimonTriggerContext, wall_time_ms) == 32);

    assert!(size_of::<MidimonHost>() == 64);
    assert!(offset_of!(MidimonHost, host_name) == 16);
    assert!(offset_of!(MidimonHost, log) == 40);
    assert!(offset_of!(MidimonHost, send_midi) == 48);
    assert!(offset_of!(MidimonHost, get_extension) == 56);

    assert!(size_of::<MidimonPlugin>() == 88);
    assert!(offset_of!(MidimonPlugin, name) == 16);
    assert!(offset_of!(MidimonPlugin, plugin_data) == 40);
    assert!(offset_of!(MidimonPlugin, initialize) == 48);
    assert!(offset_of!(MidimonPlugin, execute) == 56);
    assert!(offset_of!(MidimonPlugin, shutdown) == 64);
    assert!(offset_of!(MidimonPlugin, destroy) == 72);
    assert!(offset_of!(MidimonPlugin, get_extension) == 80);
};
