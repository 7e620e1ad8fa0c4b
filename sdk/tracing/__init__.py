"""streamscope tracing: OpenTelemetry spans per step and per chunk, stream rollups, and their export.

Modules: :mod:`.streams` (the stream recorder every adapter uses), :mod:`.rollups` (pure timing maths),
:mod:`.chunks` + :mod:`.otlp` (chunk spans in bulk and their fast encoding), :mod:`.pipeline` +
:mod:`.exporters` (bounded queue, background export), :mod:`.setup` + :mod:`.config` (``init``),
:mod:`.decorator` (``@trace``), :mod:`.context`, :mod:`.handler` (engine / LangChain callbacks).
"""
