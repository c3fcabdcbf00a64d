"""The session fixture's promise: a failing test that used the broker carries the broker's log tail."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")


@pytest.mark.slow
def test_failing_kafka_test_report_has_the_broker_log_tail(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TILIK_TEST_BOOTSTRAP", raising=False)
    monkeypatch.delenv("TILIK_TEST_BROKER", raising=False)
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    pytester.makepyfile(
        test_uses_broker="""
        import os

        def test_broker_is_exported(kafka_bootstrap):
            assert os.environ["TILIK_BOOTSTRAP"] == kafka_bootstrap

        def test_fails_with_broker(kafka_bootstrap):
            assert kafka_bootstrap == "not the broker"

        def test_fails_without_broker():
            assert False
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2)
    output = result.stdout.str()
    assert output.count("kafka broker log (tail)") == 1
    result.stdout.fnmatch_lines(["*== node 1: server.log ==*", "*] INFO *"])
