/* Chunk rows packed column by column for the SQLite writer process (``_fastotlp.pack_chunks``). */
#include "_fastotlp_rows.h"

/* -- chunk rows packed for the SQLite writer process (collector/chunk_columns.py reads them) -------------
 *
 *     pack_chunks(chunks: sequence of Chunk) -> bytes | None
 *
 * One buffer per column instead of a pickled object per field: n, then index / offset / gap / size / tokens as
 * n native int64 or double each (a None gap or tokens as 0 with its flag set), the two flag bytes per row (gap
 * None, tokens None), then span_id and kind as runs of equal values (count, UTF-8 length, UTF-8 bytes). None when
 * a row is anything else than the decoders make (a str subclass, a bool, an int beyond 64 bits, content that is
 * not None, a string without a UTF-8 form): the caller then sends the fields themselves. */
typedef struct {
    char *p;
    Py_ssize_t n, cap;
} Out;

static int out_put(Out *o, const void *src, Py_ssize_t n) {
    if (o->n + n > o->cap) {
        Py_ssize_t cap = (o->n + n) * 2;
        char *p = PyMem_Realloc(o->p, cap);
        if (p == NULL) return -1;
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->n, src, n);
    o->n += n;
    return 0;
}

static int exact_int(PyObject *v, long long *out) {
    int overflow = 0;
    if (!PyLong_CheckExact(v)) return 0;
    *out = PyLong_AsLongLongAndOverflow(v, &overflow);
    return !overflow && !(*out == -1 && PyErr_Occurred());
}

/* Runs of equal exact str values of field ``f``: 1 done, 0 not packable, -1 no memory. */
static int str_runs(Out *o, PyObject *const *rows, Py_ssize_t n, Py_ssize_t f) {
    long long nruns = 0;
    Py_ssize_t at = o->n;
    if (out_put(o, &nruns, 8) < 0) return -1;
    for (Py_ssize_t i = 0; i < n;) {
        PyObject *v = PyTuple_GET_ITEM(rows[i], f);
        if (!PyUnicode_CheckExact(v)) return 0;
        Py_ssize_t j = i + 1;
        while (j < n) {
            PyObject *w = PyTuple_GET_ITEM(rows[j], f);
            if (w != v && (!PyUnicode_CheckExact(w) || PyUnicode_Compare(v, w) != 0)) break;
            j++;
        }
        Py_ssize_t len;
        const char *utf8 = PyUnicode_AsUTF8AndSize(v, &len);
        if (utf8 == NULL) {
            PyErr_Clear(); /* a lone surrogate has no UTF-8 form */
            return 0;
        }
        long long count = j - i, bytes = len;
        if (out_put(o, &count, 8) < 0 || out_put(o, &bytes, 8) < 0 || out_put(o, utf8, len) < 0) return -1;
        nruns++;
        i = j;
    }
    memcpy(o->p + at, &nruns, 8);
    return 1;
}

PyObject *fo_pack_chunks(PyObject *self, PyObject *arg) {
    PyObject *seq = PySequence_Fast(arg, "pack_chunks() needs a sequence of chunk rows");
    if (seq == NULL) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject *const *rows = PySequence_Fast_ITEMS(seq);
    Out o = {NULL, 0, 0};
    PyObject *result = NULL;
    int ok = 1;
    Py_ssize_t fixed = 8 + n * (5 * 8 + 2);
    o.p = PyMem_Malloc(fixed + 64);
    if (o.p == NULL) goto nomem;
    o.cap = fixed + 64;
    o.n = fixed;
    long long total = n;
    memcpy(o.p, &total, 8);
    long long *index = (long long *)(o.p + 8), *size = index + 3 * n, *tokens = index + 4 * n;
    double *offset = (double *)(index + n), *gap = (double *)(index + 2 * n);
    uint8_t *gap_none = (uint8_t *)(index + 5 * n), *tokens_none = gap_none + n;
    for (Py_ssize_t i = 0; ok && i < n; i++) {
        PyObject *r = rows[i];
        if (!PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 8) {
            ok = 0;
            break;
        }
        PyObject *off = PyTuple_GET_ITEM(r, 2), *g = PyTuple_GET_ITEM(r, 3), *t = PyTuple_GET_ITEM(r, 6);
        long long x;
        ok = exact_int(PyTuple_GET_ITEM(r, 1), &index[i]) && PyFloat_CheckExact(off) &&
             (g == Py_None || PyFloat_CheckExact(g)) && exact_int(PyTuple_GET_ITEM(r, 5), &size[i]) &&
             (t == Py_None || exact_int(t, &x)) && PyTuple_GET_ITEM(r, 7) == Py_None;
        if (!ok) break;
        offset[i] = PyFloat_AS_DOUBLE(off);
        gap[i] = g == Py_None ? 0.0 : PyFloat_AS_DOUBLE(g);
        gap_none[i] = g == Py_None;
        tokens[i] = t == Py_None ? 0 : x;
        tokens_none[i] = t == Py_None;
    }
    if (PyErr_Occurred()) goto done;
    if (ok) {
        int a = str_runs(&o, rows, n, 0);
        int b = a == 1 ? str_runs(&o, rows, n, 4) : a;
        if (a < 0 || b < 0) goto nomem;
        ok = a == 1 && b == 1;
    }
    result = ok ? PyBytes_FromStringAndSize(o.p, o.n) : Py_NewRef(Py_None);
    goto done;
nomem:
    PyErr_NoMemory();
done:
    PyMem_Free(o.p);
    Py_DECREF(seq);
    return result;
}
