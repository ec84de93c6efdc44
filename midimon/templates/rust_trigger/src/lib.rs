//! {{name}}: a midimon trigger plugin (ABI 1.1), scaffolded by `midimon new-plugin --type trigger`.
//!
//! Between start() and stop() a thread of its own emits the event "/tick" every `interval_ms`
//! milliseconds (a setting, default 1000), valued 1, 2, 3 ... Replace the thread's body with
//! what your plugin listens to (a socket, a device) and emit one event per thing that happened.
//! Settings come from config.toml's [plugins.settings.{{name}}], as a JSON object, in start().
//!
//! Panics: every `extern "C"` entry point runs inside `catch_unwind` (see Cargo.toml), so no
//! unwind crosses the C boundary; a panic becomes MIDIMON_ERR_FAILED.

#![allow(dead_code)]

use std::ffi::{CStr, CString};
use std::mem::{offset_of, size_of};
use std::os::raw::{c_char, c_void};
use std::panic::catch_unwind;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::Mutex;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// A minimal #[repr(C)] mirror of midimon_plugin.h (ABI 1.1). Members only ever get appended.

pub const MIDIMON_ABI_MAJOR: u32 = 1;
pub const MIDIMON_ABI_MINOR: u32 = 1;

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
pub const MIDIMON_LOG_ERROR: i32 = 3;

pub const MIDIMON_EVENT_HAS_NUMBER: u32 = 1;
pub const MIDIMON_EVENT_HAS_VELOCITY: u32 = 2;
pub const MIDIMON_EVENT_HAS_CHANNEL: u32 = 4;

/// One event (midimon_event_t), owned by the plugin; the host copies it during emit_event().
#[repr(C)]
pub struct MidimonEvent {
    pub struct_size: u32,
    pub flags: u32,
    pub name: *const c_char,
    pub value: f64,
    pub number: u8,
    pub velocity: u8,
    pub channel: u8,
    pub reserved0: u8,
    pub reserved1: u32,
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
    // ABI 1.1: present when struct_size reaches past it.
    pub emit_event:
        Option<unsafe extern "C" fn(host: *const MidimonHost, event: *const MidimonEvent) -> i32>,
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
            context: *const c_void,
            message: *mut c_char,
            message_cap: usize,
        ) -> i32,
    >,
    pub shutdown: Option<unsafe extern "C" fn(this: *const MidimonPlugin)>,
    pub destroy: Option<unsafe extern "C" fn(this: *const MidimonPlugin)>,
    pub get_extension: Option<
        unsafe extern "C" fn(this: *const MidimonPlugin, id: *const c_char) -> *const c_void,
    >,
    // ABI 1.1
    pub start: Option<
        unsafe extern "C" fn(this: *const MidimonPlugin, settings: *const c_char, len: usize) -> i32,
    >,
    pub stop: Option<unsafe extern "C" fn(this: *const MidimonPlugin)>,
}

// Layout checks against the C header on 64-bit targets: a mismatch is a compile error.
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(size_of::<MidimonEvent>() == 32);
    assert!(offset_of!(MidimonEvent, value) == 16);
    assert!(size_of::<MidimonHost>() == 72);
    assert!(offset_of!(MidimonHost, emit_event) == 64);
    assert!(size_of::<MidimonPlugin>() == 104);
    assert!(offset_of!(MidimonPlugin, start) == 88);
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
    execute: None, // a trigger plugin runs no actions
    shutdown: None,
    destroy: None, // everything is static
    get_extension: None,
    start: Some(plugin_start),
    stop: Some(plugin_stop),
});

/// The one exported entry point.
#[no_mangle]
pub extern "C" fn _create_plugin() -> *const MidimonPlugin {
    &PLUGIN.0
}

static HOST: AtomicPtr<MidimonHost> = AtomicPtr::new(ptr::null_mut());
static RUNNING: AtomicBool = AtomicBool::new(false);
static THREAD: Mutex<Option<JoinHandle<()>>> = Mutex::new(None);

fn host() -> Option<&'static MidimonHost> {
    // SAFETY: set in initialize() from the host's pointer, valid until destroy().
    unsafe { HOST.load(Ordering::Acquire).as_ref() }
}

fn log(level: i32, text: &str) {
    if let (Some(h), Ok(line)) = (host(), CString::new(text)) {
        if let Some(f) = h.log {
            // SAFETY: [any-thread] host service; the line lives during the call.
            unsafe { f(h, level, line.as_ptr()) };
        }
    }
}

/// Hand one event to the host. [any-thread & started]: fine from the ticker thread.
fn emit(name: &CStr, value: f64) -> i32 {
    let Some(f) = host().and_then(|h| h.emit_event) else { return MIDIMON_ERR_UNSUPPORTED };
    let event = MidimonEvent {
        struct_size: size_of::<MidimonEvent>() as u32,
        flags: 0, // set MIDIMON_EVENT_HAS_* for number, velocity or channel
        name: name.as_ptr(),
        value,
        number: 0,
        velocity: 0,
        channel: 0,
        reserved0: 0,
        reserved1: 0,
    };
    // SAFETY: the event and its name live during the call; the host copies them.
    unsafe { f(HOST.load(Ordering::Acquire), &event) }
}

/// The thread between start() and stop(): one "/tick" every `interval`.
fn ticker(interval: Duration) {
    let mut count = 0.0;
    let mut next = Instant::now() + interval;
    while RUNNING.load(Ordering::Acquire) {
        // Sleep in short steps so that stop() never waits a whole interval.
        let now = Instant::now();
        if now < next {
            thread::sleep((next - now).min(Duration::from_millis(50)));
            continue;
        }
        next += interval;
        count += 1.0;
        emit(c"/tick", count);
    }
}

/// A flat JSON object's integer member `"key": 123` (enough for these settings; use a real
/// JSON parser when they grow). None when absent; Some(Err) when present but not an integer.
fn int_setting(json: &str, key: &str) -> Option<Result<i64, ()>> {
    let at = json.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = json[at..].trim_start().strip_prefix(':').map(str::trim_start);
    let Some(rest) = rest else { return Some(Err(())) };
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim().parse::<i64>().map_err(|_| ()))
}

unsafe extern "C" fn plugin_initialize(_this: *const MidimonPlugin, host: *const MidimonHost) -> i32 {
    catch_unwind(|| {
        if host.is_null() || (*host).abi_major != MIDIMON_ABI_MAJOR {
            return MIDIMON_ERR_UNSUPPORTED;
        }
        // emit_event came with ABI 1.1: a 1.0 host cannot take events.
        let needed = (offset_of!(MidimonHost, emit_event) + size_of::<usize>()) as u32;
        if (*host).struct_size < needed || (*host).emit_event.is_none() {
            return MIDIMON_ERR_UNSUPPORTED;
        }
        HOST.store(host as *mut MidimonHost, Ordering::Release);
        log(MIDIMON_LOG_DEBUG, &format!("{NAME} initialized"));
        MIDIMON_OK
    })
    .unwrap_or(MIDIMON_ERR_FAILED)
}

unsafe extern "C" fn plugin_start(_this: *const MidimonPlugin, json: *const c_char, len: usize) -> i32 {
    catch_unwind(|| {
        let settings = if json.is_null() {
            String::new()
        } else {
            // SAFETY: host-owned settings, `len` bytes, valid during start(): copied here.
            let bytes = std::slice::from_raw_parts(json as *const u8, len);
            String::from_utf8_lossy(bytes).into_owned()
        };
        let interval_ms = match int_setting(&settings, "interval_ms") {
            None => 1000,
            Some(Ok(ms)) if (1..=3_600_000).contains(&ms) => ms as u64,
            Some(_) => {
                log(MIDIMON_LOG_ERROR, &format!("{NAME}: interval_ms must be 1..3600000"));
                return MIDIMON_ERR_INVALID_PARAMS;
            }
        };
        RUNNING.store(true, Ordering::Release);
        let interval = Duration::from_millis(interval_ms);
        match thread::Builder::new().name(NAME.into()).spawn(move || ticker(interval)) {
            Ok(handle) => {
                *THREAD.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
                MIDIMON_OK
            }
            Err(_) => {
                RUNNING.store(false, Ordering::Release);
                MIDIMON_ERR_FAILED
            }
        }
    })
    .unwrap_or(MIDIMON_ERR_FAILED)
}

unsafe extern "C" fn plugin_stop(_this: *const MidimonPlugin) {
    let _ = catch_unwind(|| {
        RUNNING.store(false, Ordering::Release);
        if let Some(handle) = THREAD.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = handle.join(); // no emit_event() after stop() returns
        }
    });
}
