"""``guard.report``: a tracing failure is logged once per place and counted; its message (which may quote the
app's content) is logged only when content may be captured."""

from __future__ import annotations

import itertools
import logging

import pytest

from streamscope.testing import capture_spans
from streamscope.tracing import guard

SECRET = "the user's secret chunk text"
_places = itertools.count()


def _fail() -> ValueError:
    try:
        raise ValueError(f"cannot encode {SECRET!r}")
    except ValueError as exc:
        return exc


def _where() -> str:
    return f"test_guard.place{next(_places)}"


@pytest.mark.parametrize(
    ("capture", "redact", "message_logged"),
    [(True, None, True), (False, None, False), (True, str.upper, False)],
)
def test_the_message_is_logged_only_when_content_may_be(
    capture: bool, redact: object, message_logged: bool, caplog: pytest.LogCaptureFixture
) -> None:
    where = _where()
    with (
        caplog.at_level(logging.WARNING, logger="streamscope"),
        capture_spans(capture_content=capture, redact=redact),
    ):  # type: ignore[arg-type]
        guard.report(where, _fail())
    assert len([r for r in caplog.records if where in r.getMessage()]) == 1
    text = caplog.text
    assert "ValueError" in text and "_fail" in text  # the type and where it was raised, always
    assert (SECRET in text) is message_logged


def test_each_place_is_logged_once_and_every_failure_counted(caplog: pytest.LogCaptureFixture) -> None:
    where, before = _where(), guard.errors
    with caplog.at_level(logging.WARNING, logger="streamscope"):
        for _ in range(3):
            guard.report(where, _fail())
    assert len([r for r in caplog.records if where in r.getMessage()]) == 1
    assert guard.errors - before == 3
