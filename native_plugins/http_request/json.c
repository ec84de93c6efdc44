/* json.c - see json.h. Written for the http_request example plugin; no external code. */
#include "json.h"

#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const unsigned char *s;
    size_t len;
    size_t pos;
    hr_json_error *err;
} parser;

static int parse_value(parser *p, hr_json *out, int depth);

static int fail(parser *p, size_t at, const char *what)
{
    p->err->offset = at;
    p->err->what = what;
    return -1;
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

/* Length of the well-formed UTF-8 sequence starting at s (1..4), or 0 if it is not
 * well-formed (overlong forms, surrogates and code points above U+10FFFF are rejected). */
static size_t utf8_sequence_length(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n, i;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (i = 2; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    }
    return n;
}

static int hex4(const unsigned char *s, unsigned long *out)
{
    unsigned long v = 0;
    int i;
    for (i = 0; i < 4; i++) {
        unsigned char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned long)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned long)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned long)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static int put_utf8(hr_buf *b, unsigned long cp)
{
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | (cp >> 18));
        u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return hr_buf_append(b, u, n);
}

/* \uXXXX at p->s[p->pos] (pointing at the backslash). Advances past it (and past a
 * low-surrogate escape that completes a pair). */
static int parse_unicode_escape(parser *p, hr_buf *b)
{
    size_t at = p->pos;
    unsigned long cp, lo;

    if (p->len - p->pos < 6 || hex4(p->s + p->pos + 2, &cp) != 0)
        return fail(p, at, "invalid \\u escape (expected 4 hex digits)");
    p->pos += 6;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return fail(p, at, "invalid \\u escape (unpaired UTF-16 low surrogate)");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (p->len - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
            hex4(p->s + p->pos + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
            return fail(p, at, "invalid \\u escape (unpaired UTF-16 high surrogate)");
        p->pos += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (put_utf8(b, cp) != 0)
        return fail(p, at, "out of memory");
    return 0;
}

/* A string starting at the opening quote. On success *out is a malloc'd NUL-terminated string. */
static int parse_string(parser *p, char **out, size_t *out_len)
{
    hr_buf b;
    hr_buf_init(&b);
    p->pos++; /* opening quote */

    for (;;) {
        unsigned char c;
        size_t run;

        if (p->pos >= p->len) {
            fail(p, p->len, "unexpected end of input inside a string");
            goto error;
        }
        c = p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c == '\\') {
            char simple = 0;
            if (p->len - p->pos < 2) {
                fail(p, p->len, "unexpected end of input inside a string");
                goto error;
            }
            switch (p->s[p->pos + 1]) {
            case '"': simple = '"'; break;
            case '\\': simple = '\\'; break;
            case '/': simple = '/'; break;
            case 'b': simple = '\b'; break;
            case 'f': simple = '\f'; break;
            case 'n': simple = '\n'; break;
            case 'r': simple = '\r'; break;
            case 't': simple = '\t'; break;
            case 'u':
                if (parse_unicode_escape(p, &b) != 0)
                    goto error;
                continue;
            default:
                fail(p, p->pos, "invalid escape sequence in string");
                goto error;
            }
            if (hr_buf_putc(&b, simple) != 0) {
                fail(p, p->pos, "out of memory");
                goto error;
            }
            p->pos += 2;
            continue;
        }
        if (c < 0x20) {
            fail(p, p->pos, "control character in string (must be escaped)");
            goto error;
        }
        run = utf8_sequence_length(p->s + p->pos, p->len - p->pos);
        if (run == 0) {
            fail(p, p->pos, "invalid UTF-8 in string");
            goto error;
        }
        if (hr_buf_append(&b, p->s + p->pos, run) != 0) {
            fail(p, p->pos, "out of memory");
            goto error;
        }
        p->pos += run;
    }
    /* Make sure even "" has an allocation. */
    if (hr_buf_append(&b, "", 0) != 0) {
        fail(p, p->pos, "out of memory");
        goto error;
    }
    *out = hr_buf_take(&b, out_len);
    return 0;
error:
    hr_buf_free(&b);
    return -1;
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int parse_number(parser *p, hr_json *out)
{
    size_t start = p->pos;
    size_t n;

    if (p->pos < p->len && p->s[p->pos] == '-')
        p->pos++;
    if (p->pos < p->len && p->s[p->pos] == '0') {
        p->pos++;
    } else if (p->pos < p->len && is_digit(p->s[p->pos])) {
        while (p->pos < p->len && is_digit(p->s[p->pos]))
            p->pos++;
    } else {
        return fail(p, p->pos, "invalid number (expected a digit)");
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos]))
            return fail(p, p->pos, "invalid number (expected a digit after '.')");
        while (p->pos < p->len && is_digit(p->s[p->pos]))
            p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
            p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos]))
            return fail(p, p->pos, "invalid number (expected a digit in the exponent)");
        while (p->pos < p->len && is_digit(p->s[p->pos]))
            p->pos++;
    }
    n = p->pos - start;
    out->str = malloc(n + 1);
    if (!out->str)
        return fail(p, start, "out of memory");
    memcpy(out->str, p->s + start, n);
    out->str[n] = '\0';
    out->len = n;
    out->type = HR_JSON_NUMBER;
    return 0;
}

static int parse_literal(parser *p, const char *word, size_t n)
{
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return fail(p, p->pos, "invalid literal (expected true, false or null)");
    p->pos += n;
    return 0;
}

static int parse_array(parser *p, hr_json *out, int depth)
{
    size_t cap = 0;

    out->type = HR_JSON_ARRAY;
    p->pos++; /* '[' */
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        return 0;
    }
    for (;;) {
        if (out->count == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            hr_json *items;
            if (ncap > (size_t)-1 / sizeof *items)
                return fail(p, p->pos, "out of memory");
            items = realloc(out->items, ncap * sizeof *items);
            if (!items)
                return fail(p, p->pos, "out of memory");
            out->items = items;
            cap = ncap;
        }
        memset(&out->items[out->count], 0, sizeof out->items[0]);
        out->count++; /* counted now so hr_json_free releases a half-parsed element */
        if (parse_value(p, &out->items[out->count - 1], depth + 1) != 0)
            return -1;
        skip_ws(p);
        if (p->pos >= p->len)
            return fail(p, p->len, "unexpected end of input inside an array");
        if (p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->s[p->pos] == ']') {
            p->pos++;
            return 0;
        }
        return fail(p, p->pos, "expected ',' or ']' in array");
    }
}

static int parse_object(parser *p, hr_json *out, int depth)
{
    size_t cap = 0;

    out->type = HR_JSON_OBJECT;
    p->pos++; /* '{' */
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        return 0;
    }
    for (;;) {
        hr_json_member *m;

        skip_ws(p);
        if (p->pos >= p->len)
            return fail(p, p->len, "unexpected end of input inside an object");
        if (p->s[p->pos] != '"')
            return fail(p, p->pos, "expected a string key in object");
        if (out->count == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            hr_json_member *members;
            if (ncap > (size_t)-1 / sizeof *members)
                return fail(p, p->pos, "out of memory");
            members = realloc(out->members, ncap * sizeof *members);
            if (!members)
                return fail(p, p->pos, "out of memory");
            out->members = members;
            cap = ncap;
        }
        m = &out->members[out->count];
        memset(m, 0, sizeof *m);
        out->count++; /* counted now so hr_json_free releases a half-parsed member */
        if (parse_string(p, &m->key, &m->key_len) != 0)
            return -1;
        skip_ws(p);
        if (p->pos >= p->len)
            return fail(p, p->len, "unexpected end of input inside an object");
        if (p->s[p->pos] != ':')
            return fail(p, p->pos, "expected ':' after object key");
        p->pos++;
        if (parse_value(p, &m->value, depth + 1) != 0)
            return -1;
        skip_ws(p);
        if (p->pos >= p->len)
            return fail(p, p->len, "unexpected end of input inside an object");
        if (p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->s[p->pos] == '}') {
            p->pos++;
            return 0;
        }
        return fail(p, p->pos, "expected ',' or '}' in object");
    }
}

/* depth = number of arrays/objects enclosing this value. */
static int parse_value(parser *p, hr_json *out, int depth)
{
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, p->len, "unexpected end of input (expected a value)");
    switch (p->s[p->pos]) {
    case '{':
    case '[':
        if (depth >= HR_JSON_MAX_DEPTH)
            return fail(p, p->pos, "arrays/objects nested too deeply (limit 64)");
        return p->s[p->pos] == '{' ? parse_object(p, out, depth) : parse_array(p, out, depth);
    case '"':
        out->type = HR_JSON_STRING;
        return parse_string(p, &out->str, &out->len);
    case 't':
        out->type = HR_JSON_BOOL;
        out->boolean = 1;
        return parse_literal(p, "true", 4);
    case 'f':
        out->type = HR_JSON_BOOL;
        out->boolean = 0;
        return parse_literal(p, "false", 5);
    case 'n':
        out->type = HR_JSON_NULL;
        return parse_literal(p, "null", 4);
    default:
        if (p->s[p->pos] == '-' || is_digit(p->s[p->pos]))
            return parse_number(p, out);
        return fail(p, p->pos, "unexpected character (expected a value)");
    }
}

int hr_json_parse(const char *text, size_t len, hr_json *out, hr_json_error *err)
{
    parser p;

    memset(out, 0, sizeof *out);
    p.s = (const unsigned char *)text;
    p.len = text ? len : 0;
    p.pos = 0;
    p.err = err;
    if (parse_value(&p, out, 0) == 0) {
        skip_ws(&p);
        if (p.pos == p.len)
            return 0;
        fail(&p, p.pos, "unexpected data after the JSON value");
    }
    hr_json_free(out);
    return -1;
}

void hr_json_free(hr_json *v)
{
    size_t i;

    if (!v)
        return;
    if (v->type == HR_JSON_ARRAY) {
        for (i = 0; i < v->count; i++)
            hr_json_free(&v->items[i]);
    } else if (v->type == HR_JSON_OBJECT) {
        for (i = 0; i < v->count; i++) {
            free(v->members[i].key);
            hr_json_free(&v->members[i].value);
        }
    }
    free(v->items);
    free(v->members);
    free(v->str);
    memset(v, 0, sizeof *v);
}

const hr_json *hr_json_get(const hr_json *obj, const char *key)
{
    size_t i, n;
    const hr_json *found = NULL;

    if (!obj || obj->type != HR_JSON_OBJECT)
        return NULL;
    n = strlen(key);
    for (i = 0; i < obj->count; i++) {
        const hr_json_member *m = &obj->members[i];
        if (m->key_len == n && memcmp(m->key, key, n) == 0)
            found = &m->value;
    }
    return found;
}

int hr_json_write_string(hr_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, run = 0;

    hr_buf_putc(out, '"');
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t n = 2;

        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7F) {
            run++;
            continue;
        }
        if (run)
            hr_buf_append(out, s + i - run, run);
        run = 0;
        esc[0] = '\\';
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xF];
            n = 6;
            break;
        }
        hr_buf_append(out, esc, n);
    }
    if (run)
        hr_buf_append(out, s + len - run, run);
    hr_buf_putc(out, '"');
    return out->failed ? -1 : 0;
}

int hr_json_write(hr_buf *out, const hr_json *v)
{
    size_t i;

    switch (v->type) {
    case HR_JSON_NULL:
        hr_buf_puts(out, "null");
        break;
    case HR_JSON_BOOL:
        hr_buf_puts(out, v->boolean ? "true" : "false");
        break;
    case HR_JSON_NUMBER:
        hr_buf_append(out, v->str, v->len);
        break;
    case HR_JSON_STRING:
        hr_json_write_string(out, v->str, v->len);
        break;
    case HR_JSON_ARRAY:
        hr_buf_putc(out, '[');
        for (i = 0; i < v->count && !out->failed; i++) {
            if (i)
                hr_buf_putc(out, ',');
            hr_json_write(out, &v->items[i]);
        }
        hr_buf_putc(out, ']');
        break;
    case HR_JSON_OBJECT:
        hr_buf_putc(out, '{');
        for (i = 0; i < v->count && !out->failed; i++) {
            if (i)
                hr_buf_putc(out, ',');
            hr_json_write_string(out, v->members[i].key, v->members[i].key_len);
            hr_buf_putc(out, ':');
            hr_json_write(out, &v->members[i].value);
        }
        hr_buf_putc(out, '}');
        break;
    }
    return out->failed ? -1 : 0;
}

int hr_json_map_strings(hr_json *v, hr_json_string_fn fn, void *user)
{
    size_t i;
    int rc;

    switch (v->type) {
    case HR_JSON_STRING:
        return fn(&v->str, &v->len, user);
    case HR_JSON_ARRAY:
        for (i = 0; i < v->count; i++) {
            if ((rc = hr_json_map_strings(&v->items[i], fn, user)) != 0)
                return rc;
        }
        return 0;
    case HR_JSON_OBJECT:
        for (i = 0; i < v->count; i++) {
            if ((rc = fn(&v->members[i].key, &v->members[i].key_len, user)) != 0)
                return rc;
            if ((rc = hr_json_map_strings(&v->members[i].value, fn, user)) != 0)
                return rc;
        }
        return 0;
    default:
        return 0;
    }
}

const char *hr_json_type_name(hr_json_type t)
{
    switch (t) {
    case HR_JSON_NULL: return "null";
    case HR_JSON_BOOL: return "boolean";
    case HR_JSON_NUMBER: return "number";
    case HR_JSON_STRING: return "string";
    case HR_JSON_ARRAY: return "array";
    case HR_JSON_OBJECT: return "object";
    }
    return "value";
}
