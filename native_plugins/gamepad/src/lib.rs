//! gamepad: a midimon trigger plugin (ABI 1.1) that turns the buttons and axes of one Linux
//! input device (evdev) into events.
//!
//! Settings ([plugins.settings.gamepad] in config.toml, handed to start() as JSON):
//!   device     the device node to read, e.g. "/dev/input/by-id/usb-...-event-joystick"
//!              (required). The sandbox lets the plugin read only what the user granted:
//!              `midimon plugins grant gamepad filesystem --read <that path>`.
//!   dead_zone  axis values within +-dead_zone of 0 read as 0 (default 0); an axis event is
//!              emitted only when the value after the dead zone changes.
//!
//! Events: a button is named after its code (BTN_SOUTH, BTN_START, BTN_DPAD_UP ... or
//! KEY_<code>), value 1 on press and 0 on release (autorepeat is ignored); an axis is named
//! ABS_X, ABS_Y, ABS_RX, ABS_HAT0X ... (or ABS_<code>), valued by its raw position. When the
//! device goes away (unplugged; for a FIFO standing in for it, the writer closed it) the plugin
//! reopens it every 200 ms until it comes back.

use std::ffi::{c_char, c_void, CStr, CString};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::panic::catch_unwind;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::Mutex;
use std::thread::{self, JoinHandle};
use std::time::Duration;

// ---- a #[repr(C)] mirror of the parts of abi/midimon_plugin.h (ABI 1.1) this plugin uses ----

const MIDIMON_ABI_MAJOR: u32 = 1;
const MIDIMON_ABI_MINOR: u32 = 1;
const MIDIMON_CAP_FILESYSTEM: u32 = 2;
const MIDIMON_OK: i32 = 0;
const MIDIMON_ERR_FAILED: i32 = 1;
const MIDIMON_ERR_INVALID_PARAMS: i32 = 2;
const MIDIMON_ERR_DENIED: i32 = 3;
const MIDIMON_ERR_UNSUPPORTED: i32 = 4;
const MIDIMON_LOG_INFO: i32 = 1;
const MIDIMON_LOG_WARN: i32 = 2;
const MIDIMON_LOG_ERROR: i32 = 3;

#[repr(C)]
pub struct MidimonEvent {
    struct_size: u32,
    flags: u32,
    name: *const c_char,
    value: f64,
    number: u8,
    velocity: u8,
    channel: u8,
    reserved0: u8,
    reserved1: u32,
}

type LogFn = unsafe extern "C" fn(*const MidimonHost, i32, *const c_char);
type EmitFn = unsafe extern "C" fn(*const MidimonHost, *const MidimonEvent) -> i32;

#[repr(C)]
pub struct MidimonHost {
    abi_major: u32,
    abi_minor: u32,
    struct_size: u32,
    reserved0: u32,
    host_name: *const c_char,
    host_version: *const c_char,
    host_data: *mut c_void,
    log: Option<LogFn>,
    send_midi: Option<unsafe extern "C" fn(*const MidimonHost, *const u8, usize) -> i32>,
    get_extension: Option<unsafe extern "C" fn(*const MidimonHost, *const c_char) -> *const c_void>,
    emit_event: Option<EmitFn>, // ABI 1.1
}

type InitFn = unsafe extern "C" fn(*const MidimonPlugin, *const MidimonHost) -> i32;
type ExecFn = unsafe extern "C" fn(
    *const MidimonPlugin,
    *const c_char,
    usize,
    *const c_void,
    *mut c_char,
    usize,
) -> i32;
type SelfFn = unsafe extern "C" fn(*const MidimonPlugin);
type ExtFn = unsafe extern "C" fn(*const MidimonPlugin, *const c_char) -> *const c_void;
type StartFn = unsafe extern "C" fn(*const MidimonPlugin, *const c_char, usize) -> i32;

#[repr(C)]
pub struct MidimonPlugin {
    abi_major: u32,
    abi_minor: u32,
    struct_size: u32,
    capabilities: u32,
    name: *const c_char,
    version: *const c_char,
    description: *const c_char,
    plugin_data: *mut c_void,
    initialize: Option<InitFn>,
    execute: Option<ExecFn>,
    shutdown: Option<SelfFn>,
    destroy: Option<SelfFn>,
    get_extension: Option<ExtFn>,
    start: Option<StartFn>, // ABI 1.1
    stop: Option<SelfFn>,   // ABI 1.1
}

// The static plugin struct holds raw pointers to static strings only.
unsafe impl Sync for MidimonPlugin {}

const _: () = assert!(std::mem::size_of::<MidimonEvent>() == 32);
const _: () = assert!(std::mem::size_of::<MidimonHost>() == 72);
const _: () = assert!(std::mem::size_of::<MidimonPlugin>() == 104);

// ---- state ----------------------------------------------------------------------------------

static HOST: AtomicPtr<MidimonHost> = AtomicPtr::new(std::ptr::null_mut());
static RUNNING: AtomicBool = AtomicBool::new(false);
static THREAD: Mutex<Option<JoinHandle<()>>> = Mutex::new(None);

fn host() -> Option<&'static MidimonHost> {
    let ptr = HOST.load(Ordering::Acquire);
    // SAFETY: set in initialize() from the host's pointer, valid until destroy().
    unsafe { ptr.as_ref() }
}

fn log(level: i32, text: &str) {
    if let (Some(h), Ok(line)) = (host(), CString::new(text)) {
        if let Some(f) = h.log {
            // SAFETY: [any-thread] host service; the line lives during the call.
            unsafe { f(h, level, line.as_ptr()) };
        }
    }
}

fn emit(name: &str, value: f64) {
    let Some(h) = host() else { return };
    let Some(f) = h.emit_event else { return };
    let Ok(name) = CString::new(name) else { return };
    let event = MidimonEvent {
        struct_size: std::mem::size_of::<MidimonEvent>() as u32,
        flags: 0,
        name: name.as_ptr(),
        value,
        number: 0,
        velocity: 0,
        channel: 0,
        reserved0: 0,
        reserved1: 0,
    };
    // SAFETY: [any-thread & started]; event and name live during the call.
    unsafe { f(h, &event) };
}

// ---- evdev ----------------------------------------------------------------------------------

const EV_KEY: u16 = 1;
const EV_ABS: u16 = 3;
/// struct input_event on 64-bit Linux: struct timeval (16 bytes), u16 type, u16 code, i32 value.
const RECORD: usize = 24;

fn key_name(code: u16) -> String {
    const BUTTONS: [&str; 15] = [
        "BTN_SOUTH", "BTN_EAST", "BTN_C", "BTN_NORTH", "BTN_WEST", "BTN_Z", "BTN_TL", "BTN_TR",
        "BTN_TL2", "BTN_TR2", "BTN_SELECT", "BTN_START", "BTN_MODE", "BTN_THUMBL", "BTN_THUMBR",
    ];
    const DPAD: [&str; 4] = ["BTN_DPAD_UP", "BTN_DPAD_DOWN", "BTN_DPAD_LEFT", "BTN_DPAD_RIGHT"];
    match code {
        0x130..=0x13e => BUTTONS[(code - 0x130) as usize].to_string(),
        0x220..=0x223 => DPAD[(code - 0x220) as usize].to_string(),
        _ => format!("KEY_{code}"),
    }
}

fn abs_name(code: u16) -> String {
    match code {
        0 => "ABS_X".into(),
        1 => "ABS_Y".into(),
        2 => "ABS_Z".into(),
        3 => "ABS_RX".into(),
        4 => "ABS_RY".into(),
        5 => "ABS_RZ".into(),
        0x10 => "ABS_HAT0X".into(),
        0x11 => "ABS_HAT0Y".into(),
        _ => format!("ABS_{code}"),
    }
}

struct Reader {
    device: String,
    dead_zone: i64,
    axes: std::collections::HashMap<u16, i64>,
}

impl Reader {
    fn handle(&mut self, record: &[u8]) {
        let kind = u16::from_ne_bytes([record[16], record[17]]);
        let code = u16::from_ne_bytes([record[18], record[19]]);
        let value = i32::from_ne_bytes([record[20], record[21], record[22], record[23]]) as i64;
        match kind {
            EV_KEY if value == 0 || value == 1 => emit(&key_name(code), value as f64),
            EV_ABS => {
                let shown = if value.abs() < self.dead_zone { 0 } else { value };
                if self.axes.insert(code, shown) != Some(shown) {
                    emit(&abs_name(code), shown as f64);
                }
            }
            _ => {}
        }
    }

    fn open(&self) -> std::io::Result<File> {
        const O_NONBLOCK: i32 = 0o4000;
        OpenOptions::new().read(true).custom_flags(O_NONBLOCK).open(&self.device)
    }

    /// Read until stop(): records as they come; reopen the device whenever it goes away.
    fn run(mut self, mut file: Option<File>) {
        let mut buf = [0u8; RECORD * 64];
        let mut have = 0usize;
        // Why the device cannot be opened, as last logged: each new reason is logged once
        // (gone, then back but refused, say), not every 200 ms.
        let mut logged: Option<ErrorKind> = None;
        while RUNNING.load(Ordering::Acquire) {
            let Some(f) = file.as_mut() else {
                thread::sleep(Duration::from_millis(200));
                match self.open() {
                    Ok(f) => {
                        if logged.is_some() {
                            log(MIDIMON_LOG_INFO, &format!("gamepad: {} is back", self.device));
                        }
                        logged = None;
                        file = Some(f);
                        have = 0;
                    }
                    Err(err) if logged != Some(err.kind()) => {
                        log(MIDIMON_LOG_WARN, &format!("gamepad: {}: {err}; waiting for it", self.device));
                        logged = Some(err.kind());
                    }
                    Err(_) => {}
                }
                continue;
            };
            match f.read(&mut buf[have..]) {
                Ok(0) => file = None, // unplugged (or a FIFO's writer closed it): reopen
                Ok(n) => {
                    have += n;
                    let whole = have - have % RECORD;
                    for record in buf[..whole].chunks_exact(RECORD) {
                        self.handle(record);
                    }
                    buf.copy_within(whole..have, 0);
                    have -= whole;
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(2))
                }
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(_) => file = None, // ENODEV when unplugged
            }
        }
    }
}

/// A flat JSON object's string or integer member (the settings are that simple).
fn setting(json: &str, key: &str) -> Option<String> {
    let at = json.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = json[at..].trim_start().strip_prefix(':')?.trim_start();
    if let Some(text) = rest.strip_prefix('"') {
        let end = text.find('"')?;
        return Some(text[..end].to_string());
    }
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim().to_string())
}

// ---- the plugin -----------------------------------------------------------------------------

unsafe extern "C" fn gp_initialize(_self: *const MidimonPlugin, host: *const MidimonHost) -> i32 {
    catch_unwind(|| {
        // SAFETY: the host's pointer, valid until destroy().
        let Some(h) = (unsafe { host.as_ref() }) else { return MIDIMON_ERR_UNSUPPORTED };
        let needed = std::mem::size_of::<MidimonHost>() as u32;
        if h.abi_major != MIDIMON_ABI_MAJOR || h.struct_size < needed || h.emit_event.is_none() {
            return MIDIMON_ERR_UNSUPPORTED; // a 1.0 host cannot take events
        }
        HOST.store(host as *mut MidimonHost, Ordering::Release);
        MIDIMON_OK
    })
    .unwrap_or(MIDIMON_ERR_FAILED)
}

unsafe extern "C" fn gp_start(_self: *const MidimonPlugin, json: *const c_char, _len: usize) -> i32 {
    catch_unwind(|| {
        // SAFETY: host-owned NUL-terminated settings, valid during start().
        let json = unsafe { CStr::from_ptr(json) }.to_string_lossy().into_owned();
        let Some(device) = setting(&json, "device").filter(|d| d.starts_with('/')) else {
            log(MIDIMON_LOG_ERROR, "gamepad: set device = \"/dev/input/...\" in [plugins.settings.gamepad]");
            return MIDIMON_ERR_INVALID_PARAMS;
        };
        let dead_zone = match setting(&json, "dead_zone").map(|v| v.parse::<i64>()) {
            None => 0,
            Some(Ok(v)) if v >= 0 => v,
            _ => {
                log(MIDIMON_LOG_ERROR, "gamepad: dead_zone must be a whole number >= 0");
                return MIDIMON_ERR_INVALID_PARAMS;
            }
        };
        let reader = Reader { device, dead_zone, axes: Default::default() };
        let file = match reader.open() {
            Ok(f) => Some(f),
            Err(err) if err.kind() == ErrorKind::PermissionDenied => {
                log(MIDIMON_LOG_ERROR, &format!(
                    "gamepad: {} is not readable here ({err}): grant it with: midimon plugins \
                     grant gamepad filesystem --read {}", reader.device, reader.device));
                return MIDIMON_ERR_DENIED;
            }
            Err(err) => {
                log(MIDIMON_LOG_WARN, &format!("gamepad: {}: {err}; waiting for it", reader.device));
                None
            }
        };
        RUNNING.store(true, Ordering::Release);
        match thread::Builder::new().name("gamepad".into()).spawn(move || reader.run(file)) {
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

unsafe extern "C" fn gp_stop(_self: *const MidimonPlugin) {
    let _ = catch_unwind(|| {
        RUNNING.store(false, Ordering::Release);
        if let Some(handle) = THREAD.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = handle.join(); // no emit_event() after stop() returns
        }
    });
}

static PLUGIN: MidimonPlugin = MidimonPlugin {
    abi_major: MIDIMON_ABI_MAJOR,
    abi_minor: MIDIMON_ABI_MINOR,
    struct_size: std::mem::size_of::<MidimonPlugin>() as u32,
    capabilities: MIDIMON_CAP_FILESYSTEM,
    name: c"gamepad".as_ptr(),
    version: c"1.0.0".as_ptr(),
    description: c"Buttons and axes of one Linux input device (evdev) as trigger events".as_ptr(),
    plugin_data: std::ptr::null_mut(),
    initialize: Some(gp_initialize),
    execute: None, // a trigger plugin runs no actions
    shutdown: None,
    destroy: None,
    get_extension: None,
    start: Some(gp_start),
    stop: Some(gp_stop),
};

#[no_mangle]
pub extern "C" fn _create_plugin() -> *const MidimonPlugin {
    &PLUGIN
}
