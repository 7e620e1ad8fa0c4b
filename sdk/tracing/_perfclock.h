/* time.perf_counter_ns()'s clock, for the C accelerators that stamp chunks (sdk/tracing/_stamp.c,
 * sdk/instrumentation/_fastrecord.c): their stamps are compared with the Python code's perf_counter_ns() readings,
 * so they must read the same clock. */
#ifndef STREAMSCOPE_PERFCLOCK_H
#define STREAMSCOPE_PERFCLOCK_H

#include <Python.h>

static inline long long ss_perf_counter_ns(void) {
#if PY_VERSION_HEX >= 0x030D0000
    PyTime_t t = 0;
    (void)PyTime_PerfCounterRaw(&t);
    return (long long)t;
#else
    return (long long)_PyTime_GetPerfCounter();
#endif
}

#endif
