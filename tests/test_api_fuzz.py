"""``tilik api`` under requests generated from its own OpenAPI document (Schemathesis): whatever a
client sends that the document describes, valid or not, the answer is never a server error.

Each operation is called with the key of the kind it serves (an operator's, an agency's or a
tenant's, none for the public ones) and again with a key of the wrong kind, against the real
service on the session's broker. Left out, each for a reason: the event streams (``.../stream``)
never end by design, and ``POST /tenant/recorders`` would have the city connect to whatever
address a generated body names, which may be anywhere (its refusals are tests/test_api_recorders.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from api_server import RunningApi, api_settings, issue_key, running_api
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

from api.ratelimit import RateLimiter
from topics.access.roles import agency_role, api_role, tenant_role
from topics.models import ApiKeyKind

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

RUN = uuid.uuid4().hex[:6]
AGENCY = f"fuzz-{RUN}"
TENANT = f"toko-fuzz-{RUN}"
#: operations left out (see the module's docstring)
LEFT_OUT = {("POST", "/tenant/recorders")}
EXAMPLES = 20
WRONG_KIND_EXAMPLES = 3


@pytest.fixture(scope="module")
def api(kafka_principals: Any) -> Iterator[RunningApi]:
    kafka_principals.issue(agency_role(AGENCY))
    kafka_principals.issue(tenant_role(TENANT))
    config = kafka_principals.issue(api_role())
    with running_api(api_settings(config)) as running:
        # Generated requests present wrong keys by the hundred, all from 127.0.0.1.
        running.service.failed_auth_limit = RateLimiter(1_000_000)
        yield running


@pytest.fixture(scope="module")
def keys(api: RunningApi) -> dict[str, str]:
    return {
        "operator": issue_key(ApiKeyKind.OPERATOR, None),
        "agency": issue_key(ApiKeyKind.AGENCY, AGENCY),
        "tenant": issue_key(ApiKeyKind.TENANT, TENANT),
    }


def kind_served(path: str) -> str | None:
    """The key kind an operation serves, by its path (``None``: public)."""
    if path.startswith("/agency"):
        return "agency"
    if path.startswith("/tenant"):
        return "tenant"
    if path.startswith("/operator") or (path.startswith("/map/") and "/public" not in path):
        return "operator"
    return None


def wrong_kind(kind: str | None) -> str:
    return "tenant" if kind in (None, "operator", "agency") else "agency"


def caller(operation: Any, url: str, key: str | None, examples: int, errors: list[str]) -> Any:
    """A Hypothesis test calling ``operation`` with generated requests, presenting ``key``; each
    server error goes to ``errors``."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any) -> None:
        headers = dict(case.headers or {})
        headers.pop("Authorization", None)
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        case.headers = headers
        response = case.call(base_url=url, timeout=30)
        if response.status_code >= 500:
            errors.append(
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:300]}"
            )

    return call


def test_no_request_the_openapi_document_describes_gets_a_server_error(
    api: RunningApi, keys: dict[str, str]
) -> None:
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    called = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself is valid
        operation = result.ok()
        if (operation.method.upper(), operation.path) in LEFT_OUT or operation.path.endswith(
            "/stream"
        ):
            continue
        kind = kind_served(operation.path)
        for key, examples in (
            (keys[kind] if kind else None, EXAMPLES),
            (keys[wrong_kind(kind)], WRONG_KIND_EXAMPLES),
        ):
            errors: list[str] = []
            call = caller(operation, api.url, key, examples, errors)
            call()
            called += 1
            assert not errors, "\n".join(errors[:5])
    assert called >= 20  # every operation of the document but the ones left out, twice
