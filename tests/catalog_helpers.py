"""Test helpers for catalog tests on a shared broker: private topics with unique names."""

from __future__ import annotations

import uuid

from pydantic import BaseModel

from topics.admin import apply_catalog
from topics.catalog import DAY_MS, TopicSpec


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def private_spec(
    model: type[BaseModel],
    *,
    key: str = "camera_id",
    partitions: int = 1,
    compact: bool = False,
    retention_ms: int = DAY_MS,
) -> TopicSpec:
    """A topic only this test uses, shaped like a catalog topic."""
    return TopicSpec(
        name=f"test.{uuid.uuid4().hex[:12]}.v1",
        value_model=model,
        key=key,
        description="private test topic",
        partitions=partitions,
        cleanup_policy="compact" if compact else "delete",
        retention_ms=-1 if compact else retention_ms,
    )


def create(bootstrap: str, *specs: TopicSpec) -> None:
    apply_catalog(list(specs), bootstrap=bootstrap, replication_factor=1)
