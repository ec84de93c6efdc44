/*
 * Test harness for abi/midimon_params.h: reads records from stdin, runs one lookup each and
 * prints one line per record. A record is a header line
 *     OP CAP KEYLEN JSONLEN PASSLEN\n
 * then KEYLEN bytes of key and JSONLEN bytes of JSON. OP is s (string), i (int), n (number) or
 * b (bool). The lookup sees the first PASSLEN bytes of the JSON in a buffer of exactly that
 * size (so a sanitizer catches a read past len); PASSLEN -1 passes json = NULL, len = 0.
 * For s, CAP is the size of an out buffer of exactly that many bytes (-1: out = NULL, cap 0).
 * Output: "RC VALUE": the string as hex (of strlen(out)), the int in decimal, the number as
 * %a, the bool as 0/1; VALUE is the untouched sentinel (or "") when the lookup did not set it.
 */
#include "midimon_params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_exact(char *buf, size_t n) {
    return fread(buf, 1, n, stdin) == n;
}

int main(void) {
    char op;
    long cap, keylen, jsonlen, passlen;
    while (scanf(" %c %ld %ld %ld %ld", &op, &cap, &keylen, &jsonlen, &passlen) == 5) {
        char *key, *json, *pass = NULL;
        int rc = 0;
        if (getchar() != '\n' || keylen < 0 || jsonlen < 0 || passlen > jsonlen) return 2;
        key = (char *)malloc((size_t)keylen + 1);
        json = (char *)malloc((size_t)jsonlen + 1);
        if (!key || !json || !read_exact(key, (size_t)keylen) || !read_exact(json, (size_t)jsonlen))
            return 2;
        key[keylen] = '\0';
        if (passlen >= 0) {
            pass = (char *)malloc(passlen > 0 ? (size_t)passlen : 1);
            if (!pass) return 2;
            memcpy(pass, json, (size_t)passlen);
        }
        size_t len = passlen >= 0 ? (size_t)passlen : 0;
        if (op == 's') {
            char *out = cap >= 0 ? (char *)malloc(cap > 0 ? (size_t)cap : 1) : NULL;
            size_t i, n;
            if (out && cap > 0) memset(out, 'X', (size_t)cap);
            rc = midimon_params_string(pass, len, key, out, cap > 0 ? (size_t)cap : 0);
            printf("%d ", rc);
            if (out && cap > 0) {
                n = strlen(out); /* ASan: must be NUL-terminated inside the buffer */
                for (i = 0; i < n; i++) printf("%02x", (unsigned char)out[i]);
            }
            printf("\n");
            free(out);
        } else if (op == 'i') {
            int64_t v = 12345;
            rc = midimon_params_int(pass, len, key, &v);
            printf("%d %lld\n", rc, (long long)v);
        } else if (op == 'n') {
            double v = 12345.0;
            rc = midimon_params_number(pass, len, key, &v);
            printf("%d %a\n", rc, v);
        } else if (op == 'b') {
            int v = 12345;
            rc = midimon_params_bool(pass, len, key, &v);
            printf("%d %d\n", rc, v);
        } else {
            return 2;
        }
        free(pass);
        free(json);
        free(key);
    }
    fflush(stdout);
    return 0;
}
