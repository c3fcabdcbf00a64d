"""The pytest plugin's fixtures: log capture and the secret assertion."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import pytest
import structlog


def test_log_texts_capture_structlog_and_stdlib(log_texts: Callable[[], list[str]]) -> None:
    structlog.get_logger("t").warning("device refused", device="dev-1")
    logging.getLogger("t").warning("stdlib line %s", 42)
    texts = log_texts()
    assert any("device refused" in t and "dev-1" in t for t in texts)
    assert "stdlib line 42" in texts


def test_assert_no_secret_names_the_leak(
    assert_no_secret: Callable[[Iterable[str], Iterable[str]], None],
) -> None:
    assert_no_secret(["all clean"], ["hunter2"])
    with pytest.raises(AssertionError, match="login hunter2"):
        assert_no_secret(["fine", "login hunter2 ok"], ["hunter2"])
