"""Command-line options whose default, help and bounds come from a model's field, so a command
and the model it fills never disagree about a default (``--health-check-every`` is
``HubConfig.health_check_every_s``'s default, whatever that becomes)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import annotated_types
import click
from pydantic import BaseModel

F = TypeVar("F", bound=Callable[..., Any])


def field_default(owner: type, name: str) -> Any:
    """The default of field ``name`` of a pydantic model or a dataclass."""
    if issubclass(owner, BaseModel):
        return owner.model_fields[name].get_default(call_default_factory=True)
    if not dataclasses.is_dataclass(owner):
        raise TypeError(f"{owner.__name__} is neither a pydantic model nor a dataclass")
    for found in dataclasses.fields(owner):
        if found.name == name:
            if found.default is not dataclasses.MISSING:
                return found.default
            if found.default_factory is not dataclasses.MISSING:
                return found.default_factory()
            raise ValueError(f"{owner.__name__}.{name} has no default")
    raise KeyError(f"{owner.__name__} has no field {name!r}")


def _bounded_type(owner: type, name: str) -> click.ParamType | None:
    """An int or float field's bounds as a click range (pydantic fields only)."""
    if not issubclass(owner, BaseModel):
        return None
    info = owner.model_fields[name]
    if info.annotation not in (int, float):
        return None
    bounds: dict[str, Any] = {}
    for constraint in info.metadata:
        if isinstance(constraint, annotated_types.Ge):
            bounds["min"] = constraint.ge
        elif isinstance(constraint, annotated_types.Gt):
            bounds.update(min=constraint.gt, min_open=True)
        elif isinstance(constraint, annotated_types.Le):
            bounds["max"] = constraint.le
        elif isinstance(constraint, annotated_types.Lt):
            bounds.update(max=constraint.lt, max_open=True)
    if info.annotation is int:
        return click.IntRange(**bounds)
    return click.FloatRange(**bounds)


def field_option(owner: type, name: str, *decls: str, **kwargs: Any) -> Callable[[F], F]:
    """``click.option(*decls, **kwargs)`` with the field's default (shown), its description as
    help and its bounds as the type, unless ``kwargs`` says otherwise."""
    kwargs.setdefault("default", field_default(owner, name))
    kwargs.setdefault("show_default", True)
    if issubclass(owner, BaseModel):
        description = owner.model_fields[name].description
        if description:
            kwargs.setdefault("help", description)
    bounded = _bounded_type(owner, name)
    if bounded is not None:
        kwargs.setdefault("type", bounded)
    return click.option(*decls, **kwargs)
