"""The published catalog documentation: JSON Schema per payload and a structurally valid AsyncAPI 3.0."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from topics.catalog import all_topics, iter_payload_models
from topics.docs import documented_topics, schema_filename, write_docs
from topics.examples import example


@pytest.fixture(scope="module")
def docs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs")
    write_docs(out)
    return out


@pytest.fixture(scope="module")
def document(docs_dir: Path) -> dict[str, Any]:
    return yaml.safe_load((docs_dir / "asyncapi.yaml").read_text(encoding="utf-8"))


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"external reference {ref}"
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"unresolved $ref {ref}"
        node = node[part]
    return node


def test_every_payload_model_has_a_json_schema_that_accepts_its_example(docs_dir: Path):
    for spec in all_topics():
        model = spec.value_model
        schema = json.loads((docs_dir / schema_filename(spec)).read_text())
        Draft202012Validator.check_schema(schema)
        validator = Draft202012Validator(schema)
        validator.validate(example(model).model_dump(mode="json"))
        assert not validator.is_valid({**example(model).model_dump(mode="json"), "surprise": 1})


def test_asyncapi_has_the_required_top_level_fields(document: dict[str, Any]):
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"] and document["info"]["version"]
    assert document["servers"]["local"]["protocol"] == "kafka"
    assert {c["address"] for c in document["channels"].values()} == {
        s.name for s in documented_topics()
    }
    assert document["servers"]["local"]["security"]


def test_every_ref_resolves(document: dict[str, Any]):
    found = list(refs(document))
    assert len(found) > 50
    for ref in found:
        resolve(document, ref)


def test_every_channel_has_an_operation_whose_refs_resolve(document: dict[str, Any]):
    operated = set()
    for operation in document["operations"].values():
        assert operation["action"] in {"send", "receive"}
        channel = resolve(document, operation["channel"]["$ref"])
        operated.add(channel["address"])
        for message_ref in operation["messages"]:
            assert message_ref["$ref"].startswith(operation["channel"]["$ref"] + "/messages/")
            resolve(document, message_ref["$ref"])
    assert operated == {s.name for s in documented_topics()}


def test_kafka_bindings_match_the_declarations(document: dict[str, Any]):
    for spec in all_topics():
        binding = document["channels"][spec.name.replace(".", "-")]["bindings"]["kafka"]
        assert binding["topic"] == spec.name
        assert binding["partitions"] == spec.partitions
        assert binding["replicas"] >= 1
        assert binding["topicConfiguration"]["retention.ms"] == spec.retention_ms
        assert binding["topicConfiguration"]["cleanup.policy"] == spec.cleanup_policy.split(",")
        assert binding["bindingVersion"]


def test_message_payloads_are_valid_json_schema_and_accept_examples(document: dict[str, Any]):
    messages = document["components"]["messages"]
    assert set(messages) == {m.__name__ for m in iter_payload_models()}
    for name, message in messages.items():
        assert message["bindings"]["kafka"]["schemaIdLocation"] == "header"
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
        payload = resolve(document, message["payload"]["$ref"])
        Draft202012Validator.check_schema(payload)
        # Validate the example against the payload schema with refs resolved in the document.
        schema = {**payload, "components": document["components"]}
        for sample in message["examples"]:
            Draft202012Validator(schema).validate(sample["payload"])
        assert name in message["payload"]["$ref"]
