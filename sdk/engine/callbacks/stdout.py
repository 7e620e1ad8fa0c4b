"""``StreamingStdOutCallbackHandler``: print each token as it arrives."""

from __future__ import annotations

import sys
from typing import Any

from streamscope.engine.callbacks.base import BaseCallbackHandler

__all__ = ["StreamingStdOutCallbackHandler"]


class StreamingStdOutCallbackHandler(BaseCallbackHandler):
    """Writes every token to stdout and flushes; every other callback is a no-op."""

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        """Nothing to print at the start."""

    def on_llm_new_token(self, token: Any, **kwargs: Any) -> None:
        if isinstance(token, str) and token:
            sys.stdout.write(token)
            sys.stdout.flush()
