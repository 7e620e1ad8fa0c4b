/* Protobuf wire primitives for the OTLP walker (collector/_fastotlp.c, collector/_fastotlp_span.c).
 *
 * Every reader is bounds-checked and returns OK, or BAIL for anything it does not read exactly as upb would (the
 * caller then leaves that part to the Python decoder, collector/decode.py). FAIL means a Python exception is set.
 */
#ifndef STREAMSCOPE_FASTOTLP_WIRE_H
#define STREAMSCOPE_FASTOTLP_WIRE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define OK 0
#define BAIL 1  /* not for this walker: decode in Python */
#define FAIL -1 /* a Python exception is set */

#define MAX_STRING (1 << 20) /* characters, as decode.MAX_STRING */

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} Buf;

typedef struct {
    const uint8_t *p;
    Py_ssize_t n;
} Bytes;

static inline int varint(Buf *b, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && b->p < b->end; shift += 7) {
        uint8_t c = *b->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return OK;
        }
    }
    return BAIL;
}

static inline int fixed64(Buf *b, uint64_t *out) {
    if (b->end - b->p < 8) return BAIL;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b->p[i];
    b->p += 8;
    *out = v;
    return OK;
}

static inline int delimited(Buf *b, Buf *out) {
    uint64_t n;
    if (varint(b, &n) != OK || n > (uint64_t)(b->end - b->p)) return BAIL;
    out->p = b->p;
    out->end = b->p + n;
    b->p += n;
    return OK;
}

/* Read one tag; *more = 0 at the end of the buffer. */
static inline int tag(Buf *b, uint32_t *field, int *wt, int *more) {
    uint64_t t;
    if (b->p >= b->end) {
        *more = 0;
        return OK;
    }
    if (varint(b, &t) != OK) return BAIL;
    *field = (uint32_t)(t >> 3);
    *wt = (int)(t & 7);
    *more = 1;
    return (*field == 0 || t >> 32) ? BAIL : OK;
}

static inline int skip(Buf *b, int wt) {
    uint64_t v;
    Buf sub;
    switch (wt) {
    case 0: return varint(b, &v);
    case 1: return fixed64(b, &v);
    case 2: return delimited(b, &sub);
    case 5:
        if (b->end - b->p < 4) return BAIL;
        b->p += 4;
        return OK;
    default: return BAIL; /* groups (3, 4) and invalid wire types */
    }
}

/* A string field (upb has checked its UTF-8) as str, cut to at most ``chars`` characters. */
static inline PyObject *text(Bytes s, Py_ssize_t chars) {
    PyObject *u = PyUnicode_DecodeUTF8((const char *)s.p, s.n, "strict");
    if (u == NULL || PyUnicode_GET_LENGTH(u) <= chars) return u;
    PyObject *cut = PyUnicode_Substring(u, 0, chars);
    Py_DECREF(u);
    return cut;
}

/* Lowercase hex of ``b`` as str (bytes.hex()). */
static inline PyObject *hex_str(Bytes b) {
    static const char digits[] = "0123456789abcdef";
    PyObject *s = PyUnicode_New(2 * b.n, 127);
    if (s == NULL) return NULL;
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(s);
    for (Py_ssize_t i = 0; i < b.n; i++) {
        out[2 * i] = (Py_UCS1)digits[b.p[i] >> 4];
        out[2 * i + 1] = (Py_UCS1)digits[b.p[i] & 15];
    }
    return s;
}

static inline int nonzero(Bytes b) {
    for (Py_ssize_t i = 0; i < b.n; i++)
        if (b.p[i]) return 1;
    return 0;
}

#endif
