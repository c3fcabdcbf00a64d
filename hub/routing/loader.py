"""Reading ``routes.yaml``: schema, cross-reference checks, and errors as ``FILE:LINE: what is wrong``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from hub.routing.model import RoutesDocument, every_category_routed, references_resolve
from hub.routing.table import RoutingTable
from hub.rules.yamldoc import ConfigError, Document, load_model


class RoutesError(ConfigError):
    """The routes document is invalid; ``issues`` carry the file and line of each problem."""


def load_routes(path_or_text: str | Path, *, source: str | None = None) -> RoutingTable:
    """Load and validate a routing table from a path or from YAML text; raise ``RoutesError``."""
    document = Document.read(path_or_text, source=source, error=RoutesError)
    parsed = load_model(
        document,
        RoutesDocument,
        checks=(references_resolve, every_category_routed),
        error=RoutesError,
    )
    return RoutingTable(parsed)


def default_routes_text() -> str:
    """The routes shipped with Tilik (``hub/defaults/routes.yaml``)."""
    return resources.files("hub.defaults").joinpath("routes.yaml").read_text(encoding="utf-8")


def load_default_routes() -> RoutingTable:
    return load_routes(default_routes_text(), source="hub/defaults/routes.yaml")
