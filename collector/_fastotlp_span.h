/* Spans that are not chunk spans, decoded by the OTLP walker into collector.model.Span objects
 * (collector/_fastotlp_span.c; the Python reference is decode._span and decode._Context). */
#ifndef STREAMSCOPE_FASTOTLP_SPAN_H
#define STREAMSCOPE_FASTOTLP_SPAN_H

#include "_fastotlp_wire.h"

#define INTERN_SLOTS 256 /* short strings (keys, names, small values) shared within one request */
#define INTERN_BYTES 64

typedef struct {
    const uint8_t *p;
    Py_ssize_t n;
    PyObject *s;
} Interned;

typedef struct {
    Interned slot[INTERN_SLOTS];
} Interns;

enum { CTX_UNBUILT, CTX_READY, CTX_PYTHON };

/* What a resource gives each of its spans (decode._Context), built when its first span needs it. */
typedef struct {
    Buf rs; /* the ResourceSpans message */
    int state;
    PyObject *resource, *service, *r_session, *r_user;
} SpanCtx;

/* The fields of a span the walker reads in its first pass over it. */
typedef struct {
    Bytes tid, sid, pid, name, status;
    uint64_t start, end, kind;
    int events;   /* events given: the span goes to Python (events and their per-request budget) */
    int statuses; /* status given more than once (upb merges them): Python */
    int odd;      /* a field read here came with another wire type than the schema's: Python */
} SpanFields;

/* configure(..., span_type, field_names, session_keys, user_keys, dropped_key, max_attributes); -1: error set */
int fo_span_configure(PyObject *span_type, PyObject *field_names, PyObject *session_keys, PyObject *user_keys,
                      PyObject *dropped_key, Py_ssize_t max_attributes);
int fo_span_ready(void);
int fo_context(SpanCtx *ctx, Interns *in);
void fo_context_clear(SpanCtx *ctx);
int fo_scope_name(Buf scope_spans, PyObject **out, Interns *in);
int fo_span(PyObject **out, Buf span, const SpanFields *f, PyObject *parent, const SpanCtx *ctx, PyObject *scope,
            Interns *in);
void fo_interns_clear(Interns *in);

#endif
