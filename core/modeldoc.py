"""Reference documentation rendered from a pydantic model: one Markdown table of its fields (type,
default, limits, description) and one for each model it nests, so a doc cannot drift from code."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined, to_jsonable_python

#: a field's ``json_schema_extra`` key overriding the default shown (a default computed per host)
DEFAULT_SHOWN = "default_shown"

_LIMITS = (
    ("minimum", "≥ {}"),
    ("exclusiveMinimum", "> {}"),
    ("maximum", "≤ {}"),
    ("exclusiveMaximum", "< {}"),
    ("minLength", "at least {} characters"),
    ("maxLength", "at most {} characters"),
    ("maxItems", "at most {} items"),
    ("pattern", "matches `{}`"),
)


def _code(value: str) -> str:
    return "`" + value.replace("|", "\\|") + "`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


class _Renderer:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.defs: dict[str, dict[str, Any]] = schema.get("$defs", {})
        self.nested: list[str] = []

    def type_of(self, schema: dict[str, Any]) -> str:
        name = _ref_name(schema)
        if name is not None:
            target = self.defs.get(name, {})
            if "enum" in target:
                return " \\| ".join(_code(str(v)) for v in target["enum"])
            if name not in self.nested:
                self.nested.append(name)
            return f"{name} (below)"
        if "anyOf" in schema:
            options = [s for s in schema["anyOf"] if s.get("type") != "null"]
            shown = " or ".join(self.type_of(s) for s in options)
            return shown + (" or null" if len(options) < len(schema["anyOf"]) else "")
        if "enum" in schema:
            return " \\| ".join(_code(str(v)) for v in schema["enum"])
        if "const" in schema:
            return _code(str(schema["const"]))
        kind = schema.get("type")
        if kind == "array":
            items = schema.get("items") or (schema.get("prefixItems") or [{}])[0]
            return f"list of {self.type_of(items)}"
        if kind == "object" and "additionalProperties" in schema:
            extra = schema["additionalProperties"]
            return f"map of {self.type_of(extra)}" if isinstance(extra, dict) else "object"
        if schema.get("format") == "password":
            return "secret string"
        if schema.get("format") == "path":
            return "path"
        return str(kind or "any")

    def limits_of(self, schema: dict[str, Any]) -> str:
        found = [template.format(schema[key]) for key, template in _LIMITS if key in schema]
        for option in schema.get("anyOf", []):
            found += [template.format(option[key]) for key, template in _LIMITS if key in option]
        return "; ".join(found)


def _default(model: type[BaseModel], name: str, prop: dict[str, Any]) -> str:
    field = model.model_fields.get(name)
    extra = field.json_schema_extra if field is not None else None
    if isinstance(extra, dict) and DEFAULT_SHOWN in extra:
        return str(extra[DEFAULT_SHOWN])
    if field is not None:
        if field.is_required():
            return "required"
        if field.default_factory is not None:
            value: Any = field.default_factory()  # type: ignore[call-arg]
        elif field.default is PydanticUndefined:
            return "required"
        else:
            value = field.default
        if value is None:
            return "none"
        return _code(json.dumps(to_jsonable_python(value), ensure_ascii=False))
    if "default" in prop:
        return _code(json.dumps(prop["default"], ensure_ascii=False))
    return "required"


def _table(
    model: type[BaseModel] | None,
    schema: dict[str, Any],
    renderer: _Renderer,
    name_of: Callable[[str], str],
) -> list[str]:
    required = set(schema.get("required", []))
    rows = [
        "| field | type | default | limits | description |",
        "|---|---|---|---|---|",
    ]
    for name, prop in schema.get("properties", {}).items():
        if model is not None:
            default = _default(model, name, prop)
        elif name in required:
            default = "required"
        elif "default" in prop:
            default = _code(json.dumps(prop["default"], ensure_ascii=False))
        else:
            default = "its own defaults"
        description = prop.get("description") or ""
        if not description and "anyOf" in prop:
            description = next((o["description"] for o in prop["anyOf"] if "description" in o), "")
        rows.append(
            f"| {name_of(name)} | {renderer.type_of(prop)} | {default} "
            f"| {_cell(renderer.limits_of(prop))} | {_cell(description)} |"
        )
    return rows


def model_reference(
    model: type[BaseModel],
    *,
    heading: str = "####",
    name_of: Callable[[str], str] = _code,
) -> str:
    """Markdown: the fields of ``model`` and, under ``heading``s, of every model nested in it."""
    schema = model.model_json_schema()
    renderer = _Renderer(schema)
    lines = _table(model, schema, renderer, name_of)
    done: set[str] = set()
    while len(done) < len(renderer.nested):
        name = next(n for n in renderer.nested if n not in done)
        done.add(name)
        nested = renderer.defs[name]
        lines += ["", f"{heading} {name}", ""]
        if nested.get("description"):
            lines += [_cell(nested["description"]), ""]
        lines += _table(None, nested, renderer, _code)
    return "\n".join(lines) + "\n"
