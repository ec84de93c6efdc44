//! A small, std-only JSON parser and serializer (RFC 8259), just enough for file_log:
//!
//! * objects keep their members in input order, duplicates included, so re-serializing gives
//!   back the same document (minus insignificant whitespace, with escapes normalised);
//! * numbers are kept as their original text, so `1.50`, `1e400` or 20-digit integers
//!   round-trip exactly instead of going through f64;
//! * strings decode every escape, including `\uXXXX` surrogate pairs; a lone surrogate cannot
//!   be represented in UTF-8 and is rejected;
//! * nesting is limited to [`MAX_DEPTH`] so hostile input cannot overflow the stack.
//!
//! Errors carry the byte offset into the input where parsing stopped.

use std::fmt;

/// Deepest nesting of arrays/objects accepted.
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// The number exactly as written in the input (validated against the JSON grammar).
    Number(String),
    String(String),
    Array(Vec<Value>),
    /// Members in input order; duplicate keys are kept.
    Object(Vec<(String, Value)>),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// For an object: the value of the last member named `key` (last wins, as in most parsers).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset into the input where the problem was found.
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

impl std::error::Error for ParseError {}

/// Parse one complete JSON document (surrounding whitespace allowed, nothing else after it).
pub fn parse(input: &[u8]) -> Result<Value, ParseError> {
    if let Err(e) = std::str::from_utf8(input) {
        return Err(ParseError {
            offset: e.valid_up_to(),
            message: "invalid UTF-8".into(),
        });
    }
    let mut p = Parser { s: input, pos: 0 };
    p.skip_ws();
    let v = p.value(0)?;
    p.skip_ws();
    if p.pos != input.len() {
        return Err(p.err("unexpected data after the JSON value"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            offset: self.pos,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect_literal(&mut self, lit: &str, v: Value) -> Result<Value, ParseError> {
        if self.s[self.pos..].starts_with(lit.as_bytes()) {
            self.pos += lit.len();
            Ok(v)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, ParseError> {
        match self.peek() {
            None => Err(self.err("unexpected end of input")),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.expect_literal("true", Value::Bool(true)),
            Some(b'f') => self.expect_literal("false", Value::Bool(false)),
            Some(b'n') => self.expect_literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn check_depth(&self, depth: usize) -> Result<(), ParseError> {
        if depth > MAX_DEPTH {
            Err(self.err(format!("nesting deeper than {MAX_DEPTH} levels")))
        } else {
            Ok(())
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, ParseError> {
        self.check_depth(depth)?;
        self.pos += 1; // '{'
        let mut members = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string object key"));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':' after object key"));
            }
            self.pos += 1;
            self.skip_ws();
            let v = self.value(depth)?;
            members.push((key, v));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(members));
                }
                None => return Err(self.err("unterminated object")),
                Some(_) => return Err(self.err("expected ',' or '}' in object")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, ParseError> {
        self.check_depth(depth)?;
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                None => return Err(self.err("unterminated array")),
                Some(_) => return Err(self.err("expected ',' or ']' in array")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.err("leading zero in number"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err("expected a digit after '.'"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("expected a digit in exponent"));
            }
        }
        // The slice is ASCII by construction.
        let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or_default();
        Ok(Value::Number(text.to_owned()))
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.err("expected 4 hex digits after \\u")),
            };
            v = (v << 4) | u32::from(d);
            self.pos += 1;
        }
        Ok(v)
    }

    /// Parse a string starting at the opening quote. The input is known to be valid UTF-8, so
    /// runs of unescaped bytes (which always end at an ASCII '"' or '\\') are valid UTF-8 too.
    fn string(&mut self) -> Result<String, ParseError> {
        self.pos += 1; // opening '"'
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(std::str::from_utf8(&self.s[run_start..self.pos]).unwrap_or_default());
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let esc_start = self.pos;
                    self.pos += 1;
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                // High surrogate: must be followed by \u + low surrogate.
                                if self.s[self.pos..].starts_with(b"\\u") {
                                    self.pos += 2;
                                    let lo = self.hex4()?;
                                    if !(0xDC00..0xE000).contains(&lo) {
                                        self.pos = esc_start;
                                        return Err(self.err("unpaired surrogate in \\u escape"));
                                    }
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    self.pos = esc_start;
                                    return Err(self.err("unpaired surrogate in \\u escape"));
                                }
                            } else if (0xDC00..0xE000).contains(&hi) {
                                self.pos = esc_start;
                                return Err(self.err("unpaired surrogate in \\u escape"));
                            } else {
                                hi
                            };
                            // Every non-surrogate code point <= 0x10FFFF is a valid char.
                            out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                            continue;
                        }
                        _ => return Err(self.err("invalid escape")),
                    };
                    self.pos += 1;
                    out.push(c);
                }
                Some(_) => return Err(self.err("control character in string")),
            }
        }
    }
}

/// Append `s` as a JSON string literal. Non-ASCII text is written as UTF-8 as-is; `"`, `\` and
/// control characters are escaped.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let mut run_start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            c if (c as u32) < 0x20 => None,
            _ => continue,
        };
        out.push_str(&s[run_start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => out.push_str(&format!("\\u{:04x}", c as u32)),
        }
        run_start = i + c.len_utf8();
    }
    out.push_str(&s[run_start..]);
    out.push('"');
}

/// Append the compact serialization of `v` (no insignificant whitespace).
pub fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(text) => out.push_str(text),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(members) => {
            out.push('{');
            for (i, (k, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

pub fn to_string(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(input: &str) -> String {
        to_string(&parse(input.as_bytes()).expect("parse"))
    }

    #[test]
    fn compact_roundtrip_keeps_order_duplicates_and_number_text() {
        assert_eq!(
            roundtrip(
                r#" { "b" : 1.50 , "a" : [ true, false, null, -0, 1e400, 12345678901234567890 ], "b": {} } "#
            ),
            r#"{"b":1.50,"a":[true,false,null,-0,1e400,12345678901234567890],"b":{}}"#
        );
        assert_eq!(roundtrip("[]"), "[]");
        assert_eq!(roundtrip("\"x\""), "\"x\"");
    }

    #[test]
    fn get_returns_last_duplicate() {
        let v = parse(br#"{"path":"/a","path":"/b"}"#).unwrap();
        assert_eq!(v.get("path"), Some(&Value::String("/b".into())));
        assert_eq!(v.get("nope"), None);
    }

    #[test]
    fn string_escapes_decode_and_reencode() {
        let v = parse(r#""q\" b\\ s\/ \b\f\n\r\t \u0001 \u00e9 \u20AC \ud83c\udfb9 é""#.as_bytes())
            .unwrap();
        assert_eq!(
            v,
            Value::String("q\" b\\ s/ \u{8}\u{c}\n\r\t \u{1} é € 🎹 é".into())
        );
        assert_eq!(
            to_string(&v),
            "\"q\\\" b\\\\ s/ \\b\\f\\n\\r\\t \\u0001 é € 🎹 é\""
        );
        // What we write parses back to the same value.
        assert_eq!(parse(to_string(&v).as_bytes()).unwrap(), v);
    }

    #[test]
    fn lone_surrogates_are_rejected_with_offset() {
        assert_eq!(parse(br#""\ud83c""#).unwrap_err().offset, 1);
        assert_eq!(parse(br#"["ab\udc00"]"#).unwrap_err().offset, 4);
        assert_eq!(parse(br#""\ud83c\u0041""#).unwrap_err().offset, 1);
    }

    #[test]
    fn errors_report_byte_offset() {
        let e = parse(br#"{"a" 1}"#).unwrap_err();
        assert_eq!(e.offset, 5);
        assert!(e.message.contains("':'"));
        assert_eq!(parse(b"{\"a\":1} x").unwrap_err().offset, 8);
        assert_eq!(parse(b"").unwrap_err().offset, 0);
        assert_eq!(parse(b"[1,]").unwrap_err().offset, 3);
        assert_eq!(parse(b"01").unwrap_err().offset, 1);
        assert_eq!(parse(b"1.").unwrap_err().offset, 2);
        assert_eq!(parse(b"1e+").unwrap_err().offset, 3);
        assert_eq!(parse(b"\"a\nb\"").unwrap_err().offset, 2);
        assert_eq!(parse(b"\"abc").unwrap_err().offset, 4);
        assert_eq!(parse(b"tru").unwrap_err().offset, 0);
        assert_eq!(parse(b"\"\\x\"").unwrap_err().offset, 2);
        assert_eq!(parse(b"[\"\xff\"]").unwrap_err().offset, 2);
    }

    #[test]
    fn depth_limit() {
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(ok.as_bytes()).is_ok());
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        let e = parse(deep.as_bytes()).unwrap_err();
        assert_eq!(e.offset, MAX_DEPTH);
        assert!(e.message.contains("nesting"));
        // Far too deep must fail cleanly, not overflow the stack.
        let huge = "{\"a\":".repeat(100_000);
        assert!(parse(huge.as_bytes()).is_err());
    }

    #[test]
    fn control_characters_are_escaped_on_output() {
        let mut s = String::new();
        write_string(&mut s, "\u{0}\u{1f}\u{7f}");
        assert_eq!(s, "\"\\u0000\\u001f\u{7f}\"");
    }
}
