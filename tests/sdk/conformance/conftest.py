"""Subjects of the stream-lifecycle conformance suite and the fixtures every case shares.

A *subject* is one way an application streams from an LLM with streamscope tracing attached:

- ``engine``: our engine's ``ChatOpenAI`` with ``streamscope.TracingCallbackHandler``;
- ``openai``: the raw ``openai`` client with ``streamscope.instrument_openai(client)``;
- ``openai-python-loop``: the same, with the per-chunk loop in Python even where the C one is built (the
  reference and the fallback of ``streamscope/instrumentation/_fastrecord.c``);
- ``langchain``: real LangChain (``langchain_openai.ChatOpenAI`` on ``langchain-core``) with
  ``streamscope.integrations.langchain.StreamscopeCallbackHandler``.

All three talk to the same fake OpenAI-compatible server over loopback, with scenarios keyed by model name, so
every subject streams exactly the same chunks with the same scripted timing. Each subject can run *traced* or
*untraced*; the suite compares the two to prove that tracing leaves user-visible behaviour unchanged.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from streamscope.testing import capture_spans
from streamscope.testing.fake_llm import FakeLLMServer

WORDS = ["Streams", " arrive", " chunk", " by", " chunk", " here", "."]
#: long enough that the cancellation case's cancel (sent after the third word) lands mid-stream even on a loaded
#: machine; a stream that is not cancelled would take a minute.
SLOW_WORDS = [f" w{i}" for i in range(1200)]

#: model name -> fake-server scenario. Timings are tiny so the suite stays fast.
SCENARIOS: dict[str, dict[str, Any]] = {
    "conf-basic": {"words": WORDS, "gap": 0.002},
    "conf-other": {"words": ["Another", " stream", " entirely"], "gap": 0.003},
    "conf-drop": {"words": WORDS, "gap": 0.002, "drop_at": 2},
    "conf-slow": {"words": SLOW_WORDS, "gap": 0.05},
    "conf-timing": {
        "words": ["One", " two", " three", " four", " five", " six"],
        "headers_delay": 0.05,
        "ttft": 0.12,
        "gap": 0.02,
        "stall_at": 3,
        "stall": 0.15,
    },
}

PROMPT = "Tell me about streams."


class Subject:
    """One streaming API under test. ``traced`` decides whether streamscope is attached."""

    name = ""
    #: public names this subject needs from other areas; a case is xfail(strict) while any is missing.
    needs: tuple[str, ...] = ()
    #: whether the subject can know when HTTP response headers arrived (time to first byte).
    has_first_byte = False

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def missing(self) -> str | None:
        for need in self.needs:
            module, _, attr = need.rpartition(".")
            try:
                if not hasattr(importlib.import_module(module), attr):
                    return need
            except ImportError:
                return need
        return None

    def setup(self, traced: bool) -> None:
        self.traced = traced

    def teardown(self) -> None:
        pass

    async def astart(self) -> None:
        """Called inside the event loop before async cases (clients bound to a loop are made here)."""

    async def astop(self) -> None:
        """Called inside the event loop after async cases."""

    # one stream, created in the caller's context ------------------------------------------------------
    def stream(self, model: str) -> Any:
        raise NotImplementedError

    def astream(self, model: str) -> Any:
        """An async iterable; ``await`` it first when :attr:`awaitable_astream` is set."""
        raise NotImplementedError

    awaitable_astream = False

    def text(self, item: Any) -> str:
        raise NotImplementedError

    def closing(self, stream: Any) -> contextlib.AbstractContextManager[Any]:
        return contextlib.closing(stream)

    def aclosing(self, stream: Any) -> contextlib.AbstractAsyncContextManager[Any]:
        return contextlib.aclosing(stream)

    def close(self, stream: Any) -> None:
        stream.close()

    async def aclose(self, stream: Any) -> None:
        await stream.aclose()

    async def open_astream(self, model: str) -> Any:
        s = self.astream(model)
        if self.awaitable_astream:
            s = await s
        return s


class OpenAISubject(Subject):
    name = "openai"
    has_first_byte = True
    awaitable_astream = True

    def setup(self, traced: bool) -> None:
        import openai

        from streamscope.instrumentation import instrument_openai

        super().setup(traced)
        self.client = openai.OpenAI(base_url=self.base_url, api_key="test", max_retries=0)
        if traced:
            instrument_openai(self.client)

    async def astart(self) -> None:
        import openai

        from streamscope.instrumentation import instrument_openai

        self.aclient = openai.AsyncOpenAI(base_url=self.base_url, api_key="test", max_retries=0)
        if self.traced:
            instrument_openai(self.aclient)

    async def astop(self) -> None:
        await self.aclient.close()

    def teardown(self) -> None:
        self.client.close()

    def stream(self, model: str) -> Any:
        return self.client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": PROMPT}], stream=True
        )

    def astream(self, model: str) -> Any:
        return self.aclient.chat.completions.create(
            model=model, messages=[{"role": "user", "content": PROMPT}], stream=True
        )

    def text(self, item: Any) -> str:
        return (item.choices[0].delta.content or "") if item.choices else ""

    def closing(self, stream: Any) -> Any:
        return stream  # openai streams are their own context managers

    def aclosing(self, stream: Any) -> Any:
        return stream


class OpenAIPythonLoopSubject(OpenAISubject):
    """Raw openai streams whose synchronous ``for`` loop runs in Python instead of the C accelerator."""

    name = "openai-python-loop"

    def setup(self, traced: bool) -> None:
        from streamscope.instrumentation import _openai_streams

        _openai_streams._Recorder = None
        super().setup(traced)

    def teardown(self) -> None:
        from streamscope.instrumentation import _openai_streams

        _openai_streams._Recorder = _C_RECORDER
        super().teardown()


def _c_recorder() -> Any:
    from streamscope.instrumentation import _openai_streams

    return _openai_streams._Recorder


_C_RECORDER = _c_recorder()


class _ChatModelSubject(Subject):
    """Engine and LangChain share LangChain's ``stream``/``astream``/callbacks API."""

    def model(self, name: str) -> Any:
        raise NotImplementedError

    def handler(self) -> Any:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        return {"callbacks": [self.handler()]} if self.traced else {}

    def stream(self, model: str) -> Any:
        return self.model(model).stream(PROMPT, config=self.config())

    def astream(self, model: str) -> Any:
        return self.model(model).astream(PROMPT, config=self.config())

    def text(self, item: Any) -> str:
        content = item.content
        return content if isinstance(content, str) else ""


class EngineSubject(_ChatModelSubject):
    name = "engine"
    needs = ("streamscope.engine.ChatOpenAI", "streamscope.TracingCallbackHandler")
    has_first_byte = True

    def model(self, name: str) -> Any:
        from streamscope.engine import ChatOpenAI  # type: ignore[attr-defined]

        return ChatOpenAI(model=name, base_url=self.base_url, api_key="test", streaming=True, max_retries=0)

    def handler(self) -> Any:
        from streamscope import TracingCallbackHandler  # type: ignore[attr-defined]

        return TracingCallbackHandler()


class LangChainSubject(_ChatModelSubject):
    name = "langchain"
    needs = ("streamscope.integrations.langchain.StreamscopeCallbackHandler",)

    _ahttp: Any = None

    async def astart(self) -> None:
        # langchain-openai caches one async HTTP client per process; it would outlive each test's event loop.
        import openai

        self._ahttp = openai.DefaultAsyncHttpxClient()

    async def astop(self) -> None:
        await self._ahttp.aclose()
        self._ahttp = None

    def model(self, name: str) -> Any:
        from langchain_openai import ChatOpenAI

        extra = {"http_async_client": self._ahttp} if self._ahttp is not None else {}
        return ChatOpenAI(
            model=name, base_url=self.base_url, api_key="test", streaming=True, max_retries=0, **extra
        )

    def handler(self) -> Any:
        from streamscope.integrations.langchain import StreamscopeCallbackHandler  # type: ignore[attr-defined]

        return StreamscopeCallbackHandler()


SUBJECTS: dict[str, type[Subject]] = {
    "engine": EngineSubject,
    "openai": OpenAISubject,
    "openai-python-loop": OpenAIPythonLoopSubject,
    "langchain": LangChainSubject,
}


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(SCENARIOS, include_defaults=False) as server:
        yield server


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "subject_name" in metafunc.fixturenames:
        metafunc.parametrize("subject_name", subject_params())


def subject_params() -> list[Any]:
    """One pytest param per subject; a subject whose pieces are missing is xfail(strict) naming the piece."""
    params = []
    for name, cls in SUBJECTS.items():
        need = cls("http://unused").missing()
        marks = [pytest.mark.xfail(strict=True, reason=f"missing piece: {need}")] if need else []
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.fixture
def make_subject(fake_llm: FakeLLMServer) -> Iterator[Callable[[str, bool], Subject]]:
    made: list[Subject] = []

    def make(name: str, traced: bool) -> Subject:
        subject = SUBJECTS[name](fake_llm.base_url)
        subject.setup(traced)
        made.append(subject)
        return subject

    yield make
    for subject in made:
        subject.teardown()


@pytest.fixture
def spans() -> Iterator[Any]:
    # the engine subject attaches its handler itself (traced) or not at all (untraced)
    with capture_spans(instrument_engine=False) as captured:
        yield captured


@pytest.fixture
def parent_tracer() -> Iterator[Any]:
    """A tracer for the application's own parent spans (not exported; only their ids matter)."""
    provider = TracerProvider()
    yield provider.get_tracer("conformance-app")
    provider.shutdown()


@pytest.fixture
def clean_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fails the test if anything (OpenTelemetry's "Failed to detach context", a tracing failure, ...) is
    logged at WARNING or above while it runs."""
    caplog.set_level(logging.WARNING)
    yield
    bad = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]
    assert bad == [], f"unexpected log records: {bad}"


@pytest.fixture
def scenarios() -> dict[str, dict[str, Any]]:
    return SCENARIOS
