"""Chat models: the base class, deterministic fakes, and the generation result types."""

from streamscope.engine.models.base import BaseChatModel
from streamscope.engine.models.fake import (
    FakeListChatModel,
    FakeListChatModelError,
    FakeMessagesListChatModel,
    FakeStreamingChatModel,
    FakeStreamingError,
    GenericFakeChatModel,
    ParrotFakeChatModel,
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
    "FakeMessagesListChatModel",
    "FakeStreamingChatModel",
    "FakeStreamingError",
    "Generation",
    "GenerationChunk",
    "GenericFakeChatModel",
    "LLMResult",
    "ParrotFakeChatModel",
]
