"""The connector registry: built-in connectors plus every installed package's entry points in the
``tilik.connectors`` group. A plugin that fails to load is reported with its error, never fatal.

An integrator's package registers its class in its own ``pyproject.toml``:

    [project.entry-points."tilik.connectors"]
    acme = "acme_connector.connector:AcmeConnector"
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from connectors.sdk.base import Connector, ConnectorConfig
from connectors.sdk.errors import ConfigurationError

ENTRY_POINT_GROUP = "tilik.connectors"

#: connectors shipped inside the SDK itself, not declared as entry points
BUILTIN_TARGETS: dict[str, str] = {
    "example": "connectors.sdk.example.connector:ExampleConnector",
}

#: distribution whose entry points count as built in
TILIK_DISTRIBUTION = "tilik"


@dataclass(frozen=True)
class ConnectorInfo:
    """One registered connector: where it comes from and whether it loads."""

    name: str
    target: str
    distribution: str | None
    distribution_version: str | None
    builtin: bool
    connector_cls: type[Connector[Any]] | None = None
    error: str | None = None

    @property
    def version(self) -> str | None:
        """The connector's own version (its class attribute), else its package's."""
        if self.connector_cls is not None and self.connector_cls.version != "0.0.0":
            return self.connector_cls.version
        return self.distribution_version

    @property
    def loaded(self) -> bool:
        return self.connector_cls is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target,
            "source": "built-in" if self.builtin else (self.distribution or "unknown"),
            "version": self.version,
            "loaded": self.loaded,
            "error": self.error,
        }


class ConnectorNotFound(ConfigurationError):
    """No connector of that name is installed."""


class ConnectorLoadError(ConfigurationError):
    """A connector is registered but its class cannot be loaded or is not a Connector."""


def _import_target(target: str) -> object:
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    value: object = module
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


def validate_connector_class(name: str, value: object) -> type[Connector[Any]]:
    """The loaded object, checked to be a usable Connector registered under its own name."""
    if not (isinstance(value, type) and issubclass(value, Connector)):
        raise ConnectorLoadError(f"{name}: {value!r} is not a subclass of connectors.sdk.Connector")
    if getattr(value, "__abstractmethods__", None):
        missing = ", ".join(sorted(value.__abstractmethods__))
        raise ConnectorLoadError(f"{name}: {value.__name__} does not implement {missing}")
    declared = getattr(value, "name", None)
    if declared != name:
        raise ConnectorLoadError(
            f"{name}: {value.__name__}.name is {declared!r}; it must equal the entry-point name"
        )
    config_model = getattr(value, "config_model", None)
    if not (isinstance(config_model, type) and issubclass(config_model, ConnectorConfig)):
        raise ConnectorLoadError(f"{name}: {value.__name__}.config_model is not a ConnectorConfig")
    return value


def _load(name: str, target: str) -> tuple[type[Connector[Any]] | None, str | None]:
    try:
        return validate_connector_class(name, _import_target(target)), None
    except ConnectorLoadError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, never fatal
        return None, f"{type(exc).__name__}: {exc}"


def _info(entry: EntryPoint, *, load: bool) -> ConnectorInfo:
    dist = entry.dist
    dist_name = dist.metadata["Name"] if dist is not None else None
    cls, error = _load(entry.name, entry.value) if load else (None, None)
    return ConnectorInfo(
        name=entry.name,
        target=entry.value,
        distribution=dist_name,
        distribution_version=dist.version if dist is not None else None,
        builtin=dist_name == TILIK_DISTRIBUTION,
        connector_cls=cls,
        error=error,
    )


def available_connectors(*, load: bool = True) -> dict[str, ConnectorInfo]:
    """Every registered connector by name, loaded (``load=True``) with any load error recorded."""
    found: dict[str, ConnectorInfo] = {}
    for name, target in BUILTIN_TARGETS.items():
        cls, error = _load(name, target) if load else (None, None)
        found[name] = ConnectorInfo(
            name, target, TILIK_DISTRIBUTION, None, builtin=True, connector_cls=cls, error=error
        )
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        info = _info(entry, load=load)
        if entry.name in found and found[entry.name].target != entry.value:
            # Two packages claim one name: neither silently wins.
            found[entry.name] = ConnectorInfo(
                entry.name,
                entry.value,
                info.distribution,
                info.distribution_version,
                builtin=False,
                error=f"name also registered by {found[entry.name].target}",
            )
            continue
        found.setdefault(entry.name, info)
    return dict(sorted(found.items()))


def load_connector(name: str) -> type[Connector[Any]]:
    """The connector class registered as ``name``; errors say what is installed or what failed."""
    known = available_connectors(load=False)
    if name not in known:
        names = ", ".join(known) or "none"
        raise ConnectorNotFound(f"no connector named {name!r} is installed (installed: {names})")
    cls, error = _load(name, known[name].target)
    if cls is None:
        raise ConnectorLoadError(f"connector {name!r} failed to load: {error}")
    return cls
