/* The span cap's count of an OTLP request's spans on the wire, before upb parses it (``_fastotlp.count_spans``). */
#include "_fastotlp_rows.h"

/* -- the span count on the wire (collector/wire.py's count_spans, step for step) ------------------------
 *
 *     count_spans(body: bytes, limit: int) -> int
 *
 * Runs before upb parses anything, so it follows wire.py rather than upb: a read past the body or a varint of
 * more than 10 bytes ends the count (wire.py catches its IndexError / ValueError and returns the count so far),
 * each level's length-delimited fields are listed in full before the level below is walked (wire.py's
 * ``_fields`` does, so a malformed field later in a level stops the count before that level's spans), and
 * positions and varints are exact 128-bit integers, as Python's are (a varint has at most 70 bits, and a
 * position is at most the body's length plus one varint). tests/collector/test_fastotlp_count.py compares the
 * two on valid, truncated and mutated bodies. */
#ifdef __SIZEOF_INT128__
typedef unsigned __int128 WirePos;

typedef struct {
    const uint8_t *buf;
    WirePos len;
} Wire;

static int wire_varint(const Wire *w, WirePos *i, WirePos end, WirePos *out) {
    WirePos result = 0;
    for (int shift = 0; *i < end; shift += 7) {
        if (*i >= w->len) return -1; /* IndexError */
        uint8_t b = w->buf[(size_t)*i];
        (*i)++;
        result |= (WirePos)(b & 0x7F) << shift;
        if (b < 0x80) {
            *out = result;
            return 0;
        }
        if (shift + 7 > 63) return -1; /* ValueError: more than 10 bytes */
    }
    return -1; /* ValueError: the range ended inside the varint */
}

static int wire_skip(const Wire *w, WirePos *i, WirePos end, unsigned wt) {
    WirePos n;
    switch (wt) {
    case 0: return wire_varint(w, i, end, &n);
    case 1: *i += 8; return 0;
    case 2:
        if (wire_varint(w, i, end, &n) != 0) return -1;
        *i += n;
        return 0;
    case 5: *i += 4; return 0;
    default: return -1;
    }
}

/* The next length-delimited field ``want`` of [*i, end): its range in *start / *stop; 1 found, 0 at the end,
 * -1 malformed. */
static int wire_field(const Wire *w, WirePos *i, WirePos end, WirePos want, WirePos *start, WirePos *stop) {
    while (*i < end) {
        WirePos t, n;
        if (wire_varint(w, i, end, &t) != 0) return -1;
        if (t >> 3 == want && (t & 7) == 2) {
            if (wire_varint(w, i, end, &n) != 0) return -1;
            *start = *i;
            *stop = *i + n;
            *i += n;
            return 1;
        }
        if (wire_skip(w, i, end, (unsigned)(t & 7)) != 0) return -1;
    }
    return 0;
}

/* Whether every field of [start, end) reads (wire.py lists them all before walking any). */
static int wire_level_reads(const Wire *w, WirePos start, WirePos end, WirePos want) {
    WirePos i = start, a, b;
    int r;
    while ((r = wire_field(w, &i, end, want, &a, &b)) == 1) {
    }
    return r == 0;
}

PyObject *fo_count_spans(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t limit, count = 0;
    if (!PyArg_ParseTuple(args, "y*n", &view, &limit)) return NULL;
    Wire w = {(const uint8_t *)view.buf, (WirePos)view.len};
    if ((view.len + 1) / 2 <= limit || !wire_level_reads(&w, 0, w.len, 1)) goto done; /* len <= 2 * limit */
    WirePos ri = 0, rs0, rs1;
    while (wire_field(&w, &ri, w.len, 1, &rs0, &rs1) == 1) {
        if (!wire_level_reads(&w, rs0, rs1, 2)) goto done;
        WirePos si = rs0, ss0, ss1;
        while (wire_field(&w, &si, rs1, 2, &ss0, &ss1) == 1) {
            WirePos i = ss0, t;
            while (i < ss1) {
                if (wire_varint(&w, &i, ss1, &t) != 0) goto done;
                if (t == (2 << 3 | 2) && ++count > limit) goto done;
                if (wire_skip(&w, &i, ss1, (unsigned)(t & 7)) != 0) goto done;
            }
        }
    }
done:
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(count);
}
#endif
