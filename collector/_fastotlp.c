/* The ingest hot path in C: walk an OTLP ExportTraceServiceRequest that upb has already parsed (so the wire
 * format and every string's UTF-8 are known good) and turn its chunk spans into Chunk rows and its other spans
 * into Span objects (collector/_fastotlp_span.c) without building a Python object per protobuf field.
 *
 * This is an accelerator, not a second decoder: collector/decode.py stays the reference. Everything here is
 * bounds-checked anyway, and anything this walker does not handle exactly as upb + decode.py would (a wire type
 * other than the schema's for a field it reads, a value field given twice, groups, an in-flight signal on a
 * chunk, events on a span) makes it hand that span, or the whole request, back to the Python decoder.
 * tests/collector/test_fastotlp.py checks both paths give equal results on generated and mutated requests.
 *
 *     walk(body: bytes, horizon_ns: int) -> None | (received, rejected, reason, chunks, spans, others)
 *
 * None: decode the whole request in Python. Otherwise ``chunks`` holds a Chunk per valid chunk span in body
 * order and ``spans`` a Span per other valid span in body order (None where Python must decode that span);
 * ``others`` one (resource, scope, span, chunk position or -1, span position or -1) per valid span left to
 * Python; ``reason`` the code of the first rejection (decode.REJECT_REASONS).
 *
 * The module also counts a request's spans on the wire before the parse (collector/_fastotlp_count.c) and packs
 * chunk rows column by column for the SQLite writer process (collector/_fastotlp_pack.c).
 */
#include "_fastotlp_span.h"
#include "_fastotlp_rows.h"

#define KIND_CHARS 32
#define MAX_SECONDS 1e7 /* decode.MAX_SECONDS: offsets and gaps beyond it, or not finite, are ignored */

static PyTypeObject *chunk_type = NULL; /* collector.model.Chunk, a tuple subclass */
static PyObject *default_kind = NULL;   /* "content" */

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
    PyObject *chunks, *spans, *others;
    Bytes last_parent; /* the hex str of the last parent id, reused across its chunks */
    PyObject *last_parent_hex;
    Interns interns;
} Walk;

/* The resource and scope of the spans being walked; each built when a span first needs it. */
typedef struct {
    SpanCtx ctx;
    Buf scope_spans;
    PyObject *scope; /* NULL until built */
    int scope_state; /* CTX_* */
} Place;

static int reject(Walk *w, int reason) {
    w->rejected++;
    if (!w->reason) w->reason = reason;
    return OK;
}

/* A span left to Python: its place in the request, and its slot in ``chunks`` or ``spans`` (None there). */
static int other(Walk *w, Py_ssize_t rs, Py_ssize_t ss, Py_ssize_t sp, PyObject *list) {
    if (PyList_Append(list, Py_None)) return FAIL;
    Py_ssize_t pos = PyList_GET_SIZE(list) - 1, none = -1;
    PyObject *t = Py_BuildValue("(nnnnn)", rs, ss, sp, list == w->chunks ? pos : none, list == w->spans ? pos : none);
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

static PyObject *parent_of(Walk *w, Bytes pid) {
    return pid.n && nonzero(pid) ? parent_hex(w, pid) : Py_None;
}

/* A span that is not a chunk span: a Span built here, or left to Python. */
static int generic(Walk *w, Buf all, const SpanFields *f, Place *at, Py_ssize_t rs, Py_ssize_t ss, Py_ssize_t sp) {
    if (!fo_span_ready()) return other(w, rs, ss, sp, w->spans);
    if (fo_context(&at->ctx, &w->interns) == FAIL) return FAIL;
    if (at->scope_state == CTX_UNBUILT) {
        int r = fo_scope_name(at->scope_spans, &at->scope, &w->interns);
        if (r == FAIL) return FAIL;
        at->scope_state = r == OK ? CTX_READY : CTX_PYTHON;
    }
    if (at->ctx.state != CTX_READY || at->scope_state != CTX_READY) return other(w, rs, ss, sp, w->spans);
    PyObject *parent = parent_of(w, f->pid), *obj = NULL;
    if (parent == NULL) return FAIL;
    int r = fo_span(&obj, all, f, parent == Py_None ? NULL : parent, &at->ctx, at->scope, &w->interns);
    if (r == BAIL) return other(w, rs, ss, sp, w->spans);
    if (r == FAIL) return FAIL;
    int err = PyList_Append(w->spans, obj);
    Py_DECREF(obj);
    return err ? FAIL : OK;
}

static int span(Walk *w, Buf b, Place *at, Py_ssize_t rs, Py_ssize_t ss, Py_ssize_t sp) {
    SpanFields f;
    memset(&f, 0, sizeof f);
    Buf all = b;
    for (;;) {
        uint32_t n;
        int wt, more;
        if (tag(&b, &n, &wt, &more) != OK) return BAIL;
        if (!more) break;
        if (n == 1 || n == 2 || n == 4 || n == 5) {
            Buf s;
            if (wt != 2 || delimited(&b, &s) != OK) return BAIL;
            Bytes v = {s.p, s.end - s.p};
            if (n == 1) f.tid = v;
            else if (n == 2) f.sid = v;
            else if (n == 4) f.pid = v;
            else f.name = v;
        } else if (n == 7 || n == 8) {
            if (wt != 1 || fixed64(&b, n == 7 ? &f.start : &f.end) != OK) return BAIL;
        } else if (n == 6 && wt == 0) { /* kind */
            if (varint(&b, &f.kind) != OK) return BAIL;
        } else if (n == 15 && wt == 2) { /* status */
            Buf s;
            if (delimited(&b, &s) != OK) return BAIL;
            f.status.p = s.p;
            f.status.n = s.end - s.p;
            f.statuses++;
        } else {
            f.events += n == 11;
            f.odd |= n == 6 || n == 15;
            if (skip(&b, wt) != OK) return BAIL;
        }
    }
    w->received++;
    if (f.tid.n != 16 || !nonzero(f.tid)) return reject(w, R_TRACE_ID);
    if (f.sid.n != 8 || !nonzero(f.sid)) return reject(w, R_SPAN_ID);
    if (f.pid.n && f.pid.n != 8) return reject(w, R_PARENT_ID);
    if (f.start == 0 || f.start > w->horizon || f.end > w->horizon) return reject(w, R_TIME);
    static const char chunk_name[] = "streamscope.chunk";
    int is_chunk = f.name.n == (Py_ssize_t)sizeof chunk_name - 1 && memcmp(f.name.p, chunk_name, f.name.n) == 0 &&
                   f.pid.n && nonzero(f.pid);
    if (!is_chunk) return generic(w, all, &f, at, rs, ss, sp);
    ChunkFields c;
    if (chunk_fields(all, &c) == BAIL) return other(w, rs, ss, sp, w->chunks); /* Python decodes this one */
    PyObject *parent = parent_hex(w, f.pid);
    if (parent == NULL) return FAIL;
    PyObject *row = new_chunk(parent, &c);
    if (row == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) return FAIL;
        PyErr_Clear(); /* cannot happen after upb's UTF-8 check; if it does, Python decides */
        return other(w, rs, ss, sp, w->chunks);
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

static int scope_spans(Walk *w, Place *at, Py_ssize_t rs) {
    Py_ssize_t ss = 0;
    EACH(at->ctx.rs, 2, ssb, {
        Py_ssize_t sp = 0;
        at->scope_spans = ssb;
        at->scope_state = CTX_UNBUILT;
        Py_CLEAR(at->scope);
        EACH(ssb, 2, spb, {
            int r = span(w, spb, at, rs, ss, sp);
            if (r != OK) return r;
            sp++;
        });
        ss++;
    });
    return OK;
}

static int request(Walk *w, Buf body) {
    Py_ssize_t rs = 0;
    EACH(body, 1, rsb, {
        Place at;
        memset(&at, 0, sizeof at);
        at.ctx.rs = rsb;
        int r = scope_spans(w, &at, rs);
        fo_context_clear(&at.ctx);
        Py_CLEAR(at.scope);
        if (r != OK) return r;
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
    Walk *w = PyMem_Calloc(1, sizeof(Walk)); /* the interned strings make it too large for the stack */
    if (w == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    w->horizon = horizon;
    w->chunks = PyList_New(0);
    w->spans = PyList_New(0);
    w->others = PyList_New(0);
    PyObject *out = NULL;
    if (w->chunks != NULL && w->spans != NULL && w->others != NULL) {
        Buf body = {(const uint8_t *)view.buf, (const uint8_t *)view.buf + view.len};
        int r = request(w, body);
        if (r == OK)
            out = Py_BuildValue("(lliOOO)", w->received, w->rejected, w->reason, w->chunks, w->spans, w->others);
        else if (r == BAIL)
            out = Py_NewRef(Py_None);
    }
    Py_XDECREF(w->chunks);
    Py_XDECREF(w->spans);
    Py_XDECREF(w->others);
    Py_XDECREF(w->last_parent_hex);
    fo_interns_clear(&w->interns);
    PyMem_Free(w);
    PyBuffer_Release(&view);
    return out;
}

static PyObject *configure(PyObject *self, PyObject *args) {
    PyObject *arg, *span = NULL, *names = NULL, *sessions = NULL, *users = NULL, *dropped = NULL;
    Py_ssize_t max_attrs = 0;
    if (!PyArg_ParseTuple(args, "O|OOOOOn", &arg, &span, &names, &sessions, &users, &dropped, &max_attrs))
        return NULL;
    if (!PyType_Check(arg) || !PyType_IsSubtype((PyTypeObject *)arg, &PyTuple_Type) ||
        ((PyTypeObject *)arg)->tp_basicsize != PyTuple_Type.tp_basicsize ||
        ((PyTypeObject *)arg)->tp_itemsize != PyTuple_Type.tp_itemsize) {
        PyErr_SetString(PyExc_TypeError, "configure() needs a tuple subclass without instance attributes");
        return NULL;
    }
    if (span != NULL && fo_span_configure(span, names, sessions, users, dropped, max_attrs) < 0) return NULL;
    Py_INCREF(arg);
    Py_XSETREF(chunk_type, (PyTypeObject *)arg);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS,
     "walk(body, horizon_ns) -> None | (received, rejected, reason, chunks, spans, others)"},
    {"configure", configure, METH_VARARGS,
     "configure(Chunk[, Span, fields, session_keys, user_keys, dropped_key, max_attributes]): the types to build"},
    {"pack_chunks", fo_pack_chunks, METH_O,
     "pack_chunks(chunks) -> bytes | None: chunk rows column by column (collector/chunk_columns.py)"},
#ifdef __SIZEOF_INT128__
    {"count_spans", fo_count_spans, METH_VARARGS,
     "count_spans(body, limit) -> int: collector.wire.count_spans in C (the same count, step for step)"},
#endif
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastotlp", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastotlp(void) {
    default_kind = PyUnicode_InternFromString("content");
    if (default_kind == NULL) return NULL;
    return PyModule_Create(&module);
}
