"""The streaming runnable engine (LangChain-style runnables, callbacks, flow control)."""
