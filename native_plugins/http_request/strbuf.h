/* strbuf.h - a growable, always NUL-terminated byte buffer (internal to the http_request plugin). */
#ifndef HR_STRBUF_H
#define HR_STRBUF_H

#include <stddef.h>

typedef struct hr_buf {
    char *data;   /* NULL until the first append; otherwise NUL-terminated at data[len] */
    size_t len;   /* bytes used, not counting the terminating NUL */
    size_t cap;   /* bytes allocated */
    int failed;   /* set once an allocation failed; later appends are no-ops */
} hr_buf;

void hr_buf_init(hr_buf *b);
void hr_buf_free(hr_buf *b);
/* Each returns 0 on success, -1 when out of memory (and sets b->failed). */
int hr_buf_append(hr_buf *b, const void *bytes, size_t n);
int hr_buf_putc(hr_buf *b, char c);
int hr_buf_puts(hr_buf *b, const char *s);
int hr_buf_put_long(hr_buf *b, long v);
/* The contents as a C string ("" when empty); valid until the next append or free. */
const char *hr_buf_cstr(const hr_buf *b);
/* Hand the allocation to the caller (NULL if nothing was appended); the buffer is reset. */
char *hr_buf_take(hr_buf *b, size_t *len_out);

/* snprintf into a message buffer of `cap` bytes (cap may be 0; msg may then be NULL). The text
 * is always NUL-terminated and, when truncated, is cut back to a whole UTF-8 character. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
void hr_format(char *msg, size_t cap, const char *fmt, ...);

#endif
