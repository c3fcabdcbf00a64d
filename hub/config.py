"""Settings of one hub worker: which broker, which rules and routes, how quickly timers fire."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hub.delivery.policy import RetryPolicy
from hub.rules import RuleSet, load_rules
from hub.rules.model import OfflineRule

# How long a camera may be silent and still count as online in coverage, without offline rules.
DEFAULT_SILENCE_S = 300.0


class HubConfig(BaseModel):
    """Everything a hub worker needs besides the process-wide ``Settings`` (broker security, logs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bootstrap: str = Field(description="Kafka bootstrap servers, comma separated host:port.")
    app_id: str = Field(
        default="tilik-hub",
        # The hub's principal may use only groups and topics under this prefix (docs/access.md).
        pattern=r"^tilik-hub[a-z0-9._-]{0,55}$",
        description=(
            "Consumer group and prefix of the hub's internal topics; workers sharing it share "
            "the work. Starts with `tilik-hub`, the prefix the hub's ACLs cover."
        ),
    )
    rules_path: Path | None = Field(
        default=None,
        description="The ruleset: its event rules (unless health_only) and its offline rules.",
    )
    health_only: bool = Field(
        default=False, description="Camera health and coverage only: no event rules, no routing."
    )
    routes_path: Path | None = None
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=6066, ge=0, le=65535)
    data_dir: Path = Path(".tilik/hub")
    offline_after_s: float | None = Field(
        default=None,
        gt=0,
        description="Overrides the after_s of every offline rule (silence before a camera is offline).",
    )
    health_check_every_s: float = Field(default=10.0, gt=0)
    rules_tick_every_s: float = Field(default=5.0, gt=0)
    escalation_check_every_s: float = Field(default=5.0, gt=0)
    session_timeout_s: float = Field(
        default=10.0, ge=6, description="A silent worker is presumed dead after this long."
    )
    producer_linger_ms: float = Field(default=1.0, ge=0, le=1000)
    commit_every_s: float = Field(default=1.0, gt=0)
    fetch_min_bytes: int = Field(
        default=65536,
        ge=1,
        description="The broker answers a fetch once it has this much (or fetch_max_wait_ms passed).",
    )
    fetch_max_wait_ms: int = Field(default=10, ge=0, le=1500)
    replication_factor: int = Field(default=1, ge=1)
    start_from_latest: bool = Field(
        default=False,
        description="A new consumer group starts at the current end of each topic (the registry is always read whole).",
    )
    webhook_policy: RetryPolicy = Field(default_factory=RetryPolicy)
    tenants: tuple[str, ...] = Field(
        default=(),
        description=(
            "Tenants whose ingest topics the ingest agents read (a worker finds them when it "
            "starts: those whose topics the hub may read)."
        ),
    )

    def ruleset(self) -> RuleSet:
        """The rules the worker runs, with ``offline_after_s`` applied to its offline rules."""
        ruleset = load_rules(self.rules_path) if self.rules_path is not None else RuleSet()
        if self.offline_after_s is None:
            return ruleset
        rules = [
            rule.model_copy(update={"after_s": self.offline_after_s})
            if isinstance(rule, OfflineRule)
            else rule
            for rule in ruleset.rules
        ]
        return ruleset.model_copy(update={"rules": rules})

    def silence_s(self, ruleset: RuleSet) -> float:
        """Silence after which coverage counts a camera as offline: the shortest offline rule's."""
        limits = [r.after_s for r in ruleset.rules if isinstance(r, OfflineRule) and r.enabled]
        return min(limits) if limits else self.offline_after_s or DEFAULT_SILENCE_S

    def broker_urls(self) -> list[str]:
        return [f"kafka://{host.strip()}" for host in self.bootstrap.split(",") if host.strip()]
