/* strbuf.c - see strbuf.h. */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hr_buf_init(hr_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}

void hr_buf_free(hr_buf *b)
{
    free(b->data);
    hr_buf_init(b);
}

static int hr_buf_reserve(hr_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (b->failed)
        return -1;
    if (extra > (size_t)-1 - b->len - 1)
        goto oom;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > (size_t)-1 / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    p = realloc(b->data, cap);
    if (!p)
        goto oom;
    b->data = p;
    b->cap = cap;
    return 0;
oom:
    b->failed = 1;
    return -1;
}

int hr_buf_append(hr_buf *b, const void *bytes, size_t n)
{
    if (hr_buf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int hr_buf_putc(hr_buf *b, char c)
{
    return hr_buf_append(b, &c, 1);
}

int hr_buf_puts(hr_buf *b, const char *s)
{
    return hr_buf_append(b, s, strlen(s));
}

int hr_buf_put_long(hr_buf *b, long v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%ld", v);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return -1;
    return hr_buf_append(b, tmp, (size_t)n);
}

const char *hr_buf_cstr(const hr_buf *b)
{
    return b->data ? b->data : "";
}

char *hr_buf_take(hr_buf *b, size_t *len_out)
{
    char *p = b->data;
    if (len_out)
        *len_out = b->len;
    hr_buf_init(b);
    return p;
}

void hr_format(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;
    int n;
    size_t end, i;

    if (!msg || cap == 0)
        return;
    va_start(ap, fmt);
    n = vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    if (n < 0) {
        msg[0] = '\0';
        return;
    }
    if ((size_t)n < cap)
        return;
    /* Truncated: msg[cap - 1] is the NUL. Drop a UTF-8 sequence cut short at the end. */
    end = cap - 1;
    for (i = end; i > 0 && end - i < 4; i--) {
        unsigned char c = (unsigned char)msg[i - 1];
        size_t need;
        if ((c & 0xC0) == 0x80)
            continue; /* continuation byte: keep looking for the lead byte */
        if (c >= 0xF0)
            need = 4;
        else if (c >= 0xE0)
            need = 3;
        else if (c >= 0xC0)
            need = 2;
        else
            need = 1;
        if (end - (i - 1) < need)
            msg[i - 1] = '\0';
        break;
    }
}
