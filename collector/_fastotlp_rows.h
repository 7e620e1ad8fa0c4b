/* Entry points of the _fastotlp module defined outside collector/_fastotlp.c: the span count on the wire
 * (collector/_fastotlp_count.c) and chunk rows packed by column (collector/_fastotlp_pack.c). */
#ifndef STREAMSCOPE_FASTOTLP_ROWS_H
#define STREAMSCOPE_FASTOTLP_ROWS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#ifdef __SIZEOF_INT128__
PyObject *fo_count_spans(PyObject *self, PyObject *args); /* count_spans(body, limit) -> int */
#endif
PyObject *fo_pack_chunks(PyObject *self, PyObject *arg); /* pack_chunks(chunks) -> bytes | None */

#endif
