/* The ingest hot path in C: walk an OTLP ExportTraceServiceRequest that upb has already parsed (so the wire
 * format and every string's UTF-8 are known good) and turn its chunk spans into Chunk rows without building a
 * Python object per protobuf field.
 *
 * This is an accelerator, not a second decoder: collector/decode.py stays the reference. Everything here is
 * bounds-checked anyway, and anything this walker does not handle exactly as upb + decode.py would (a wire type
 * other than the schema's for a field it reads, a value field given twice, groups, an in-flight signal on a
 * chunk) makes it hand that span, or the whole request, back to the Python decoder. tests/collector/
 * test_fastotlp.py checks both paths give equal results on generated and mutated requests.
 *
 *     walk(body: bytes, horizon_ns: int) -> None | (received, rejected, reason, chunks, others)
 *
 * None: decode the whole request in Python. Otherwise ``chunks`` holds a Chunk per valid chunk span in body
 * order (None where Python must decode that span), ``others`` one (resource, scope, span, chunk position or -1)
 * per valid span left to Python, ``reason`` the code of the first rejection (decode.REJECT_REASONS).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define OK 0
#define BAIL 1   /* not for this walker: decode in Python */
#define FAIL -1  /* a Python exception is set */

#define MAX_STRING (1 << 20) /* characters, as decode.MAX_STRING */
#define KIND_CHARS 32
#define MAX_SECONDS 1e7 /* decode.MAX_SECONDS: offsets and gaps beyond it, or not finite, are ignored */

static PyTypeObject *chunk_type = NULL; /* collector.model.Chunk, a tuple subclass */
static PyObject *default_kind = NULL;   /* "content" */

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} Buf;

typedef struct {
    const uint8_t *p;
    Py_ssize_t n;
} Bytes;

static int varint(Buf *b, uint64_t *out) {
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

static int fixed64(Buf *b, uint64_t *out) {
    if (b->end - b->p < 8) return BAIL;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b->p[i];
    b->p += 8;
    *out = v;
    return OK;
}

static int delimited(Buf *b, Buf *out) {
    uint64_t n;
    if (varint(b, &n) != OK || n > (uint64_t)(b->end - b->p)) return BAIL;
    out->p = b->p;
    out->end = b->p + n;
    b->p += n;
    return OK;
}

/* Read one tag; 0 at the end of the buffer. */
static int tag(Buf *b, uint32_t *field, int *wt, int *more) {
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

static int skip(Buf *b, int wt) {
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

/* -- one attribute value (AnyValue: a oneof, the last field given wins) --------------------------------- */
enum { V_NONE, V_STRING, V_BOOL, V_INT, V_DOUBLE, V_OTHER };

typedef struct {
    int which;
    uint64_t bits; /* bool / int (two's complement) / double bits */
    Bytes str;
} Value;

static int any_value(Buf b, Value *v) {
    static const int wire[8] = {-1, 2, 0, 0, 1, 2, 2, 2};
    static const int kind[8] = {V_NONE, V_STRING, V_BOOL, V_INT, V_DOUBLE, V_OTHER, V_OTHER, V_OTHER};
    v->which = V_NONE;
    for (;;) {
        uint32_t f;
        int wt, more;
        if (tag(&b, &f, &wt, &more) != OK) return BAIL;
        if (!more) return OK;
        if (f < 1 || f > 7) {
            if (skip(&b, wt) != OK) return BAIL;
            continue;
        }
        if (wt != wire[f]) return BAIL; /* upb would keep it as an unknown field */
        v->which = kind[f];
        if (wt == 0) {
            if (varint(&b, &v->bits) != OK) return BAIL;
        } else if (wt == 1) {
            if (fixed64(&b, &v->bits) != OK) return BAIL;
        } else {
            Buf s;
            if (delimited(&b, &s) != OK) return BAIL;
            v->str.p = s.p;
            v->str.n = s.end - s.p;
        }
    }
}

static int integral(const Value *v, long long *out) {
    if (v->which == V_INT) {
        *out = (long long)(int64_t)v->bits;
        return 1;
    }
    if (v->which == V_BOOL) {
        *out = v->bits != 0;
        return 1;
    }
    return 0;
}

static int numeric(const Value *v, double *out) {
    long long i;
    if (v->which == V_DOUBLE) {
        memcpy(out, &v->bits, sizeof *out);
        return 1;
    }
    if (integral(v, &i)) {
        *out = (double)i;
        return 1;
    }
    return 0;
}

/* A string value as str, cut to at most ``chars`` characters. */
static PyObject *text(Bytes s, Py_ssize_t chars) {
    PyObject *u = PyUnicode_DecodeUTF8((const char *)s.p, s.n, "strict");
    if (u == NULL || PyUnicode_GET_LENGTH(u) <= chars) return u;
    PyObject *cut = PyUnicode_Substring(u, 0, chars);
    Py_DECREF(u);
    return cut;
}

/* -- chunk spans ------------------------------------------------------------------------------------- */
#define CHUNK_PREFIX "streamscope.chunk."
#define LIVE_PREFIX "streamscope.live."
enum { K_INDEX, K_OFFSET, K_GAP, K_KIND, K_SIZE, K_TOKENS, K_CONTENT, K_UNKNOWN, K_LIVE };

static int key_of(Bytes k) {
    static const char *names[] = {"index", "offset", "gap", "kind", "size", "tokens", "content"};
    const Py_ssize_t plen = sizeof CHUNK_PREFIX - 1;
    if (k.n > plen && memcmp(k.p, CHUNK_PREFIX, plen) == 0) {
        for (int i = 0; i < 7; i++) {
            Py_ssize_t n = (Py_ssize_t)strlen(names[i]);
            if (k.n - plen == n && memcmp(k.p + plen, names[i], n) == 0) return i;
        }
        return K_UNKNOWN;
    }
    if (k.n >= (Py_ssize_t)sizeof LIVE_PREFIX - 1 && memcmp(k.p, LIVE_PREFIX, sizeof LIVE_PREFIX - 1) == 0)
        return K_LIVE;
    return K_UNKNOWN;
}

typedef struct {
    long long index, size, tokens;
    double offset, gap;
    int has_offset, has_gap, has_tokens;
    Bytes kind, content;
    int has_kind, has_content;
} ChunkFields;

/* The chunk's fields from its attributes, in order (a later attribute with the same key wins, a value of the
 * wrong type is ignored: decode._chunk's rules). BAIL also when the span carries the in-flight signal. */
static int chunk_fields(Buf span, ChunkFields *c) {
    memset(c, 0, sizeof *c);
    for (;;) {
        uint32_t f;
        int wt, more;
        if (tag(&span, &f, &wt, &more) != OK) return BAIL;
        if (!more) return OK;
        if (f != 9) {
            if (skip(&span, wt) != OK) return BAIL;
            continue;
        }
        if (wt != 2) return BAIL;
        Buf kv, vbuf = {NULL, NULL};
        Bytes key = {(const uint8_t *)"", 0};
        int values = 0;
        if (delimited(&span, &kv) != OK) return BAIL;
        for (;;) { /* KeyValue: key = 1, value = 2 */
            uint32_t kf;
            int kwt, kmore;
            if (tag(&kv, &kf, &kwt, &kmore) != OK) return BAIL;
            if (!kmore) break;
            if (kf == 1 || kf == 2) {
                Buf s;
                if (kwt != 2 || delimited(&kv, &s) != OK) return BAIL;
                if (kf == 1) {
                    key.p = s.p;
                    key.n = s.end - s.p;
                } else {
                    vbuf = s;
                    values++;
                }
            } else if (skip(&kv, kwt) != OK) {
                return BAIL;
            }
        }
        if (values > 1) return BAIL; /* upb merges repeated message fields */
        int k = key_of(key);
        if (k == K_LIVE) return BAIL;
        if (k == K_UNKNOWN) continue;
        Value v = {V_NONE, 0, {NULL, 0}};
        if (values && any_value(vbuf, &v) != OK) return BAIL;
        long long i;
        double d;
        switch (k) {
        case K_INDEX:
            if (integral(&v, &i)) c->index = i;
            break;
        case K_SIZE:
            if (integral(&v, &i)) c->size = i;
            break;
        case K_TOKENS:
            if (integral(&v, &i)) {
                c->tokens = i;
                c->has_tokens = 1;
            }
            break;
        case K_OFFSET:
            if (numeric(&v, &d) && d >= -MAX_SECONDS && d <= MAX_SECONDS) {
                c->offset = d;
                c->has_offset = 1;
            }
            break;
        case K_GAP:
            if (numeric(&v, &d) && d >= -MAX_SECONDS && d <= MAX_SECONDS) {
                c->gap = d;
                c->has_gap = 1;
            }
            break;
        case K_KIND:
            if (v.which == V_STRING) {
                c->kind = v.str;
                c->has_kind = 1;
            }
            break;
        case K_CONTENT:
            if (v.which == V_STRING) {
                c->content = v.str;
                c->has_content = 1;
            }
            break;
        }
    }
}

static PyObject *new_chunk(PyObject *parent, const ChunkFields *c) {
    PyObject *items[8] = {NULL};
    Py_INCREF(parent);
    items[0] = parent;
    items[1] = PyLong_FromLongLong(c->index);
    items[2] = PyFloat_FromDouble(c->has_offset ? c->offset : 0.0);
    items[3] = c->has_gap ? PyFloat_FromDouble(c->gap) : Py_NewRef(Py_None);
    items[4] = c->has_kind ? text(c->kind, KIND_CHARS) : Py_NewRef(default_kind);
    items[5] = PyLong_FromLongLong(c->size);
    items[6] = c->has_tokens ? PyLong_FromLongLong(c->tokens) : Py_NewRef(Py_None);
    items[7] = c->has_content ? text(c->content, MAX_STRING) : Py_NewRef(Py_None);
    PyObject *row = NULL;
    for (int i = 0; i < 8; i++)
        if (items[i] == NULL) goto done;
    row = chunk_type->tp_alloc(chunk_type, 8);
    if (row == NULL) goto done;
    for (int i = 0; i < 8; i++) {
        PyTuple_SET_ITEM(row, i, items[i]);
        items[i] = NULL;
    }
done:
    for (int i = 0; i < 8; i++) Py_XDECREF(items[i]);
    return row;
}

/* -- the request ------------------------------------------------------------------------------------- */
enum { R_NONE, R_TRACE_ID, R_SPAN_ID, R_PARENT_ID, R_TIME };

typedef struct {
    uint64_t horizon;
    long received, rejected;
    int reason;
    PyObject *chunks, *others;
    Bytes last_parent; /* the hex str of the last parent id, reused across its chunks */
    PyObject *last_parent_hex;
} Walk;

static int nonzero(Bytes b) {
    for (Py_ssize_t i = 0; i < b.n; i++)
        if (b.p[i]) return 1;
    return 0;
}

static int reject(Walk *w, int reason) {
    w->rejected++;
    if (!w->reason) w->reason = reason;
    return OK;
}

static int other(Walk *w, Py_ssize_t rs, Py_ssize_t ss, Py_ssize_t sp, Py_ssize_t pos) {
    PyObject *t = Py_BuildValue("(nnnn)", rs, ss, sp, pos);
    if (t == NULL) return FAIL;
    int err = PyList_Append(w->others, t);
    Py_DECREF(t);
    return err ? FAIL : OK;
}

static PyObject *parent_hex(Walk *w, Bytes pid) {
    if (w->last_parent_hex != NULL && w->last_parent.n == pid.n && memcmp(w->last_parent.p, pid.p, pid.n) == 0)
        return w->last_parent_hex;
    static const char digits[] = "0123456789abcdef";
    char hex[16];
    for (int i = 0; i < 8; i++) {
        hex[2 * i] = digits[pid.p[i] >> 4];
        hex[2 * i + 1] = digits[pid.p[i] & 15];
    }
    PyObject *s = PyUnicode_FromStringAndSize(hex, 16);
    if (s == NULL) return NULL;
    Py_XSETREF(w->last_parent_hex, s);
    w->last_parent = pid;
    return s;
}

static int span(Walk *w, Buf b, Py_ssize_t rs, Py_ssize_t ss, Py_ssize_t sp) {
    Bytes tid = {NULL, 0}, sid = {NULL, 0}, pid = {NULL, 0}, name = {NULL, 0};
    uint64_t start = 0, end = 0;
    Buf all = b;
    for (;;) {
        uint32_t f;
        int wt, more;
        if (tag(&b, &f, &wt, &more) != OK) return BAIL;
        if (!more) break;
        if (f == 1 || f == 2 || f == 4 || f == 5) {
            Buf s;
            if (wt != 2 || delimited(&b, &s) != OK) return BAIL;
            Bytes v = {s.p, s.end - s.p};
            if (f == 1) tid = v;
            else if (f == 2) sid = v;
            else if (f == 4) pid = v;
            else name = v;
        } else if (f == 7 || f == 8) {
            if (wt != 1 || fixed64(&b, f == 7 ? &start : &end) != OK) return BAIL;
        } else if (skip(&b, wt) != OK) {
            return BAIL;
        }
    }
    w->received++;
    if (tid.n != 16 || !nonzero(tid)) return reject(w, R_TRACE_ID);
    if (sid.n != 8 || !nonzero(sid)) return reject(w, R_SPAN_ID);
    if (pid.n && pid.n != 8) return reject(w, R_PARENT_ID);
    if (start == 0 || start > w->horizon || end > w->horizon) return reject(w, R_TIME);
    static const char chunk_name[] = "streamscope.chunk";
    int is_chunk = name.n == (Py_ssize_t)sizeof chunk_name - 1 && memcmp(name.p, chunk_name, name.n) == 0 &&
                   pid.n && nonzero(pid);
    if (!is_chunk) return other(w, rs, ss, sp, -1);
    ChunkFields c;
    int r = chunk_fields(all, &c);
    if (r == BAIL) { /* Python decodes this one; keep its place */
        if (PyList_Append(w->chunks, Py_None)) return FAIL;
        return other(w, rs, ss, sp, PyList_GET_SIZE(w->chunks) - 1);
    }
    PyObject *parent = parent_hex(w, pid);
    if (parent == NULL) return FAIL;
    PyObject *row = new_chunk(parent, &c);
    if (row == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) return FAIL;
        PyErr_Clear(); /* cannot happen after upb's UTF-8 check; if it does, Python decides */
        if (PyList_Append(w->chunks, Py_None)) return FAIL;
        return other(w, rs, ss, sp, PyList_GET_SIZE(w->chunks) - 1);
    }
    int err = PyList_Append(w->chunks, row);
    Py_DECREF(row);
    return err ? FAIL : OK;
}

/* Walk one repeated field (``field``, wire type 2) of a message, calling ``each`` on every element. */
#define EACH(buf, FIELD, VAR, BODY)                                                                        \
    do {                                                                                                   \
        Buf _b = (buf);                                                                                    \
        for (;;) {                                                                                         \
            uint32_t _f;                                                                                   \
            int _wt, _more;                                                                                \
            if (tag(&_b, &_f, &_wt, &_more) != OK) return BAIL;                                            \
            if (!_more) break;                                                                             \
            if (_f != (FIELD)) {                                                                           \
                if (skip(&_b, _wt) != OK) return BAIL;                                                     \
                continue;                                                                                  \
            }                                                                                              \
            Buf VAR;                                                                                       \
            if (_wt != 2 || delimited(&_b, &VAR) != OK) return BAIL;                                       \
            BODY                                                                                           \
        }                                                                                                  \
    } while (0)

static int request(Walk *w, Buf body) {
    Py_ssize_t rs = 0;
    EACH(body, 1, rsb, {
        Py_ssize_t ss = 0;
        EACH(rsb, 2, ssb, {
            Py_ssize_t sp = 0;
            EACH(ssb, 2, spb, {
                int r = span(w, spb, rs, ss, sp);
                if (r != OK) return r;
                sp++;
            });
            ss++;
        });
        rs++;
    });
    return OK;
}

static PyObject *walk(PyObject *self, PyObject *args) {
    Py_buffer view;
    unsigned long long horizon;
    if (chunk_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_fastotlp.configure(Chunk) was not called");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "y*K", &view, &horizon)) return NULL;
    Walk w = {horizon, 0, 0, R_NONE, PyList_New(0), PyList_New(0), {NULL, 0}, NULL};
    PyObject *out = NULL;
    if (w.chunks != NULL && w.others != NULL) {
        Buf body = {(const uint8_t *)view.buf, (const uint8_t *)view.buf + view.len};
        int r = request(&w, body);
        if (r == OK)
            out = Py_BuildValue("(lliOO)", w.received, w.rejected, w.reason, w.chunks, w.others);
        else if (r == BAIL)
            out = Py_NewRef(Py_None);
    }
    Py_XDECREF(w.chunks);
    Py_XDECREF(w.others);
    Py_XDECREF(w.last_parent_hex);
    PyBuffer_Release(&view);
    return out;
}

static PyObject *configure(PyObject *self, PyObject *arg) {
    if (!PyType_Check(arg) || !PyType_IsSubtype((PyTypeObject *)arg, &PyTuple_Type) ||
        ((PyTypeObject *)arg)->tp_basicsize != PyTuple_Type.tp_basicsize ||
        ((PyTypeObject *)arg)->tp_itemsize != PyTuple_Type.tp_itemsize) {
        PyErr_SetString(PyExc_TypeError, "configure() needs a tuple subclass without instance attributes");
        return NULL;
    }
    Py_INCREF(arg);
    Py_XSETREF(chunk_type, (PyTypeObject *)arg);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS, "walk(body, horizon_ns) -> None | (received, rejected, reason, chunks, others)"},
    {"configure", configure, METH_O, "configure(Chunk): the row type to build"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastotlp", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastotlp(void) {
    default_kind = PyUnicode_InternFromString("content");
    if (default_kind == NULL) return NULL;
    return PyModule_Create(&module);
}
