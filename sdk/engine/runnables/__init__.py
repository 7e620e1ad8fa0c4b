"""Runnables: the step interface and its compositions."""

from streamscope.engine.config import RunnableConfig
from streamscope.engine.runnables.base import Runnable, coerce_to_runnable
from streamscope.engine.runnables.binding import RunnableBinding
from streamscope.engine.runnables.branch import RunnableBranch
from streamscope.engine.runnables.configurable import ConfigurableField
from streamscope.engine.runnables.each import RunnableEach
from streamscope.engine.runnables.fallbacks import RunnableWithFallbacks
from streamscope.engine.runnables.generator import RunnableGenerator
from streamscope.engine.runnables.lambda_ import RunnableLambda, chain
from streamscope.engine.runnables.parallel import RunnableParallel
from streamscope.engine.runnables.passthrough import RunnableAssign, RunnablePassthrough, RunnablePick
from streamscope.engine.runnables.retry import RetryState, RunnableRetry
from streamscope.engine.runnables.sequence import RunnableSequence
from streamscope.engine.runnables.utils import AddableDict, fold

__all__ = [
    "AddableDict",
    "ConfigurableField",
    "RetryState",
    "Runnable",
    "RunnableAssign",
    "RunnableBinding",
    "RunnableBranch",
    "RunnableConfig",
    "RunnableEach",
    "RunnableGenerator",
    "RunnableLambda",
    "RunnableParallel",
    "RunnablePassthrough",
    "RunnablePick",
    "RunnableRetry",
    "RunnableSequence",
    "RunnableWithFallbacks",
    "chain",
    "coerce_to_runnable",
    "fold",
]
