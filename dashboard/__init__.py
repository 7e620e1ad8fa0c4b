"""streamscope dashboard: a Flask UI over the collector's query layer.

Example:
    >>> from streamscope.dashboard import create_app
    >>> app = create_app({"db_path": "streamscope.db"})   # doctest: +SKIP
"""

from streamscope.dashboard.app import create_app as create_app

__all__ = ["create_app"]
