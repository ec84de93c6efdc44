//! file_log: a midimon action plugin (ABI 1.0) that appends one JSON line per trigger to a file.
//!
//! params (a JSON object): `path` (required, absolute file path) plus any other fields. Each
//! execute() appends exactly one line
//!
//! ```text
//! {"params":<params, re-serialized>,"context":{"velocity":..,"channel":..,"note":..,"value":..,
//!  "trigger_kind":..,"mode":"..","timestamp_ns":..,"wall_time_ms":..}}\n
//! ```
//!
//! The file is opened with O_APPEND|O_CREAT and the whole line goes out in one write() call, so
//! concurrent writers (several mappings, several processes) never interleave within a line.
//!
//! Panics: every `extern "C"` entry point runs inside `catch_unwind` (see Cargo.toml), so no
//! unwind crosses the C boundary; a panic becomes MIDIMON_ERR_FAILED.

mod abi;
pub mod json;

use std::ffi::{CStr, CString};
use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::mem::{offset_of, size_of};
use std::os::raw::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use abi::*;
use json::Value;

const NAME: &str = "file_log";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The plugin struct is immutable static data; only pointers to 'static strings and functions.
#[repr(transparent)]
struct StaticPlugin(MidimonPlugin);
// SAFETY: never mutated after compile time; the raw pointers inside point to 'static data.
unsafe impl Sync for StaticPlugin {}

static PLUGIN: StaticPlugin = StaticPlugin(MidimonPlugin {
    abi_major: MIDIMON_ABI_MAJOR,
    abi_minor: MIDIMON_ABI_MINOR,
    struct_size: size_of::<MidimonPlugin>() as u32,
    capabilities: MIDIMON_CAP_FILESYSTEM,
    name: c"file_log".as_ptr(),
    version: concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char,
    description: c"Append one JSON line per trigger to a file".as_ptr(),
    plugin_data: ptr::null_mut(),
    initialize: Some(plugin_initialize),
    execute: Some(plugin_execute),
    shutdown: Some(plugin_shutdown),
    destroy: Some(plugin_destroy),
    get_extension: Some(plugin_get_extension),
});

/// The host handed to initialize(); valid until destroy() returns.
static HOST: AtomicPtr<MidimonHost> = AtomicPtr::new(ptr::null_mut());

/// The one exported entry point.
#[no_mangle]
pub extern "C" fn _create_plugin() -> *const MidimonPlugin {
    &PLUGIN.0
}

// ---------------------------------------------------------------------------------------------
// Host services

/// Does a host-built struct of `struct_size` bytes contain the member at `offset`..+`len`?
fn has_member(struct_size: u32, offset: usize, len: usize) -> bool {
    offset + len <= struct_size as usize
}

fn host_log(level: i32, message: &str) {
    let host = HOST.load(Ordering::Acquire);
    if host.is_null() {
        return;
    }
    // SAFETY: the host pointer stays valid until destroy(); we read `log` only if the host's
    // struct_size says it is there.
    unsafe {
        let size = (*host).struct_size;
        if !has_member(size, offset_of!(MidimonHost, log), size_of::<usize>()) {
            return;
        }
        if let Some(log) = (*host).log {
            let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
            log(host, level, text.as_ptr());
        }
    }
}

/// Copy `text` into the host's message buffer: NUL-terminated, truncated to `cap` bytes
/// without splitting a UTF-8 sequence.
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

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// The trigger context, copied out of the host struct

#[derive(Debug, Default, Clone)]
pub struct Context {
    pub velocity: u8,
    pub channel: u8,
    pub note: u8,
    pub value: i32,
    pub trigger_kind: u32,
    pub mode: String,
    pub timestamp_ns: u64,
    pub wall_time_ms: i64,
}

/// Copy the context, reading members past the host's struct_size as zero.
unsafe fn read_context(p: *const MidimonTriggerContext) -> Context {
    let mut c = Context::default();
    if p.is_null() {
        return c;
    }
    let size = ptr::addr_of!((*p).struct_size).read();
    macro_rules! member {
        ($field:ident) => {
            if has_member(
                size,
                offset_of!(MidimonTriggerContext, $field),
                size_of_val(&ptr::addr_of!((*p).$field).read()),
            ) {
                Some(ptr::addr_of!((*p).$field).read())
            } else {
                None
            }
        };
    }
    c.velocity = member!(velocity).unwrap_or(0);
    c.channel = member!(channel).unwrap_or(0);
    c.note = member!(number).unwrap_or(0);
    c.value = member!(value).unwrap_or(0);
    c.trigger_kind = member!(trigger_kind).unwrap_or(0);
    if let Some(mode) = member!(mode) {
        if !mode.is_null() {
            c.mode = CStr::from_ptr(mode).to_string_lossy().into_owned();
        }
    }
    c.timestamp_ns = member!(timestamp_ns).unwrap_or(0);
    c.wall_time_ms = member!(wall_time_ms).unwrap_or(0);
    c
}

// ---------------------------------------------------------------------------------------------
// The action itself (safe Rust; the extern fns below only marshal)

/// An error for the host: (MIDIMON_ERR_*, message).
pub type Failure = (i32, String);

fn invalid(msg: impl Into<String>) -> Failure {
    (MIDIMON_ERR_INVALID_PARAMS, msg.into())
}

/// Build the line to append (including the trailing '\n') and the target path.
pub fn build_line(params_json: &[u8], ctx: &Context) -> Result<(String, String), Failure> {
    let params = json::parse(params_json).map_err(|e| {
        invalid(format!(
            "invalid params JSON at byte {}: {}",
            e.offset, e.message
        ))
    })?;
    if !matches!(params, Value::Object(_)) {
        return Err(invalid(format!(
            "params must be a JSON object, got {}",
            params.type_name()
        )));
    }
    let path = match params.get("path") {
        None => {
            return Err(invalid(
                "missing required field `path` (an absolute file path)",
            ))
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(invalid(format!(
                "field `path` must be a string (an absolute file path), got {}",
                other.type_name()
            )))
        }
    };
    if path.contains('\0') {
        return Err(invalid("field `path` must not contain NUL characters"));
    }
    if !Path::new(&path).is_absolute() {
        let mut quoted = String::new();
        json::write_string(&mut quoted, &path);
        return Err(invalid(format!(
            "field `path` must be an absolute path, got {quoted}"
        )));
    }

    let mut line = String::with_capacity(params_json.len() + 256);
    line.push_str("{\"params\":");
    json::write_value(&mut line, &params);
    line.push_str(&format!(
        ",\"context\":{{\"velocity\":{},\"channel\":{},\"note\":{},\"value\":{},\"trigger_kind\":{},\"mode\":",
        ctx.velocity, ctx.channel, ctx.note, ctx.value, ctx.trigger_kind
    ));
    json::write_string(&mut line, &ctx.mode);
    line.push_str(&format!(
        ",\"timestamp_ns\":{},\"wall_time_ms\":{}}}}}\n",
        ctx.timestamp_ns, ctx.wall_time_ms
    ));
    Ok((line, path))
}

/// Append `line` to `path` with a single write() on an O_APPEND descriptor.
fn append_line(path: &str, line: &str) -> Result<(), Failure> {
    let failed =
        |what: &str, e: std::io::Error| (MIDIMON_ERR_FAILED, format!("{what} {path}: {e}"));
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| failed("cannot open", e))?;
    let bytes = line.as_bytes();
    let written = loop {
        match file.write(bytes) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            r => break r.map_err(|e| failed("cannot append to", e))?,
        }
    };
    if written != bytes.len() {
        return Err((
            MIDIMON_ERR_FAILED,
            format!(
                "short write to {path}: {written} of {} bytes (disk full?)",
                bytes.len()
            ),
        ));
    }
    Ok(())
}

pub fn run(params_json: &[u8], ctx: &Context) -> Result<String, Failure> {
    let (line, path) = build_line(params_json, ctx)?;
    append_line(&path, &line)?;
    Ok(format!("appended {} bytes to {}", line.len(), path))
}

// ---------------------------------------------------------------------------------------------
// ABI entry points

unsafe extern "C" fn plugin_initialize(
    _this: *const MidimonPlugin,
    host: *const MidimonHost,
) -> i32 {
    catch_unwind(AssertUnwindSafe(|| {
        if host.is_null() {
            return MIDIMON_ERR_FAILED;
        }
        // SAFETY: the host guarantees `host` is valid until destroy().
        let (major, minor, size) = unsafe { ((*host).abi_major, (*host).abi_minor, (*host).struct_size) };
        if major != MIDIMON_ABI_MAJOR {
            return MIDIMON_ERR_UNSUPPORTED;
        }
        HOST.store(host as *mut MidimonHost, Ordering::Release);
        let read_str = |off: usize, p: *const c_char| -> String {
            if has_member(size, off, size_of::<usize>()) && !p.is_null() {
                // SAFETY: static NUL-terminated host strings.
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            } else {
                "?".to_owned()
            }
        };
        // SAFETY: reading pointer members of a valid host struct (guarded by struct_size above).
        let (name_p, version_p) = unsafe { ((*host).host_name, (*host).host_version) };
        let host_name = read_str(offset_of!(MidimonHost, host_name), name_p);
        let host_version = read_str(offset_of!(MidimonHost, host_version), version_p);
        host_log(
            MIDIMON_LOG_DEBUG,
            &format!(
                "{NAME} {VERSION} initialized (host {host_name} {host_version}, ABI {major}.{minor})"
            ),
        );
        MIDIMON_OK
    }))
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
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the host owns these for the duration of the call.
        let params: &[u8] = if params_json.is_null() {
            b""
        } else {
            unsafe { std::slice::from_raw_parts(params_json as *const u8, params_len) }
        };
        let ctx = unsafe { read_context(context) };
        run(params, &ctx)
    }));
    let (status, text) = match result {
        Ok(Ok(msg)) => (MIDIMON_OK, msg),
        Ok(Err(failure)) => failure,
        Err(payload) => (
            MIDIMON_ERR_FAILED,
            format!("{NAME}: internal error: {}", panic_text(&*payload)),
        ),
    };
    write_message(message, message_cap, &text);
    status
}

unsafe extern "C" fn plugin_shutdown(_this: *const MidimonPlugin) {
    // Nothing to stop: every execute() opens and closes its own file.
}

unsafe extern "C" fn plugin_destroy(_this: *const MidimonPlugin) {
    // The plugin struct is static; just forget the host.
    HOST.store(ptr::null_mut(), Ordering::Release);
}

unsafe extern "C" fn plugin_get_extension(
    _this: *const MidimonPlugin,
    _id: *const c_char,
) -> *const c_void {
    ptr::null()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            velocity: 100,
            channel: 2,
            note: 36,
            value: -5,
            trigger_kind: MIDIMON_TRIGGER_NOTE,
            mode: "Default \"x\"".into(),
            timestamp_ns: 123,
            wall_time_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn line_layout() {
        let (line, path) = build_line(br#" {"path": "/tmp/x.log", "n": 1.0} "#, &ctx()).unwrap();
        assert_eq!(path, "/tmp/x.log");
        assert_eq!(
            line,
            "{\"params\":{\"path\":\"/tmp/x.log\",\"n\":1.0},\"context\":{\"velocity\":100,\"channel\":2,\
             \"note\":36,\"value\":-5,\"trigger_kind\":1,\"mode\":\"Default \\\"x\\\"\",\
             \"timestamp_ns\":123,\"wall_time_ms\":1700000000000}}\n"
        );
        assert!(json::parse(line.trim_end().as_bytes()).is_ok());
    }

    #[test]
    fn path_errors_name_the_field() {
        for params in [
            &b"{}"[..],
            br#"{"path": "rel.log"}"#,
            br#"{"path": 3}"#,
            br#"{"path": ""}"#,
        ] {
            let (status, msg) = build_line(params, &ctx()).unwrap_err();
            assert_eq!(status, MIDIMON_ERR_INVALID_PARAMS);
            assert!(msg.contains("`path`"), "{msg}");
        }
        let (status, msg) = build_line(b"[1]", &ctx()).unwrap_err();
        assert_eq!(status, MIDIMON_ERR_INVALID_PARAMS);
        assert!(msg.contains("object"), "{msg}");
        let (status, msg) = build_line(b"{\"path\" \"/x\"}", &ctx()).unwrap_err();
        assert_eq!(status, MIDIMON_ERR_INVALID_PARAMS);
        assert!(msg.contains("at byte 8"), "{msg}");
    }

    #[test]
    fn message_truncation_keeps_utf8_whole() {
        let mut buf = [0x55u8; 8];
        unsafe { write_message(buf.as_mut_ptr() as *mut c_char, 6, "abcd€") };
        // "abcd" + NUL: the 3-byte euro sign does not fit in the 1 byte left.
        assert_eq!(&buf[..6], b"abcd\0\x55");
        unsafe { write_message(buf.as_mut_ptr() as *mut c_char, 1, "xyz") };
        assert_eq!(buf[0], 0);
    }
}
