"""A connector's reference, rendered from its class and config model (``tilik connectors describe``,
docs/connector-configs.md): what an integrator or operator writes in a device config."""

from __future__ import annotations

import inspect
from typing import Any

from core.modeldoc import model_reference


def describe_connector(connector_cls: Any, *, heading: str = "##") -> str:
    """Markdown: the connector's name and version, its config model's purpose and every field."""
    config = connector_cls.config_model
    summary = inspect.getdoc(config) or ""
    lines = [
        f"{heading} `{connector_cls.name}`",
        "",
        f"Version {connector_cls.version}; config model "
        f"`{config.__module__}.{config.__qualname__}`.",
    ]
    if summary:
        lines += ["", summary.split("\n\n", 1)[0].replace("\n", " ")]
    lines += ["", model_reference(config, heading=heading + "#").rstrip("\n"), ""]
    return "\n".join(lines)
