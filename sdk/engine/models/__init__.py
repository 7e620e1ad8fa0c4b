"""Chat models: the base class, deterministic fakes, and the generation result types."""

from streamscope.engine.models.base import BaseChatModel
from streamscope.engine.models.fake import (
    FakeListChatModel,
    FakeListChatModelError,
    FakeStreamingChatModel,
    FakeStreamingError,
)
from streamscope.engine.outputs import (
    ChatGeneration,
    ChatGenerationChunk,
    ChatResult,
    Generation,
    GenerationChunk,
    LLMResult,
)

__all__ = [
    "BaseChatModel",
    "ChatGeneration",
    "ChatGenerationChunk",
    "ChatResult",
    "FakeListChatModel",
    "FakeListChatModelError",
    "FakeStreamingChatModel",
    "FakeStreamingError",
    "Generation",
    "GenerationChunk",
    "LLMResult",
]
