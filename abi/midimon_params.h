/*
 * midimon_params.h - read the params JSON object a plugin's execute() receives.
 *
 * Header-only, C99 (also C11 and C++11), no dependencies beyond the C standard library, no
 * allocation, no global state. Usable from Zig through `zig translate-c` (no goto, no
 * recursion). Companion to midimon_plugin.h; include it where you need it:
 *
 *     #include "midimon_params.h"
 *
 *     char text[128];
 *     int64_t count = 1;
 *     int rc = midimon_params_string(params_json, params_len, "message", text, sizeof text);
 *     if (rc == MIDIMON_PARAMS_WRONG_TYPE || rc == MIDIMON_PARAMS_INVALID) ...
 *     if (midimon_params_int(params_json, params_len, "count", &count) < 0) ...
 *
 * What each lookup does
 * ---------------------
 * Every function reads the first `len` bytes of `json` (no NUL terminator needed; nothing past
 * `len` is read) as one JSON object (RFC 8259, UTF-8), checks the whole object, and looks the
 * key up among its TOP-LEVEL members only. Nested objects and arrays are checked and skipped;
 * a key inside them is never found. The result:
 *   MIDIMON_PARAMS_FOUND       the key is there with a value of the asked type; *out is set.
 *   MIDIMON_PARAMS_MISSING     the object is valid and has no member with that key.
 *   MIDIMON_PARAMS_WRONG_TYPE  the key is there but its value is another type (null counts as
 *                              another type), or it does not fit the C type (see each function).
 *   MIDIMON_PARAMS_INVALID     `json` is not one valid JSON object: a syntax error, truncated
 *                              text, bytes that are not UTF-8, a raw control character in a
 *                              string, a bad escape, trailing text after the object, NaN or
 *                              Infinity, or containers nested deeper than
 *                              MIDIMON_PARAMS_MAX_DEPTH (64, the params object itself counting
 *                              as 1). Checked before the key, so the answer does not depend on
 *                              where the error is.
 * FOUND is the only positive result; `rc < 0` means "there, but not usable".
 *
 * Duplicate keys: the LAST member with the key wins (as in Python's json, JavaScript and most
 * parsers), and it alone decides the result (type included).
 * Keys are compared after unescaping, byte for byte: {"\u0061": 1} has the key "a".
 * Cost: one pass over the whole object per call, O(len), constant stack.
 *
 * Threads and ownership (every function): callable from any thread, reentrant, no global or
 * static state. `json` and `key` are the caller's and only read during the call; `out` is owned
 * by the caller and written only during the call. No pointer is kept or returned.
 */
#ifndef MIDIMON_PARAMS_H
#define MIDIMON_PARAMS_H

#include <float.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Return values */
#define MIDIMON_PARAMS_FOUND 1
#define MIDIMON_PARAMS_MISSING 0
#define MIDIMON_PARAMS_WRONG_TYPE (-1)
#define MIDIMON_PARAMS_INVALID (-2) /* params are not a valid JSON object */

/* Deepest nesting accepted, the params object itself counting as 1: {"a": [[1]]} has depth 3. */
#define MIDIMON_PARAMS_MAX_DEPTH 64

/* ---- internals (names with a double underscore are not part of the API) ------------------ */

/* Skip JSON whitespace from *pos. */
static inline void midimon_params__ws(const unsigned char *s, size_t len, size_t *pos) {
    while (*pos < len && (s[*pos] == ' ' || s[*pos] == '\t' || s[*pos] == '\n' || s[*pos] == '\r'))
        (*pos)++;
}

/* Value of one hex digit, or -1. */
static inline int midimon_params__hex(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Read `\uXXXX` at s[*pos] (the backslash). Returns the 16-bit unit, or -1 when malformed. */
static inline long midimon_params__u16(const unsigned char *s, size_t len, size_t pos) {
    long v = 0;
    size_t i;
    if (len - pos < 6 || s[pos] != '\\' || s[pos + 1] != 'u') return -1;
    for (i = 2; i < 6; i++) {
        int h = midimon_params__hex(s[pos + i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/*
 * The next character of a string whose opening quote is before *pos. Returns 1 with the code
 * point in *cp, 0 at the closing quote (consumed), -1 when the string is malformed: a raw control
 * character, a bad escape, bytes that are not UTF-8, or the end of the input. A lone UTF-16
 * surrogate from a \u escape reads as U+FFFD.
 */
static inline int midimon_params__next(const unsigned char *s, size_t len, size_t *pos,
                                       uint32_t *cp) {
    size_t p = *pos;
    unsigned char c;
    if (p >= len) return -1;
    c = s[p];
    if (c == '"') {
        *pos = p + 1;
        return 0;
    }
    if (c < 0x20) return -1;
    if (c == '\\') {
        if (len - p < 2) return -1;
        c = s[p + 1];
        *pos = p + 2;
        if (c == '"' || c == '\\' || c == '/') *cp = c;
        else if (c == 'b') *cp = 0x08;
        else if (c == 'f') *cp = 0x0C;
        else if (c == 'n') *cp = 0x0A;
        else if (c == 'r') *cp = 0x0D;
        else if (c == 't') *cp = 0x09;
        else if (c == 'u') {
            long hi = midimon_params__u16(s, len, p);
            if (hi < 0) return -1;
            *pos = p + 6;
            *cp = (uint32_t)hi;
            if (hi >= 0xD800 && hi <= 0xDBFF) {
                long lo = midimon_params__u16(s, len, p + 6);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    *cp = 0x10000u + (((uint32_t)hi - 0xD800u) << 10) + ((uint32_t)lo - 0xDC00u);
                    *pos = p + 12;
                } else {
                    *cp = 0xFFFD; /* lone high surrogate; what follows is read on its own */
                }
            } else if (hi >= 0xDC00 && hi <= 0xDFFF) {
                *cp = 0xFFFD; /* lone low surrogate */
            }
        } else {
            return -1;
        }
        return 1;
    }
    if (c < 0x80) {
        *cp = c;
        *pos = p + 1;
        return 1;
    }
    {
        /* A UTF-8 sequence: no overlong forms, no surrogates, nothing above U+10FFFF. */
        size_t n, i;
        uint32_t v, min;
        if (c >= 0xC2 && c <= 0xDF) { n = 2; v = c & 0x1Fu; min = 0x80; }
        else if (c >= 0xE0 && c <= 0xEF) { n = 3; v = c & 0x0Fu; min = 0x800; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 4; v = c & 0x07u; min = 0x10000; }
        else return -1;
        if (len - p < n) return -1;
        for (i = 1; i < n; i++) {
            if ((s[p + i] & 0xC0) != 0x80) return -1;
            v = (v << 6) | (s[p + i] & 0x3Fu);
        }
        if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return -1;
        *cp = v;
        *pos = p + n;
        return 1;
    }
}

/* UTF-8 encoding of cp into b (4 bytes); returns its length. */
static inline size_t midimon_params__utf8(uint32_t cp, unsigned char *b) {
    if (cp < 0x80) { b[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (unsigned char)(0xF0 | (cp >> 18));
    b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Check a string at s[*pos] (the opening quote) and move past it. With `key` non-NULL, *matched
 * says whether its unescaped bytes equal the NUL-terminated key. Returns 0, or -1 if malformed. */
static inline int midimon_params__string(const unsigned char *s, size_t len, size_t *pos,
                                         const char *key, int *matched) {
    const unsigned char *k = (const unsigned char *)key;
    int same = key != NULL;
    uint32_t cp = 0;
    int r;
    (*pos)++;
    while ((r = midimon_params__next(s, len, pos, &cp)) == 1) {
        if (same) {
            unsigned char b[4];
            size_t n = midimon_params__utf8(cp, b), i;
            for (i = 0; i < n && same; i++) {
                if (*k == 0 || *k != b[i]) same = 0;
                else k++;
            }
        }
    }
    if (r < 0) return -1;
    if (matched != NULL) *matched = same && *k == 0;
    return 0;
}

/* Check a number at s[*pos] (RFC 8259 grammar) and move past it. Returns 0, or -1. */
static inline int midimon_params__number(const unsigned char *s, size_t len, size_t *pos) {
    size_t p = *pos, d;
    if (p < len && s[p] == '-') p++;
    if (p >= len || s[p] < '0' || s[p] > '9') return -1;
    if (s[p] == '0') p++;
    else while (p < len && s[p] >= '0' && s[p] <= '9') p++;
    if (p < len && s[p] == '.') {
        p++;
        d = p;
        while (p < len && s[p] >= '0' && s[p] <= '9') p++;
        if (p == d) return -1;
    }
    if (p < len && (s[p] == 'e' || s[p] == 'E')) {
        p++;
        if (p < len && (s[p] == '+' || s[p] == '-')) p++;
        d = p;
        while (p < len && s[p] >= '0' && s[p] <= '9') p++;
        if (p == d) return -1;
    }
    *pos = p;
    return 0;
}

/* Check the literal `word` (true, false, null) at s[*pos] and move past it. Returns 0, or -1. */
static inline int midimon_params__literal(const unsigned char *s, size_t len, size_t *pos,
                                          const char *word) {
    size_t p = *pos;
    while (*word != 0) {
        if (p >= len || s[p] != (unsigned char)*word) return -1;
        p++;
        word++;
    }
    *pos = p;
    return 0;
}

/* Read a member's `"name" :` at s[*pos] (whitespace before it allowed). With `key` non-NULL,
 * *matched says whether the name equals it. Returns 0, or -1 when malformed. */
static inline int midimon_params__member(const unsigned char *s, size_t len, size_t *pos,
                                         const char *key, int *matched) {
    midimon_params__ws(s, len, pos);
    if (*pos >= len || s[*pos] != '"') return -1;
    if (midimon_params__string(s, len, pos, key, matched) != 0) return -1;
    midimon_params__ws(s, len, pos);
    if (*pos >= len || s[*pos] != ':') return -1;
    (*pos)++;
    return 0;
}

/*
 * Check the whole object and find the last top-level member named `key`: MIDIMON_PARAMS_FOUND
 * with its value at json[*start, *end), MIDIMON_PARAMS_MISSING, or MIDIMON_PARAMS_INVALID.
 * An iterative parser (constant stack): bit (level - 1) of `objects` says whether open
 * container number `level` is an object (1) or an array (0); level 1 is the params object.
 */
static inline int midimon_params__find(const char *json, size_t len, const char *key,
                                       size_t *start, size_t *end) {
    const unsigned char *s = (const unsigned char *)json;
    size_t pos = 0, vstart = 0;
    uint64_t objects = 1;
    int level = 1, want_value = 1, found = 0, pending = 0, ok = 1;
    if (json == NULL) return MIDIMON_PARAMS_INVALID;
    midimon_params__ws(s, len, &pos);
    if (pos >= len || s[pos] != '{') return MIDIMON_PARAMS_INVALID;
    pos++;
    midimon_params__ws(s, len, &pos);
    if (pos < len && s[pos] == '}') {
        pos++;
        level = 0;
    } else if (midimon_params__member(s, len, &pos, key, &pending) != 0) {
        return MIDIMON_PARAMS_INVALID;
    }
    while (level > 0) {
        if (want_value) {
            unsigned char c;
            midimon_params__ws(s, len, &pos);
            if (pos >= len) { ok = 0; break; }
            c = s[pos];
            if (level == 1) vstart = pos;
            if (c == '{' || c == '[') {
                if (level >= MIDIMON_PARAMS_MAX_DEPTH) { ok = 0; break; }
                if (c == '{') objects |= (uint64_t)1 << level;
                else objects &= ~((uint64_t)1 << level);
                level++;
                pos++;
                midimon_params__ws(s, len, &pos);
                if (pos < len && s[pos] == (c == '{' ? '}' : ']')) {
                    pos++; /* empty: the value ends here */
                    level--;
                } else {
                    if (c == '{' && midimon_params__member(s, len, &pos, NULL, NULL) != 0) {
                        ok = 0;
                        break;
                    }
                    continue; /* read the first member's value or element */
                }
            } else if (c == '"') {
                if (midimon_params__string(s, len, &pos, NULL, NULL) != 0) { ok = 0; break; }
            } else if (c == '-' || (c >= '0' && c <= '9')) {
                if (midimon_params__number(s, len, &pos) != 0) { ok = 0; break; }
            } else if (c == 't') {
                if (midimon_params__literal(s, len, &pos, "true") != 0) { ok = 0; break; }
            } else if (c == 'f') {
                if (midimon_params__literal(s, len, &pos, "false") != 0) { ok = 0; break; }
            } else if (c == 'n') {
                if (midimon_params__literal(s, len, &pos, "null") != 0) { ok = 0; break; }
            } else {
                ok = 0;
                break;
            }
            want_value = 0;
        }
        /* A value just ended at `pos` inside container number `level`. */
        if (level == 1 && pending) {
            found = 1;
            *start = vstart;
            *end = pos;
            pending = 0;
        }
        midimon_params__ws(s, len, &pos);
        if (pos >= len) { ok = 0; break; }
        if (s[pos] == ',') {
            pos++;
            if ((objects >> (level - 1)) & 1u) {
                int matched = 0;
                if (midimon_params__member(s, len, &pos, level == 1 ? key : NULL, &matched) != 0) {
                    ok = 0;
                    break;
                }
                if (level == 1) pending = matched;
            }
            want_value = 1;
        } else if (s[pos] == (((objects >> (level - 1)) & 1u) ? '}' : ']')) {
            pos++;
            level--;
        } else {
            ok = 0;
            break;
        }
    }
    if (!ok) return MIDIMON_PARAMS_INVALID;
    midimon_params__ws(s, len, &pos);
    if (pos != len) return MIDIMON_PARAMS_INVALID; /* text after the object */
    return found ? MIDIMON_PARAMS_FOUND : MIDIMON_PARAMS_MISSING;
}

/* ---- the API ------------------------------------------------------------------------------ */

/*
 * The string value of top-level member `key`, unescaped (\" \\ \/ \b \f \n \r \t \uXXXX, with
 * surrogate pairs joined and a lone surrogate read as U+FFFD) and copied into out as UTF-8,
 * NUL-terminated. When it does not fit in cap - 1 bytes it is cut at the last whole UTF-8
 * character that fits (still FOUND; strlen(out) == cap - 1 or a little less tells you). With
 * out == NULL or cap == 0 nothing is written: the call only tells whether a string is there.
 * Not a string, or a string containing U+0000 (it would cut the C string short): WRONG_TYPE.
 * When cap > 0, out is always NUL-terminated: empty unless the result is FOUND.
 * [any-thread, reentrant] json and key: the caller's, only read during the call; out: owned by
 * the caller (cap bytes), written only during the call.
 */
static inline int midimon_params_string(const char *json, size_t len, const char *key, char *out,
                                        size_t cap) {
    size_t start = 0, end = 0, pos, n = 0;
    int rc, r, full = 0;
    uint32_t cp = 0;
    const unsigned char *s = (const unsigned char *)json;
    if (out != NULL && cap > 0) out[0] = '\0';
    rc = midimon_params__find(json, len, key, &start, &end);
    if (rc != MIDIMON_PARAMS_FOUND) return rc;
    if (s[start] != '"') return MIDIMON_PARAMS_WRONG_TYPE;
    pos = start + 1;
    while ((r = midimon_params__next(s, end, &pos, &cp)) == 1) {
        unsigned char b[4];
        size_t k, w;
        if (cp == 0) {
            if (out != NULL && cap > 0) out[0] = '\0';
            return MIDIMON_PARAMS_WRONG_TYPE;
        }
        if (out == NULL || cap == 0 || full) continue;
        w = midimon_params__utf8(cp, b);
        if (w > cap - 1 - n) {
            full = 1; /* later, shorter characters must not be appended after a cut */
            continue;
        }
        for (k = 0; k < w; k++) out[n++] = (char)b[k];
    }
    if (out != NULL && cap > 0) out[n] = '\0';
    return MIDIMON_PARAMS_FOUND;
}

/*
 * The integer value of top-level member `key` into *out. Only JSON integers count (no fraction,
 * no exponent: 3 and -0 are integers, 3.0 and 3e0 are not); one outside
 * INT64_MIN..INT64_MAX is WRONG_TYPE. *out is written only when the result is FOUND.
 * [any-thread, reentrant] json and key: the caller's, only read during the call; out: owned by
 * the caller, written only during the call.
 */
static inline int midimon_params_int(const char *json, size_t len, const char *key, int64_t *out) {
    size_t start = 0, end = 0, p;
    int rc, negative = 0;
    uint64_t v = 0, limit;
    rc = midimon_params__find(json, len, key, &start, &end);
    if (rc != MIDIMON_PARAMS_FOUND) return rc;
    p = start;
    if (json[p] == '-') {
        negative = 1;
        p++;
    }
    if (json[p] < '0' || json[p] > '9') return MIDIMON_PARAMS_WRONG_TYPE;
    limit = negative ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1;
    for (; p < end; p++) {
        unsigned d;
        if (json[p] < '0' || json[p] > '9') return MIDIMON_PARAMS_WRONG_TYPE; /* . e E */
        d = (unsigned)(json[p] - '0');
        if (v > (limit - d) / 10) return MIDIMON_PARAMS_WRONG_TYPE;
        v = v * 10 + d;
    }
    if (out != NULL) {
        if (!negative) *out = (int64_t)v;
        else if (v == (uint64_t)1 << 63) *out = -(int64_t)(((uint64_t)1 << 63) - 1) - 1;
        else *out = -(int64_t)v;
    }
    return MIDIMON_PARAMS_FOUND;
}

/*
 * The numeric value of top-level member `key` (an integer or not) into *out, the nearest
 * double (correctly rounded for numbers of up to 40 significant digits; independent of the C
 * locale). A number too large for a double (1e400) is WRONG_TYPE; one too small reads as 0 or a
 * subnormal. *out is written only when the result is FOUND.
 * [any-thread, reentrant] json and key: the caller's, only read during the call; out: owned by
 * the caller, written only during the call.
 */
static inline int midimon_params_number(const char *json, size_t len, const char *key,
                                        double *out) {
    /* Rewrite the number as <digits>e<exponent> (no decimal point, so strtod's locale does not
     * matter) with at most 40 significant digits, plus a sticky 1 when nonzero digits were cut
     * so the rounding direction survives. */
    char buf[64];
    size_t start = 0, end = 0, p, nd = 0, b = 0;
    int rc, negative = 0, sticky = 0, exp_negative = 0;
    int64_t shift = 0, exponent = 0;
    double v;
    rc = midimon_params__find(json, len, key, &start, &end);
    if (rc != MIDIMON_PARAMS_FOUND) return rc;
    p = start;
    if (json[p] == '-') {
        negative = 1;
        p++;
    }
    if (json[p] < '0' || json[p] > '9') return MIDIMON_PARAMS_WRONG_TYPE;
    if (negative) buf[b++] = '-';
    for (; p < end && json[p] >= '0' && json[p] <= '9'; p++) {
        if (nd == 0 && json[p] == '0') continue;
        if (nd < 40) {
            buf[b++] = json[p];
            nd++;
        } else {
            shift++;
            if (json[p] != '0') sticky = 1;
        }
    }
    if (p < end && json[p] == '.') {
        for (p++; p < end && json[p] >= '0' && json[p] <= '9'; p++) {
            if (nd == 0 && json[p] == '0') {
                shift--;
            } else if (nd < 40) {
                buf[b++] = json[p];
                nd++;
                shift--;
            } else if (json[p] != '0') {
                sticky = 1;
            }
        }
    }
    if (p < end && (json[p] == 'e' || json[p] == 'E')) {
        p++;
        if (json[p] == '-') exp_negative = 1;
        if (json[p] == '+' || json[p] == '-') p++;
        for (; p < end; p++)
            if (exponent < 1000000000) exponent = exponent * 10 + (json[p] - '0');
        if (exp_negative) exponent = -exponent;
    }
    if (nd == 0) {
        if (out != NULL) *out = negative ? -0.0 : 0.0;
        return MIDIMON_PARAMS_FOUND;
    }
    if (sticky) {
        buf[b++] = '1';
        shift--;
    }
    exponent += shift;
    if (exponent > 99999) exponent = 99999;
    if (exponent < -99999) exponent = -99999;
    buf[b++] = 'e';
    if (exponent < 0) {
        buf[b++] = '-';
        exponent = -exponent;
    }
    {
        char digits[8];
        size_t k = 0;
        do {
            digits[k++] = (char)('0' + (int)(exponent % 10));
            exponent /= 10;
        } while (exponent > 0);
        while (k > 0) buf[b++] = digits[--k];
    }
    buf[b] = '\0';
    v = strtod(buf, NULL);
    if (v > DBL_MAX || v < -DBL_MAX) return MIDIMON_PARAMS_WRONG_TYPE;
    if (out != NULL) *out = v;
    return MIDIMON_PARAMS_FOUND;
}

/*
 * The boolean value of top-level member `key` into *out: 1 for true, 0 for false. Only the
 * JSON literals count (not 0/1, not "true"). *out is written only when the result is FOUND.
 * [any-thread, reentrant] json and key: the caller's, only read during the call; out: owned by
 * the caller, written only during the call.
 */
static inline int midimon_params_bool(const char *json, size_t len, const char *key, int *out) {
    size_t start = 0, end = 0;
    int rc = midimon_params__find(json, len, key, &start, &end);
    if (rc != MIDIMON_PARAMS_FOUND) return rc;
    if (json[start] != 't' && json[start] != 'f') return MIDIMON_PARAMS_WRONG_TYPE;
    if (out != NULL) *out = json[start] == 't';
    return MIDIMON_PARAMS_FOUND;
}

#endif /* MIDIMON_PARAMS_H */
