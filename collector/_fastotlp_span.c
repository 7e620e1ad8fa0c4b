/* Spans that are not chunk spans (HTTP server spans, GenAI spans of any dialect, unknown chunk-like children)
 * decoded into collector.model.Span objects with their attribute dicts, without a Python object per protobuf
 * field. The reference is decode._span / decode._attrs / decode._any / decode._Context; anything this file does
 * not read exactly as upb + those functions would (a value field given twice, a message-typed value merged by
 * upb, a wire type other than the schema's, events) returns BAIL and the span is decoded in Python.
 * tests/collector/test_fastotlp.py runs both on generated and mutated requests.
 */
#include "_fastotlp_span.h"

#define NAME_CHARS 1024
#define STATUS_CHARS 4096
#define SCOPE_CHARS 256
#define ID_CHARS 256 /* session and user ids, the service name */
#define MAX_DEPTH 200 /* nested array/kvlist values; upb's own limit is lower */
#define SPAN_FIELDS 16

static PyTypeObject *span_type = NULL;
static PyObject *field_names[SPAN_FIELDS];
static PyObject *session_keys = NULL, *user_keys = NULL, *dropped_key = NULL;
static PyObject *unknown_service = NULL, *service_key = NULL, *empty_str = NULL, *empty_tuple = NULL;
static Py_ssize_t max_attributes = 0;

static const char *const expected_fields[SPAN_FIELDS] = {
    "trace_id", "span_id", "parent_span_id", "name", "kind", "start_ns", "end_ns", "status_code",
    "status_message", "service", "attributes", "events", "resource", "scope", "session_id", "user_id"};

int fo_span_configure(PyObject *type, PyObject *names, PyObject *sessions, PyObject *users, PyObject *dropped,
                      Py_ssize_t max_attrs) {
    if (!PyType_Check(type) || !PyTuple_Check(names) || PyTuple_GET_SIZE(names) != SPAN_FIELDS ||
        !PyTuple_Check(sessions) || !PyTuple_Check(users) || !PyUnicode_Check(dropped) || max_attrs < 1) {
        PyErr_SetString(PyExc_TypeError, "configure(): the Span type, its field names, the session and user keys, "
                                         "the dropped-attributes key and the attribute limit");
        return -1;
    }
    for (int i = 0; i < SPAN_FIELDS; i++) {
        PyObject *n = PyTuple_GET_ITEM(names, i);
        if (!PyUnicode_Check(n) || PyUnicode_CompareWithASCIIString(n, expected_fields[i]) != 0) {
            PyErr_SetString(PyExc_TypeError, "configure(): Span's fields are not the ones this walker builds");
            return -1;
        }
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(sessions) + PyTuple_GET_SIZE(users); i++) {
        PyObject *k = i < PyTuple_GET_SIZE(sessions) ? PyTuple_GET_ITEM(sessions, i)
                                                     : PyTuple_GET_ITEM(users, i - PyTuple_GET_SIZE(sessions));
        if (!PyUnicode_CheckExact(k)) {
            PyErr_SetString(PyExc_TypeError, "configure(): session and user keys must be str");
            return -1;
        }
    }
    if (unknown_service == NULL) {
        unknown_service = PyUnicode_InternFromString("unknown_service");
        service_key = PyUnicode_InternFromString("service.name");
        empty_str = PyUnicode_InternFromString("");
        empty_tuple = PyTuple_New(0);
        if (unknown_service == NULL || service_key == NULL || empty_str == NULL || empty_tuple == NULL) return -1;
    }
    for (int i = 0; i < SPAN_FIELDS; i++) {
        PyObject *n = PyTuple_GET_ITEM(names, i);
        Py_INCREF(n);
        PyUnicode_InternInPlace(&n);
        Py_XSETREF(field_names[i], n);
    }
    Py_INCREF(type);
    Py_XSETREF(span_type, (PyTypeObject *)type);
    Py_INCREF(sessions);
    Py_XSETREF(session_keys, sessions);
    Py_INCREF(users);
    Py_XSETREF(user_keys, users);
    Py_INCREF(dropped);
    Py_XSETREF(dropped_key, dropped);
    max_attributes = max_attrs;
    return 0;
}

int fo_span_ready(void) { return span_type != NULL; }

/* -- short strings, shared within one request ----------------------------------------------------------- */
void fo_interns_clear(Interns *in) {
    for (int i = 0; i < INTERN_SLOTS; i++) Py_CLEAR(in->slot[i].s);
}

/* A string field as str, cut to ``chars`` characters; strings of up to INTERN_BYTES bytes (never cut: chars is
 * larger) come from the request's cache of recent strings. */
static PyObject *str_of(Interns *in, Bytes b, Py_ssize_t chars) {
    if (b.n == 0) return Py_NewRef(empty_str); /* b.p may be NULL (a field not given) */
    if (b.n > INTERN_BYTES) return text(b, chars);
    uint32_t h = 2166136261u;
    for (Py_ssize_t i = 0; i < b.n; i++) h = (h ^ b.p[i]) * 16777619u;
    Interned *slot = &in->slot[h % INTERN_SLOTS];
    if (slot->s != NULL && slot->n == b.n && memcmp(slot->p, b.p, b.n) == 0) return Py_NewRef(slot->s);
    PyObject *s = text(b, chars);
    if (s == NULL) return NULL;
    Py_XSETREF(slot->s, Py_NewRef(s));
    slot->p = b.p;
    slot->n = b.n;
    return s;
}

/* -- attribute values (decode._any) ---------------------------------------------------------------------- */
static int key_value(Buf kv, Bytes *key, Buf *value, int *has_value) {
    key->p = (const uint8_t *)"";
    key->n = 0;
    *has_value = 0;
    for (;;) { /* KeyValue: key = 1, value = 2 */
        uint32_t f;
        int wt, more;
        if (tag(&kv, &f, &wt, &more) != OK) return BAIL;
        if (!more) return *has_value > 1 ? BAIL : OK; /* upb merges a value given twice */
        if (f == 1 || f == 2) {
            Buf s;
            if (wt != 2 || delimited(&kv, &s) != OK) return BAIL;
            if (f == 1) {
                key->p = s.p;
                key->n = s.end - s.p;
            } else {
                *value = s;
                (*has_value)++;
            }
        } else if (skip(&kv, wt) != OK) {
            return BAIL;
        }
    }
}

static int value(Buf b, int depth, PyObject **out, Interns *in);

/* ArrayValue (values = 1) as a list, KeyValueList (values = 1) as a dict. */
static int container(Buf b, int is_list, int depth, PyObject **out, Interns *in) {
    PyObject *c = is_list ? PyList_New(0) : PyDict_New();
    if (c == NULL) return FAIL;
    for (;;) {
        uint32_t f;
        int wt, more, r = BAIL;
        if (tag(&b, &f, &wt, &more) != OK) goto bail;
        if (!more) break;
        if (f != 1) {
            if (skip(&b, wt) != OK) goto bail;
            continue;
        }
        Buf item, vbuf = {NULL, NULL};
        if (wt != 2 || delimited(&b, &item) != OK) goto bail;
        PyObject *v = NULL, *k = NULL;
        if (is_list) {
            r = value(item, depth + 1, &v, in);
            if (r != OK) goto out;
            r = PyList_Append(c, v) ? FAIL : OK;
        } else {
            Bytes key;
            int has;
            if (key_value(item, &key, &vbuf, &has) != OK) goto bail;
            if (has) {
                r = value(vbuf, depth + 1, &v, in);
                if (r != OK) goto out;
            } else {
                v = Py_NewRef(Py_None);
            }
            k = str_of(in, key, PY_SSIZE_T_MAX);
            r = k == NULL || PyDict_SetItem(c, k, v) ? FAIL : OK;
        }
        Py_XDECREF(k);
        Py_XDECREF(v);
        if (r != OK) goto out;
        continue;
    out:
        Py_DECREF(c);
        return r;
    }
    *out = c;
    return OK;
bail:
    Py_DECREF(c);
    return BAIL;
}

/* AnyValue: a oneof, the last field given wins; a message-typed member next to any other value field is left
 * to upb's merge rules, i.e. to Python. */
static int value(Buf b, int depth, PyObject **out, Interns *in) {
    static const int wire[8] = {-1, 2, 0, 0, 1, 2, 2, 2};
    int which = 0, given = 0, messages = 0;
    uint64_t bits = 0;
    Buf payload = {NULL, NULL};
    if (depth > MAX_DEPTH) return BAIL;
    for (;;) {
        uint32_t f;
        int wt, more;
        if (tag(&b, &f, &wt, &more) != OK) return BAIL;
        if (!more) break;
        if (f < 1 || f > 7) {
            if (skip(&b, wt) != OK) return BAIL;
            continue;
        }
        if (wt != wire[f]) return BAIL; /* upb would keep it as an unknown field */
        which = (int)f;
        given++;
        messages += f == 5 || f == 6;
        if (wt == 0) {
            if (varint(&b, &bits) != OK) return BAIL;
        } else if (wt == 1) {
            if (fixed64(&b, &bits) != OK) return BAIL;
        } else if (delimited(&b, &payload) != OK) {
            return BAIL;
        }
    }
    if (messages && given > 1) return BAIL;
    Bytes s = {payload.p, payload.end - payload.p};
    double d;
    switch (which) {
    case 1: *out = str_of(in, s, MAX_STRING); break;
    case 2: *out = PyBool_FromLong(bits != 0); break;
    case 3: *out = PyLong_FromLongLong((long long)(int64_t)bits); break;
    case 4:
        memcpy(&d, &bits, sizeof d);
        *out = PyFloat_FromDouble(d);
        break;
    case 5: return container(payload, 1, depth, out, in);
    case 6: return container(payload, 0, depth, out, in);
    case 7: *out = hex_str(s); break;
    default: *out = Py_NewRef(Py_None);
    }
    return *out == NULL ? FAIL : OK;
}

/* decode._attrs over the repeated KeyValue field ``field`` of a message. */
static int attributes(Buf msg, uint32_t field, PyObject **out, Interns *in) {
    PyObject *d = PyDict_New();
    Py_ssize_t n = 0;
    int r = BAIL;
    if (d == NULL) return FAIL;
    for (;;) {
        uint32_t f;
        int wt, more, has;
        if (tag(&msg, &f, &wt, &more) != OK) goto done;
        if (!more) break;
        if (f != field) {
            if (skip(&msg, wt) != OK) goto done;
            continue;
        }
        Buf kv, vbuf = {NULL, NULL};
        Bytes key;
        if (wt != 2 || delimited(&msg, &kv) != OK) goto done;
        if (++n > max_attributes) continue; /* counted, not read */
        if (key_value(kv, &key, &vbuf, &has) != OK) goto done;
        PyObject *v = NULL, *k;
        if (has) {
            r = value(vbuf, 0, &v, in);
            if (r != OK) goto done;
        } else {
            v = Py_NewRef(Py_None);
        }
        k = str_of(in, key, PY_SSIZE_T_MAX);
        r = k == NULL || PyDict_SetItem(d, k, v) ? FAIL : OK;
        Py_XDECREF(k);
        Py_DECREF(v);
        if (r != OK) goto done;
    }
    if (n > max_attributes) {
        PyObject *dropped = PyLong_FromSsize_t(n - max_attributes);
        r = dropped == NULL || PyDict_SetItem(d, dropped_key, dropped) ? FAIL : OK;
        Py_XDECREF(dropped);
        if (r != OK) goto done;
    }
    *out = d;
    return OK;
done:
    Py_DECREF(d);
    return r == FAIL ? FAIL : BAIL;
}

/* str(v)[:chars] */
static PyObject *cut_str(PyObject *v, Py_ssize_t chars) {
    PyObject *s = PyObject_Str(v);
    if (s == NULL || PyUnicode_GET_LENGTH(s) <= chars) return s;
    PyObject *cut = PyUnicode_Substring(s, 0, chars);
    Py_DECREF(s);
    return cut;
}

/* decode._first: the first of ``keys`` whose value is neither None nor "", as str cut to 256 characters; a new
 * reference to ``fallback`` (None when NULL) when there is none. */
static PyObject *first(PyObject *attrs, PyObject *keys, PyObject *fallback) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(keys); i++) {
        PyObject *v = PyDict_GetItemWithError(attrs, PyTuple_GET_ITEM(keys, i));
        if (v == NULL) {
            if (PyErr_Occurred()) return NULL;
            continue;
        }
        if (v == Py_None || (PyUnicode_Check(v) && PyUnicode_GET_LENGTH(v) == 0)) continue;
        return cut_str(v, ID_CHARS);
    }
    return Py_NewRef(fallback != NULL ? fallback : Py_None);
}

/* -- resources and scopes --------------------------------------------------------------------------------- */
void fo_context_clear(SpanCtx *ctx) {
    Py_CLEAR(ctx->resource);
    Py_CLEAR(ctx->service);
    Py_CLEAR(ctx->r_session);
    Py_CLEAR(ctx->r_user);
}

/* The one embedded message ``field`` of ``msg`` (an empty buffer when absent); BAIL when it is given more than
 * once (upb merges the copies) or with another wire type. */
static int only(Buf msg, uint32_t field, Buf *out) {
    int seen = 0;
    out->p = out->end = msg.p;
    for (;;) {
        uint32_t f;
        int wt, more;
        if (tag(&msg, &f, &wt, &more) != OK) return BAIL;
        if (!more) return OK;
        if (f != field) {
            if (skip(&msg, wt) != OK) return BAIL;
            continue;
        }
        if (wt != 2 || seen++ || delimited(&msg, out) != OK) return BAIL;
    }
}

int fo_context(SpanCtx *ctx, Interns *in) {
    Buf resource;
    if (ctx->state != CTX_UNBUILT) return OK;
    ctx->state = CTX_PYTHON;
    if (only(ctx->rs, 1, &resource) != OK) return OK; /* ResourceSpans.resource = 1 */
    int r = attributes(resource, 1, &ctx->resource, in); /* Resource.attributes = 1 */
    if (r != OK) return r == FAIL ? FAIL : OK;
    PyObject *v = PyDict_GetItemWithError(ctx->resource, service_key);
    if (v == NULL && PyErr_Occurred()) return FAIL;
    int truthy = v == NULL ? 0 : PyObject_IsTrue(v);
    if (truthy < 0) return FAIL;
    ctx->service = truthy ? cut_str(v, ID_CHARS) : Py_NewRef(unknown_service);
    if (ctx->service == NULL) return FAIL;
    ctx->r_session = first(ctx->resource, session_keys, NULL);
    ctx->r_user = ctx->r_session == NULL ? NULL : first(ctx->resource, user_keys, NULL);
    if (ctx->r_user == NULL) return FAIL;
    ctx->state = CTX_READY;
    return OK;
}

int fo_scope_name(Buf scope_spans, PyObject **out, Interns *in) {
    Buf scope;
    Bytes name = {(const uint8_t *)"", 0};
    if (only(scope_spans, 1, &scope) != OK) return BAIL; /* ScopeSpans.scope = 1 */
    for (;;) { /* InstrumentationScope.name = 1; the last one given wins */
        uint32_t f;
        int wt, more;
        if (tag(&scope, &f, &wt, &more) != OK) return BAIL;
        if (!more) break;
        if (f == 1) {
            Buf s;
            if (wt != 2 || delimited(&scope, &s) != OK) return BAIL;
            name.p = s.p;
            name.n = s.end - s.p;
        } else if (skip(&scope, wt) != OK) {
            return BAIL;
        }
    }
    *out = str_of(in, name, SCOPE_CHARS);
    return *out == NULL ? FAIL : OK;
}

/* -- the span ---------------------------------------------------------------------------------------------- */
static int status_fields(Bytes status, uint64_t *code, Bytes *message) {
    *code = 0;
    message->p = (const uint8_t *)"";
    message->n = 0;
    if (status.n == 0) return OK; /* no status given: status.p may be NULL */
    Buf b = {status.p, status.p + status.n};
    for (;;) { /* Status: message = 2, code = 3 */
        uint32_t f;
        int wt, more;
        if (tag(&b, &f, &wt, &more) != OK) return BAIL;
        if (!more) return OK;
        if (f == 2) {
            Buf s;
            if (wt != 2 || delimited(&b, &s) != OK) return BAIL;
            message->p = s.p;
            message->n = s.end - s.p;
        } else if (f == 3) {
            if (wt != 0 || varint(&b, code) != OK) return BAIL;
        } else if (skip(&b, wt) != OK) {
            return BAIL;
        }
    }
}

int fo_span(PyObject **out, Buf span, const SpanFields *f, PyObject *parent, const SpanCtx *ctx, PyObject *scope,
            Interns *in) {
    uint64_t code;
    Bytes message;
    PyObject *v[SPAN_FIELDS] = {NULL};
    PyObject *obj = NULL;
    int r = FAIL;
    if (f->events || f->statuses > 1 || f->odd || status_fields(f->status, &code, &message) != OK) return BAIL;
    r = attributes(span, 9, &v[10], in); /* Span.attributes = 9 */
    if (r != OK) return r;
    r = FAIL;
    v[0] = hex_str(f->tid);
    v[1] = hex_str(f->sid);
    v[2] = Py_NewRef(parent != NULL ? parent : Py_None);
    v[3] = str_of(in, f->name, NAME_CHARS);
    v[4] = PyLong_FromLong((long)(int32_t)(uint32_t)f->kind); /* an int32 enum: upb keeps the low 32 bits */
    v[5] = PyLong_FromUnsignedLongLong(f->start);
    v[6] = PyLong_FromUnsignedLongLong(f->end > f->start ? f->end : f->start);
    v[7] = PyLong_FromLong((long)(int32_t)(uint32_t)code);
    v[8] = message.n ? text(message, STATUS_CHARS) : Py_NewRef(empty_str);
    v[9] = Py_NewRef(ctx->service);
    v[11] = Py_NewRef(empty_tuple);
    v[12] = Py_NewRef(ctx->resource);
    v[13] = Py_NewRef(scope);
    v[14] = first(v[10], session_keys, ctx->r_session);
    v[15] = v[14] == NULL ? NULL : first(v[10], user_keys, ctx->r_user);
    for (int i = 0; i < SPAN_FIELDS; i++)
        if (v[i] == NULL) goto done;
    obj = span_type->tp_alloc(span_type, 0);
    if (obj == NULL) goto done;
    for (int i = 0; i < SPAN_FIELDS; i++) /* the slots, as object.__setattr__ sets them in a frozen dataclass */
        if (PyObject_GenericSetAttr(obj, field_names[i], v[i]) < 0) {
            Py_CLEAR(obj);
            goto done;
        }
    *out = obj;
    r = OK;
done:
    for (int i = 0; i < SPAN_FIELDS; i++) Py_XDECREF(v[i]);
    return r;
}
