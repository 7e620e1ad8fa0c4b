/* The per-chunk loop of a traced synchronous openai stream, in C: what TracedStream.__iter__ does in Python
 * (streamscope/instrumentation/_openai_streams.py), without a Python frame per chunk.
 *
 *     Recorder(source, arrived, payloads, raw_kind, hide, done, abandoned, owner)
 *
 * An iterator over ``source`` (the client's own chunk iterator). For each chunk it appends the arrival time
 * (time.perf_counter_ns's clock, read through public interfaces: _perfclock.h) to ``arrived`` and a payload to
 * ``payloads``: the chunk's text when it is a plain text chunk (one choice, a non-empty str ``delta.content``, no finish reason, no usage, the same str id and
 * model as the chunk before), else ``(raw_kind, chunk)`` for the recorder's classifier to read later. Chunks for
 * which ``hide(chunk)`` is true are recorded but not returned (``hide`` may be None). ``owner`` (the traced
 * stream) is kept alive as long as the iterator is, as a generator's frame would keep it.
 *
 * The stream's end is reported once: ``done(None)`` when ``source`` is exhausted, ``done(exc)`` when it raised
 * ``exc`` (which then reaches the consumer unchanged), ``abandoned()`` when the consumer stops first: ``close()``,
 * ``throw()``, or the iterator being collected (a ``break`` drops it). Like the generator it stands in for (the
 * client's ``Stream.__iter__``) it also has ``send()``, which ignores the value sent. Whatever the callbacks raise is cleared:
 * they are the tracing's own (guarded) code, and nothing of the tracing may reach the consumer.
 *
 * This is an accelerator: the Python loop stays the reference and the fallback, and
 * tests/sdk/instrumentation/test_fastrecord.py checks both record the same columns.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "_perfclock.h"

static PyObject *s_id, *s_model, *s_usage, *s_choices, *s_finish_reason, *s_delta, *s_content;

typedef struct {
    PyObject_HEAD
    PyObject *source;
    PyObject *arrived;
    PyObject *payloads;
    PyObject *raw_kind;
    PyObject *hide;
    PyObject *done_cb;
    PyObject *abandoned_cb;
    PyObject *owner;
    PyObject *last_id;
    PyObject *last_model;
    int finished;
    int running;
    int started;
} Recorder;


/* The field ``name`` of a model's __dict__ (borrowed), or NULL without an exception. */
static PyObject *field(PyObject *dict, PyObject *name) {
    PyObject *v = PyDict_GetItemWithError(dict, name);
    if (v == NULL) PyErr_Clear();
    return v;
}

static PyObject *fields_of(PyObject *obj) {
    PyObject *d = PyObject_GenericGetDict(obj, NULL);
    if (d == NULL) {
        PyErr_Clear();
        return NULL;
    }
    if (!PyDict_CheckExact(d)) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static int same_str(PyObject *a, PyObject *b) {
    return a != NULL && b != NULL && PyUnicode_CheckExact(a) && PyUnicode_CheckExact(b) &&
           (a == b || PyUnicode_Compare(a, b) == 0);
}

/* The text of a plain text chunk (a new reference), or NULL (without an exception) for anything else. Also
 * remembers the id and model of every chunk that is not plain text, as the Python loop does. */
static PyObject *plain_text(Recorder *r, PyObject *item) {
    PyObject *fields = fields_of(item);
    if (fields == NULL) {
        Py_CLEAR(r->last_id);
        Py_CLEAR(r->last_model);
        return NULL;
    }
    PyObject *text = NULL;
    PyObject *id = field(fields, s_id), *model = field(fields, s_model);
    if (same_str(id, r->last_id) && same_str(model, r->last_model) && field(fields, s_usage) == Py_None) {
        PyObject *choices = field(fields, s_choices);
        if (choices != NULL && PyList_CheckExact(choices) && PyList_GET_SIZE(choices) == 1) {
            PyObject *choice = fields_of(PyList_GET_ITEM(choices, 0));
            if (choice != NULL) {
                PyObject *finish = field(choice, s_finish_reason);
                PyObject *delta = field(choice, s_delta);
                if (finish == Py_None && delta != NULL) {
                    PyObject *dfields = fields_of(delta);
                    if (dfields != NULL) {
                        PyObject *content = field(dfields, s_content);
                        if (content != NULL && PyUnicode_CheckExact(content) && PyUnicode_GET_LENGTH(content) > 0) {
                            text = Py_NewRef(content);
                        }
                        Py_DECREF(dfields);
                    }
                }
                Py_DECREF(choice);
            }
        }
    }
    if (text == NULL) {
        Py_XINCREF(id);
        Py_XSETREF(r->last_id, id);
        Py_XINCREF(model);
        Py_XSETREF(r->last_model, model);
    }
    Py_DECREF(fields);
    return text;
}

/* Call a callback of the tracing's; nothing it raises survives. The current exception, if any, is kept. */
static void notify(PyObject *cb, PyObject *arg) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *res = arg == NULL ? PyObject_CallNoArgs(cb) : PyObject_CallOneArg(cb, arg);
    if (res == NULL) PyErr_Clear();
    Py_XDECREF(res);
    PyErr_Restore(type, value, tb);
}

static void record(Recorder *r, PyObject *item, long long now) {
    PyObject *stamp = PyLong_FromLongLong(now);
    if (stamp == NULL) {
        PyErr_Clear();
        return;
    }
    PyObject *payload = plain_text(r, item);
    if (payload == NULL) payload = PyTuple_Pack(2, r->raw_kind, item);
    if (payload == NULL) {
        PyErr_Clear();
        Py_DECREF(stamp);
        return;
    }
    /* the time first, then the payload (streamscope.tracing.streams reads them from another thread) */
    if (PyList_Append(r->arrived, stamp) == 0) {
        if (PyList_Append(r->payloads, payload) < 0) {
            PyErr_Clear();
            Py_ssize_t n = PyList_GET_SIZE(r->arrived);
            (void)PyList_SetSlice(r->arrived, n - 1, n, NULL);
        }
    } else {
        PyErr_Clear();
    }
    Py_DECREF(stamp);
    Py_DECREF(payload);
}

static int hidden(Recorder *r, PyObject *item) {
    if (r->hide == Py_None) return 0;
    PyObject *res = PyObject_CallOneArg(r->hide, item);
    if (res == NULL) {
        PyErr_Clear();
        return 0;
    }
    int yes = PyObject_IsTrue(res);
    Py_DECREF(res);
    if (yes < 0) {
        PyErr_Clear();
        return 0;
    }
    return yes;
}

/* As a generator: next(), send(), close() and throw() while the iterator is running raise ValueError. */
static int refuse_reentry(Recorder *r) {
    if (!r->running) return 0;
    PyErr_SetString(PyExc_ValueError, "generator already executing");
    return 1;
}

static PyObject *recorder_next(Recorder *r) {
    if (r->finished) return NULL;
    if (refuse_reentry(r)) return NULL;
    iternextfunc next = Py_TYPE(r->source)->tp_iternext;
    if (next == NULL) {
        PyErr_SetString(PyExc_TypeError, "the stream's source is not an iterator");
        return NULL;
    }
    r->running = 1;
    r->started = 1;
    for (;;) {
        PyObject *item = next(r->source);
        if (item == NULL) {
            r->running = 0;
            r->finished = 1;
            if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_StopIteration)) {
                PyObject *type, *value, *tb;
                PyErr_Fetch(&type, &value, &tb);
                PyErr_NormalizeException(&type, &value, &tb);
                if (tb != NULL && value != NULL) PyException_SetTraceback(value, tb);
                notify(r->done_cb, value != NULL ? value : Py_None);
                PyErr_Restore(type, value, tb);
                return NULL;
            }
            PyErr_Clear();
            notify(r->done_cb, Py_None);
            return NULL;
        }
        record(r, item, ss_perf_counter_ns());
        if (!hidden(r, item)) {
            r->running = 0;
            return item;
        }
        Py_DECREF(item);
    }
}

/* send(value): as for the client's own Stream.__iter__ generator, which ignores what is sent: the next chunk. */
static PyObject *recorder_send(Recorder *r, PyObject *value) {
    if (value != Py_None && !r->started && !r->finished) {
        PyErr_SetString(PyExc_TypeError, "can't send non-None value to a just-started generator");
        return NULL;
    }
    PyObject *item = recorder_next(r);
    if (item == NULL && !PyErr_Occurred()) PyErr_SetNone(PyExc_StopIteration);
    return item;
}

static void abandon(Recorder *r) {
    if (r->finished) return;
    r->finished = 1;
    notify(r->abandoned_cb, NULL);
}

static PyObject *recorder_close(Recorder *r, PyObject *Py_UNUSED(ignored)) {
    if (refuse_reentry(r)) return NULL;
    abandon(r);
    Py_RETURN_NONE;
}

/* throw(exc): as for a generator that does not catch it: the stream is abandoned and ``exc`` is raised. */
static PyObject *recorder_throw(Recorder *r, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "throw expected 1 to 3 arguments");
        return NULL;
    }
    if (refuse_reentry(r)) return NULL;
    abandon(r);
    PyObject *typ = args[0], *val = nargs > 1 ? args[1] : NULL;
    if (PyExceptionInstance_Check(typ)) {
        PyErr_SetObject((PyObject *)Py_TYPE(typ), typ);
    } else if (PyExceptionClass_Check(typ)) {
        PyErr_SetObject(typ, val);
    } else {
        PyErr_SetString(PyExc_TypeError, "exceptions must be classes or instances deriving from BaseException");
    }
    return NULL;
}

static void recorder_finalize(PyObject *self) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    abandon((Recorder *)self);
    PyErr_Restore(type, value, tb);
}

static int recorder_traverse(Recorder *r, visitproc visit, void *arg) {
    Py_VISIT(r->source);
    Py_VISIT(r->arrived);
    Py_VISIT(r->payloads);
    Py_VISIT(r->raw_kind);
    Py_VISIT(r->hide);
    Py_VISIT(r->done_cb);
    Py_VISIT(r->abandoned_cb);
    Py_VISIT(r->owner);
    Py_VISIT(r->last_id);
    Py_VISIT(r->last_model);
    return 0;
}

static int recorder_clear(Recorder *r) {
    Py_CLEAR(r->source);
    Py_CLEAR(r->arrived);
    Py_CLEAR(r->payloads);
    Py_CLEAR(r->raw_kind);
    Py_CLEAR(r->hide);
    Py_CLEAR(r->done_cb);
    Py_CLEAR(r->abandoned_cb);
    Py_CLEAR(r->owner);
    Py_CLEAR(r->last_id);
    Py_CLEAR(r->last_model);
    return 0;
}

static void recorder_dealloc(Recorder *r) {
    if (PyObject_CallFinalizerFromDealloc((PyObject *)r) < 0) return; /* resurrected */
    PyObject_GC_UnTrack(r);
    recorder_clear(r);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static PyObject *recorder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *source, *arrived, *payloads, *raw_kind, *hide, *done_cb, *abandoned_cb, *owner;
    static char *names[] = {"source", "arrived", "payloads", "raw_kind", "hide", "done", "abandoned", "owner", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO!O!OOOOO:Recorder", names, &source, &PyList_Type, &arrived,
                                     &PyList_Type, &payloads, &raw_kind, &hide, &done_cb, &abandoned_cb, &owner)) {
        return NULL;
    }
    if (!PyIter_Check(source)) {
        PyErr_SetString(PyExc_TypeError, "source must be an iterator");
        return NULL;
    }
    if (!PyCallable_Check(done_cb) || !PyCallable_Check(abandoned_cb) || (hide != Py_None && !PyCallable_Check(hide))) {
        PyErr_SetString(PyExc_TypeError, "hide (or None), done and abandoned must be callables");
        return NULL;
    }
    Recorder *r = (Recorder *)type->tp_alloc(type, 0);
    if (r == NULL) return NULL;
    r->source = Py_NewRef(source);
    r->arrived = Py_NewRef(arrived);
    r->payloads = Py_NewRef(payloads);
    r->raw_kind = Py_NewRef(raw_kind);
    r->hide = Py_NewRef(hide);
    r->done_cb = Py_NewRef(done_cb);
    r->abandoned_cb = Py_NewRef(abandoned_cb);
    r->owner = Py_NewRef(owner);
    return (PyObject *)r;
}

static PyMethodDef recorder_methods[] = {
    {"send", (PyCFunction)recorder_send, METH_O, "The next chunk (the value sent is ignored, as by the client)."},
    {"close", (PyCFunction)recorder_close, METH_NOARGS, "Stop: the stream is abandoned."},
    {"throw", (PyCFunction)(void (*)(void))recorder_throw, METH_FASTCALL,
     "Raise an exception here, as into a generator that does not catch it: the stream is abandoned."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RecorderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "streamscope.instrumentation._fastrecord.Recorder",
    .tp_basicsize = sizeof(Recorder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A traced stream's chunk iterator that records each chunk as it passes.",
    .tp_new = recorder_new,
    .tp_dealloc = (destructor)recorder_dealloc,
    .tp_finalize = recorder_finalize,
    .tp_traverse = (traverseproc)recorder_traverse,
    .tp_clear = (inquiry)recorder_clear,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)recorder_next,
    .tp_methods = recorder_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastrecord", "The per-chunk loop of traced openai streams, in C.", -1, NULL,
};

PyMODINIT_FUNC PyInit__fastrecord(void) {
    static const char *names[] = {"id", "model", "usage", "choices", "finish_reason", "delta", "content"};
    PyObject **slots[] = {&s_id, &s_model, &s_usage, &s_choices, &s_finish_reason, &s_delta, &s_content};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        *slots[i] = PyUnicode_InternFromString(names[i]);
        if (*slots[i] == NULL) return NULL;
    }
    if (ss_perfclock_init() < 0) return NULL;
    if (PyType_Ready(&RecorderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&RecorderType);
    if (PyModule_AddObject(m, "Recorder", (PyObject *)&RecorderType) < 0) {
        Py_DECREF(&RecorderType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
