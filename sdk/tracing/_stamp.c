/* One text chunk recorded in a stream's two columns, without a Python frame (streamscope/tracing/handler.py).
 *
 *     stamp = Stamper(arrived, payloads)
 *     stamp(text)   # arrived.append(time.perf_counter_ns()); payloads.append(text)
 *
 * The engine's model loop calls a tracing handler's ``token_sink(run_id).text`` for every chunk that is only its
 * text; this is that function. A Python closure doing the same costs a frame per chunk on the consumer's thread.
 * The call never raises for a list that can grow: the time is appended first and the text second, so a reader of
 * the columns that takes ``len(payloads)`` records only sees complete ones. This is an accelerator: the handler
 * falls back to the Python closure when the module is not built, and tests/sdk/tracing/test_stamp.py checks both
 * record the same.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "_perfclock.h"
#include <stddef.h>

typedef struct {
    PyObject_HEAD
    PyObject *arrived;
    PyObject *payloads;
    vectorcallfunc vectorcall;
} Stamper;


static PyObject *stamper_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    Stamper *s = (Stamper *)self;
    if (PyVectorcall_NARGS(nargsf) != 1 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        PyErr_SetString(PyExc_TypeError, "Stamper takes exactly one argument, the chunk's text");
        return NULL;
    }
    PyObject *stamp = PyLong_FromLongLong(ss_perf_counter_ns());
    if (stamp == NULL) return NULL;
    int failed = PyList_Append(s->arrived, stamp);
    Py_DECREF(stamp);
    if (failed) return NULL;
    if (PyList_Append(s->payloads, args[0]) < 0) {
        /* keep the columns the same length: drop the time just appended */
        Py_ssize_t n = PyList_GET_SIZE(s->arrived);
        if (n > 0) (void)PyList_SetSlice(s->arrived, n - 1, n, NULL);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *stamper_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    PyObject *arrived, *payloads;
    static char *kwlist[] = {"arrived", "payloads", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O!:Stamper", kwlist, &PyList_Type, &arrived, &PyList_Type,
                                     &payloads))
        return NULL;
    Stamper *s = (Stamper *)type->tp_alloc(type, 0);
    if (s == NULL) return NULL;
    s->arrived = Py_NewRef(arrived);
    s->payloads = Py_NewRef(payloads);
    s->vectorcall = stamper_vectorcall;
    return (PyObject *)s;
}

static int stamper_traverse(Stamper *s, visitproc visit, void *arg) {
    Py_VISIT(s->arrived);
    Py_VISIT(s->payloads);
    return 0;
}

static int stamper_clear(Stamper *s) {
    Py_CLEAR(s->arrived);
    Py_CLEAR(s->payloads);
    return 0;
}

static void stamper_dealloc(Stamper *s) {
    PyObject_GC_UnTrack(s);
    stamper_clear(s);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyTypeObject StamperType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "streamscope.tracing._stamp.Stamper",
    .tp_basicsize = sizeof(Stamper),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "stamp(text): append time.perf_counter_ns() to arrived, then text to payloads.",
    .tp_new = stamper_new,
    .tp_dealloc = (destructor)stamper_dealloc,
    .tp_traverse = (traverseproc)stamper_traverse,
    .tp_clear = (inquiry)stamper_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Stamper, vectorcall),
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_stamp", "A text chunk recorded in a stream's columns, in C.", -1, NULL,
};

PyMODINIT_FUNC PyInit__stamp(void) {
    if (PyType_Ready(&StamperType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&StamperType);
    if (PyModule_AddObject(m, "Stamper", (PyObject *)&StamperType) < 0) {
        Py_DECREF(&StamperType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
