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
from streamscope.engine.models.llm import LLM, BaseLLM, FakeListLLM, FakeListLLMError, FakeStreamingListLLM
from streamscope.engine.outputs import (
    ChatGeneration,
    ChatGenerationChunk,
    ChatResult,
    Generation,
    GenerationChunk,
    LLMResult,
)

__all__ = [
    "LLM",
    "BaseChatModel",
    "BaseLLM",
    "ChatGeneration",
    "ChatGenerationChunk",
    "ChatResult",
    "FakeListChatModel",
    "FakeListChatModelError",
    "FakeListLLM",
    "FakeListLLMError",
    "FakeMessagesListChatModel",
    "FakeStreamingChatModel",
    "FakeStreamingError",
    "FakeStreamingListLLM",
    "Generation",
    "GenerationChunk",
    "GenericFakeChatModel",
    "LLMResult",
    "ParrotFakeChatModel",
]
