from collections.abc import Callable, Iterator
from typing import Any

class Recorder(Iterator[Any]):
    def __init__(
        self,
        source: Iterator[Any],
        arrived: list[int],
        payloads: list[Any],
        raw_kind: int,
        hide: Callable[[Any], bool] | None,
        done: Callable[[BaseException | None], None],
        abandoned: Callable[[], None],
        owner: object,
    ) -> None: ...
    def __next__(self) -> Any: ...
    def send(self, value: Any, /) -> Any: ...
    def close(self) -> None: ...
    def throw(self, exc: BaseException | type[BaseException], value: Any = ..., tb: Any = ..., /) -> Any: ...
