/* The text-only test and fold of a chat model's streamed chunk, in C (streamscope/engine/models/base.py).
 *
 *     layout(ChatGenerationChunk, AIMessageChunk) -> bool   # once: where their slots are
 *     fold = TextFold(parts, emit_text, emit)
 *     fold(generation, merged_id) -> bool
 *
 * With handlers, a model run's per-chunk loop folds each chunk into the run's message (for ``on_llm_end``) and tells
 * the handlers. A chunk that only adds its text, the common case, takes a short way: its text is appended to the
 * fold's ``parts`` and handed to ``emit_text(text)`` (the run's token sink's ``text``) or, without one, to
 * ``emit(text, generation)``. ``fold`` does that when it can tell from the slots alone that the chunk is such a chunk
 * and returns True; otherwise it touches nothing and returns False, and the Python loop decides (it is the
 * reference: True here implies its test is true too). The chunk must be exactly a ``ChatGenerationChunk`` without
 * ``generation_info``, holding exactly an ``AIMessageChunk`` whose ``content`` is a non-empty ``str``, whose ``id``
 * is a ``str`` equal to ``merged_id`` and whose other fields are unset: ``name``, ``usage_metadata`` and
 * ``chunk_position`` None, ``tool_call_chunks`` an empty list, ``response_metadata`` and ``additional_kwargs`` empty
 * dicts. What the emit function raises propagates (the loop reports it as the handler's); the text is appended
 * first, as in the Python loop.
 *
 * The slots are read at the offsets of the classes' member descriptors, found once by ``layout``; a Python attribute
 * read per field through the generic path costs more than the whole test in bytecode. This is an accelerator: the
 * engine runs its Python test when the module is not built or ``layout`` returns False, and
 * tests/sdk/engine/test_fold.py checks both fold and emit the same.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

static PyTypeObject *gen_type, *msg_type;
static Py_ssize_t off_message, off_info, off_content, off_id, off_name, off_usage, off_position, off_tools,
    off_response, off_extra;

#define SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

typedef struct {
    PyObject_HEAD
    PyObject *parts;
    PyObject *emit_text;
    PyObject *emit;
    vectorcallfunc vectorcall;
} TextFold;

static int empty_dict(PyObject *v) { return v != NULL && PyDict_CheckExact(v) && PyDict_GET_SIZE(v) == 0; }

/* The text of a text-only chunk (borrowed), or NULL (no exception) for anything else. */
static PyObject *text_of(PyObject *gen, PyObject *merged) {
    if (gen_type == NULL || Py_TYPE(gen) != gen_type) return NULL;
    PyObject *msg = SLOT(gen, off_message);
    if (msg == NULL || Py_TYPE(msg) != msg_type || SLOT(gen, off_info) != Py_None) return NULL;
    PyObject *content = SLOT(msg, off_content);
    if (content == NULL || !PyUnicode_CheckExact(content) || PyUnicode_GET_LENGTH(content) == 0) return NULL;
    PyObject *id = SLOT(msg, off_id);
    if (id == NULL || !PyUnicode_CheckExact(id) || !PyUnicode_CheckExact(merged)) return NULL;
    if (id != merged && (PyUnicode_GET_LENGTH(id) != PyUnicode_GET_LENGTH(merged) || PyUnicode_Compare(id, merged) != 0))
        return NULL;
    if (SLOT(msg, off_name) != Py_None || SLOT(msg, off_usage) != Py_None || SLOT(msg, off_position) != Py_None)
        return NULL;
    PyObject *tools = SLOT(msg, off_tools);
    if (tools == NULL || !PyList_CheckExact(tools) || PyList_GET_SIZE(tools) != 0) return NULL;
    if (!empty_dict(SLOT(msg, off_response)) || !empty_dict(SLOT(msg, off_extra))) return NULL;
    return content;
}

static PyObject *fold_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    TextFold *f = (TextFold *)self;
    if (PyVectorcall_NARGS(nargsf) != 2 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        PyErr_SetString(PyExc_TypeError, "TextFold takes exactly two arguments: the generation and the merged id");
        return NULL;
    }
    PyObject *text = text_of(args[0], args[1]);
    if (text == NULL) Py_RETURN_FALSE;
    Py_INCREF(text);  /* the emit function may drop the chunk's last other reference */
    PyObject *res = NULL;
    if (PyList_Append(f->parts, text) == 0) {
        if (f->emit_text != Py_None) {
            res = PyObject_CallOneArg(f->emit_text, text);
        } else {
            PyObject *call_args[2] = {text, args[0]};
            res = PyObject_Vectorcall(f->emit, call_args, 2, NULL);
        }
    }
    Py_DECREF(text);
    if (res == NULL) return NULL;
    Py_DECREF(res);
    Py_RETURN_TRUE;
}

static PyObject *fold_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    PyObject *parts, *emit_text, *emit;
    static char *kwlist[] = {"parts", "emit_text", "emit", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OO:TextFold", kwlist, &PyList_Type, &parts, &emit_text, &emit))
        return NULL;
    if ((emit_text != Py_None && !PyCallable_Check(emit_text)) || !PyCallable_Check(emit)) {
        PyErr_SetString(PyExc_TypeError, "TextFold: emit_text must be callable or None, emit callable");
        return NULL;
    }
    TextFold *f = (TextFold *)type->tp_alloc(type, 0);
    if (f == NULL) return NULL;
    f->parts = Py_NewRef(parts);
    f->emit_text = Py_NewRef(emit_text);
    f->emit = Py_NewRef(emit);
    f->vectorcall = fold_vectorcall;
    return (PyObject *)f;
}

static int fold_traverse(TextFold *f, visitproc visit, void *arg) {
    Py_VISIT(f->parts);
    Py_VISIT(f->emit_text);
    Py_VISIT(f->emit);
    return 0;
}

static int fold_clear(TextFold *f) {
    Py_CLEAR(f->parts);
    Py_CLEAR(f->emit_text);
    Py_CLEAR(f->emit);
    return 0;
}

static void fold_dealloc(TextFold *f) {
    PyObject_GC_UnTrack(f);
    fold_clear(f);
    Py_TYPE(f)->tp_free((PyObject *)f);
}

static PyTypeObject TextFoldType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "streamscope.engine._fold.TextFold",
    .tp_basicsize = sizeof(TextFold),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "fold(generation, merged_id) -> bool: fold and emit a text-only chunk, or do nothing.",
    .tp_new = fold_new,
    .tp_dealloc = (destructor)fold_dealloc,
    .tp_traverse = (traverseproc)fold_traverse,
    .tp_clear = (inquiry)fold_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(TextFold, vectorcall),
};

/* The offset of ``cls``'s slot ``name`` (an object member descriptor defined by ``cls`` itself), or -1. */
static Py_ssize_t slot_offset(PyTypeObject *cls, const char *name) {
    PyObject *descr = PyDict_GetItemString(cls->tp_dict, name);  /* borrowed */
    if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type)) return -1;
    PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
    if (member->type != T_OBJECT_EX && member->type != T_OBJECT) return -1;
    return member->offset;
}

static PyObject *layout(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyType_Check(args[0]) || !PyType_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "layout(ChatGenerationChunk, AIMessageChunk)");
        return NULL;
    }
    PyTypeObject *gen = (PyTypeObject *)args[0], *msg = (PyTypeObject *)args[1];
    Py_ssize_t offsets[10] = {
        slot_offset(gen, "message"), slot_offset(gen, "generation_info"), slot_offset(msg, "content"),
        slot_offset(msg, "id"), slot_offset(msg, "name"), slot_offset(msg, "usage_metadata"),
        slot_offset(msg, "chunk_position"), slot_offset(msg, "tool_call_chunks"),
        slot_offset(msg, "response_metadata"), slot_offset(msg, "additional_kwargs"),
    };
    for (int i = 0; i < 10; i++) {
        if (offsets[i] < 0) Py_RETURN_FALSE;
    }
    off_message = offsets[0]; off_info = offsets[1]; off_content = offsets[2]; off_id = offsets[3];
    off_name = offsets[4]; off_usage = offsets[5]; off_position = offsets[6]; off_tools = offsets[7];
    off_response = offsets[8]; off_extra = offsets[9];
    Py_XSETREF(gen_type, (PyTypeObject *)Py_NewRef(gen));
    Py_XSETREF(msg_type, (PyTypeObject *)Py_NewRef(msg));
    Py_RETURN_TRUE;
}

static PyMethodDef module_methods[] = {
    {"layout", (PyCFunction)(void (*)(void))layout, METH_FASTCALL,
     "layout(ChatGenerationChunk, AIMessageChunk) -> bool: find their slots (False: not slotted as expected)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fold", "The text-only test and fold of a streamed chat chunk, in C.", -1, module_methods,
};

PyMODINIT_FUNC PyInit__fold(void) {
    if (PyType_Ready(&TextFoldType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&TextFoldType);
    if (PyModule_AddObject(m, "TextFold", (PyObject *)&TextFoldType) < 0) {
        Py_DECREF(&TextFoldType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
