"""``ChatOpenAI`` on the official ``openai`` client, and the errors it raises."""

from streamscope.engine.openai.chat import FIRST_BYTE_EVENT, ChatOpenAI
from streamscope.engine.openai.errors import (
    ChatOpenAIConnectionError,
    ChatOpenAIError,
    ChatOpenAIMalformedChunkError,
    ChatOpenAIStatusError,
    ChatOpenAITimeoutError,
)

__all__ = [
    "FIRST_BYTE_EVENT",
    "ChatOpenAI",
    "ChatOpenAIConnectionError",
    "ChatOpenAIError",
    "ChatOpenAIMalformedChunkError",
    "ChatOpenAIStatusError",
    "ChatOpenAITimeoutError",
]
