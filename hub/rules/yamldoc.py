"""YAML configuration documents validated by pydantic, with errors that name the file and line.

Rules and routes are edited by city operators, so a mistake must point at the line to fix. The
document is parsed twice from the same text: once into plain data for pydantic, once into the
YAML node tree, which keeps the line of every key and item. A validation error's location
(``rules.3.window_s``) is walked down that tree to find the line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

M = TypeVar("M", bound=BaseModel)

Loc = tuple[str | int, ...]

# A document larger than this is not a hand-written ruleset; refuse rather than parse it.
MAX_DOCUMENT_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class ConfigIssue:
    """One thing wrong with a document: where (file and line) and what."""

    source: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.message}"


class ConfigError(ValueError):
    """A configuration document is invalid; ``issues`` lists every problem found, each with its line."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


# A cross-reference check run after the schema: returns (location, message) pairs.
Check = Callable[[M], list[tuple[Loc, str]]]


@dataclass(frozen=True)
class Document:
    """Text of a configuration document and the name errors should show for it."""

    text: str
    source: str

    @classmethod
    def read(
        cls,
        path_or_text: str | Path,
        *,
        source: str | None = None,
        error: type[ConfigError] = ConfigError,
    ) -> Document:
        """A ``Path``, or a one-line string ending in ``.yaml``/``.yml`` or naming a file, is read; other strings are the text."""
        if isinstance(path_or_text, Path) or _looks_like_path(path_or_text):
            path = Path(path_or_text)
            try:
                size = path.stat().st_size
                if size > MAX_DOCUMENT_BYTES:
                    raise error([ConfigIssue(str(path), None, f"file is too large ({size} bytes)")])
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise error(
                    [ConfigIssue(str(path), None, f"cannot read file: {exc.strerror}")]
                ) from exc
            except UnicodeDecodeError as exc:
                raise error([ConfigIssue(str(path), None, "file is not UTF-8")]) from exc
            return cls(text, source or str(path))
        text = str(path_or_text)
        if len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
            raise error([ConfigIssue(source or "<text>", None, "document is too large")])
        return cls(text, source or "<text>")


def _looks_like_path(value: str) -> bool:
    if "\n" in value or len(value) > 4096:
        return False
    return value.endswith((".yaml", ".yml")) or Path(value).is_file()


def load_model(
    document: Document,
    model: type[M],
    checks: Sequence[Check[M]] = (),
    *,
    error: type[ConfigError] = ConfigError,
) -> M:
    """Parse, validate against ``model``, then run ``checks``; raise ``error`` with lines."""
    try:
        root = yaml.compose(document.text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(document.text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else mark.line + 1
        message = f"invalid YAML: {exc.problem or exc.context or 'syntax error'}"
        raise error([ConfigIssue(document.source, line, message)]) from exc
    except yaml.YAMLError as exc:
        raise error([ConfigIssue(document.source, None, f"invalid YAML: {exc}")]) from exc
    if root is None:
        raise error([ConfigIssue(document.source, 1, "document is empty")])
    aliases = _aliases(document.text)
    if aliases:
        # An alias can make a few lines expand into a huge structure; rules stay explicit.
        raise error(
            [
                ConfigIssue(document.source, line, "YAML aliases (*name) are not supported")
                for line in aliases
            ]
        )
    duplicates = _duplicate_keys(root)
    if duplicates:
        raise error(
            [
                ConfigIssue(document.source, line, f"duplicate key {key!r}")
                for key, line in duplicates
            ]
        )
    try:
        value = model.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(detail) for detail in exc.errors(include_url=False)]
        raise error(_issues(document.source, root, problems)) from exc
    problems = [problem for check in checks for problem in check(value)]
    if problems:
        raise error(_issues(document.source, root, problems))
    return value


def _describe(error: ErrorDetails) -> tuple[Loc, str]:
    loc: Loc = tuple(error["loc"])
    if error["type"] == "union_tag_invalid":
        # Point at the tag itself (``kind: thresold``) and say what it may be.
        ctx = error.get("ctx", {})
        field = str(ctx.get("discriminator", "kind")).strip("'")
        return (
            *loc,
            field,
        ), f"unknown {field} {ctx.get('tag')!r}, expected one of {ctx.get('expected_tags')}"
    return loc, error["msg"]


def _issues(source: str, root: yaml.Node, problems: list[tuple[Loc, str]]) -> list[ConfigIssue]:
    issues = []
    for loc, message in problems:
        line, shown = locate(root, loc)
        text = f"{_dotted(shown)}: {message}" if shown else message
        issues.append(ConfigIssue(source, line, text))
    return sorted(issues, key=lambda issue: issue.line or 0)


def _dotted(loc: Sequence[str | int]) -> str:
    return ".".join(str(part) for part in loc)


def locate(root: yaml.Node, loc: Loc) -> tuple[int, Loc]:
    """1-based line of the deepest node ``loc`` reaches, and ``loc`` without union tags.

    Pydantic puts the tag of a discriminated union into the location (``rules.0.dwell.min_s``);
    a part equal to the mapping's own ``kind`` is that tag, so it is dropped. A part that names
    no key (a missing field) stays in the location; the line is then its parent's.
    """
    node: yaml.Node | None = root
    line = root.start_mark.line + 1
    shown: list[str | int] = []
    for part in loc:
        if node is not None and _kind_of(node) == part:
            continue
        shown.append(part)
        node = None if node is None else _child(node, part)
        if node is not None:
            line = node.start_mark.line + 1
    return line, tuple(shown)


def _kind_of(node: yaml.Node) -> str | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "kind":
                return value.value if isinstance(value, yaml.ScalarNode) else None
    return None


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                # A key whose value is a scalar points at the key's own line.
                return value if not isinstance(value, yaml.ScalarNode) else key
        return None
    if (
        isinstance(node, yaml.SequenceNode)
        and isinstance(part, int)
        and 0 <= part < len(node.value)
    ):
        item: yaml.Node = node.value[part]
        return item
    return None


def _aliases(text: str) -> list[int]:
    return [
        (event.start_mark.line + 1) if event.start_mark is not None else 1
        for event in yaml.parse(text, Loader=yaml.SafeLoader)
        if isinstance(event, yaml.AliasEvent)
    ]


def _duplicate_keys(root: yaml.Node) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        found.append((key.value, key.start_mark.line + 1))
                    seen.add(key.value)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return sorted(found, key=lambda item: item[1])
