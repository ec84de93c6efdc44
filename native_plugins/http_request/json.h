/* json.h - a small, bounded JSON (RFC 8259) parser and compact serializer, internal to the
 * http_request plugin.
 *
 * - Never reads past the given length (the input need not be NUL-terminated).
 * - Nesting is limited to HR_JSON_MAX_DEPTH arrays/objects, so recursion stays shallow.
 * - Strings must be valid UTF-8; escapes, including \uXXXX surrogate pairs, are decoded to
 *   UTF-8. A decoded string may contain NUL bytes (from \u0000), so use its length.
 * - Numbers are checked against the JSON grammar and kept as their source text, so they are
 *   written back exactly as given.
 * - Duplicate object keys are kept; hr_json_get() returns the last one.
 */
#ifndef HR_JSON_H
#define HR_JSON_H

#include <stddef.h>

#include "strbuf.h"

#define HR_JSON_MAX_DEPTH 64

typedef enum hr_json_type {
    HR_JSON_NULL,
    HR_JSON_BOOL,
    HR_JSON_NUMBER,
    HR_JSON_STRING,
    HR_JSON_ARRAY,
    HR_JSON_OBJECT
} hr_json_type;

typedef struct hr_json hr_json;
typedef struct hr_json_member hr_json_member;

struct hr_json {
    hr_json_type type;
    int boolean;             /* HR_JSON_BOOL */
    char *str;               /* HR_JSON_STRING: decoded UTF-8; HR_JSON_NUMBER: source text.
                              * Always NUL-terminated (and never NULL for these types). */
    size_t len;              /* length of str in bytes */
    hr_json *items;          /* HR_JSON_ARRAY: `count` elements */
    hr_json_member *members; /* HR_JSON_OBJECT: `count` members in source order */
    size_t count;
};

struct hr_json_member {
    char *key;               /* decoded UTF-8, NUL-terminated */
    size_t key_len;
    hr_json value;
};

typedef struct hr_json_error {
    size_t offset;           /* byte offset into the input where the problem was found */
    const char *what;        /* static description */
} hr_json_error;

/* Parse exactly one JSON value (surrounded by optional whitespace) from text[0..len).
 * Returns 0 and fills *out (free with hr_json_free), or -1 and fills *err. */
int hr_json_parse(const char *text, size_t len, hr_json *out, hr_json_error *err);

void hr_json_free(hr_json *v);

/* The last member of an object named `key` (compared byte-wise, whole key), or NULL. */
const hr_json *hr_json_get(const hr_json *obj, const char *key);

/* Append the compact JSON text of v to out. Returns 0, or -1 when out of memory. */
int hr_json_write(hr_buf *out, const hr_json *v);

/* Append s[0..len) as a quoted JSON string to out. Returns 0, or -1 when out of memory. */
int hr_json_write_string(hr_buf *out, const char *s, size_t len);

/* Call fn on every string in v (object keys and string values, depth first). fn may replace
 * the string: it gets pointers to the malloc'd string and its length, and must leave them
 * pointing at a malloc'd, NUL-terminated string. Stops at and returns the first non-zero
 * result of fn; 0 when all calls returned 0. */
typedef int (*hr_json_string_fn)(char **str, size_t *len, void *user);
int hr_json_map_strings(hr_json *v, hr_json_string_fn fn, void *user);

/* Human-readable name of a type ("object", "string", ...). */
const char *hr_json_type_name(hr_json_type t);

#endif
