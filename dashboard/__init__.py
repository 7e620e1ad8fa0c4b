"""streamscope dashboard: a Flask UI over the collector's query layer."""
