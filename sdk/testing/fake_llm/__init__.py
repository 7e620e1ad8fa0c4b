"""An OpenAI-compatible fake LLM server with scripted content and timing (``streamscope fake-llm``).

The scenario format is documented in ``docs/fake-llm.md``.
"""

from streamscope.testing.fake_llm.scenario import Scenario, ScenarioError, ToolCallSpec
from streamscope.testing.fake_llm.server import DEFAULT_SCENARIOS, FakeLLMServer, load_scenarios, parse_script

__all__ = [
    "DEFAULT_SCENARIOS",
    "FakeLLMServer",
    "Scenario",
    "ScenarioError",
    "ToolCallSpec",
    "load_scenarios",
    "parse_script",
]
