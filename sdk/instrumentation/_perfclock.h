/* time.perf_counter_ns()'s clock, for the C accelerator that stamps chunks (sdk/instrumentation/_fastrecord.c): its
 * stamps are compared with the Python code's perf_counter_ns() readings, so it must read the same clock, and through
 * public interfaces only:
 *
 * - Python 3.13+: PyTime_PerfCounterRaw, the documented C API for that clock;
 * - Linux before 3.13: clock_gettime(CLOCK_MONOTONIC), which is what CPython's perf_counter reads there;
 * - anywhere else: time.perf_counter_ns() itself, called through the object API (slower, always right).
 *
 * ss_perfclock_init() runs once at module import; ss_perf_counter_ns() returns -1 (no exception set) if the
 * clock could not be read. */
#ifndef STREAMSCOPE_PERFCLOCK_H
#define STREAMSCOPE_PERFCLOCK_H

#include <Python.h>

#if PY_VERSION_HEX >= 0x030D0000
static inline int ss_perfclock_init(void) { return 0; }
static inline long long ss_perf_counter_ns(void) {
    PyTime_t t = 0;
    if (PyTime_PerfCounterRaw(&t) < 0) return -1;
    return (long long)t;
}
#elif defined(__linux__)
#include <time.h>
static inline int ss_perfclock_init(void) { return 0; }
static inline long long ss_perf_counter_ns(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return -1;
    return (long long)ts.tv_sec * 1000000000LL + (long long)ts.tv_nsec;
}
#else
static PyObject *ss_perf_counter_ns_fn = NULL;
static inline int ss_perfclock_init(void) {
    PyObject *time = PyImport_ImportModule("time");
    if (time == NULL) return -1;
    ss_perf_counter_ns_fn = PyObject_GetAttrString(time, "perf_counter_ns");
    Py_DECREF(time);
    return ss_perf_counter_ns_fn == NULL ? -1 : 0;
}
static inline long long ss_perf_counter_ns(void) {
    PyObject *value = PyObject_CallNoArgs(ss_perf_counter_ns_fn);
    if (value == NULL) {
        PyErr_Clear();
        return -1;
    }
    long long t = PyLong_AsLongLong(value);
    Py_DECREF(value);
    if (t == -1 && PyErr_Occurred()) PyErr_Clear();
    return t;
}
#endif

#endif
