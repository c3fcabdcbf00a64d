"""Published documentation of the catalog: one JSON Schema per payload and an AsyncAPI 3.0 document.

Both are rendered from the same declarations that create topics and validate messages, so the
documentation cannot drift from what the hub enforces. Each channel says which roles may read
and write it (``x-tilik-access``, from ``topics.access.roles``), and ``access.md`` holds the
role x topic table that ``docs/access.md`` publishes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from core import __version__
from topics.access.docs import (
    TENANT_PLACEHOLDER,
    channel_access,
    render_access_table,
    written_by_outside_parties,
)
from topics.access.roles import Role, declared_roles
from topics.catalog import (
    CONTENT_TYPE,
    DISPATCH,
    SCHEMA_HEADER,
    SCHEMA_VERSION_HEADER,
    TopicSpec,
    tenant_topics,
)
from topics.catalog import all_topics as catalog_topics
from topics.examples import example

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
KAFKA_BINDING_VERSION = "0.5.0"
COMPONENT_REF = "#/components/schemas/{model}"
ACCESS_EXTENSION = "x-tilik-access"


def documented_topics() -> list[TopicSpec]:
    """The shared catalog and, as templates addressed ``tilik.tenant.{tenant}.…``, a tenant's topics."""
    return [*catalog_topics(), *tenant_topics(TENANT_PLACEHOLDER).all]


def documented_roles(specs: Sequence[TopicSpec]) -> list[Role]:
    """Roles for the agencies whose topics are documented, and the template tenant."""
    agencies = sorted(DISPATCH)
    return declared_roles(agencies, [TENANT_PLACEHOLDER])


def schema_filename(spec: TopicSpec) -> str:
    return f"{spec.value_model.__name__}.v{spec.schema_version}.schema.json"


def json_schema(spec: TopicSpec) -> dict[str, Any]:
    """A standalone JSON Schema (2020-12) of a topic's payload."""
    schema = spec.value_model.model_json_schema()
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": schema_filename(spec), **schema}


def channel_id(spec: TopicSpec) -> str:
    # AsyncAPI ids allow letters, digits, '-' and '_' only.
    return spec.name.replace(".", "-").replace("{", "").replace("}", "")


def _component_schemas(models: Sequence[type[BaseModel]]) -> dict[str, Any]:
    """Every payload model and the models it nests, flattened into ``components.schemas``."""
    schemas: dict[str, Any] = {}

    def put(name: str, schema: dict[str, Any]) -> None:
        if name in schemas and schemas[name] != schema:
            raise ValueError(f"two different schemas are both named {name}")
        schemas[name] = schema

    for model in models:
        schema = model.model_json_schema(ref_template=COMPONENT_REF)
        for name, nested in schema.pop("$defs", {}).items():
            put(name, nested)
        put(model.__name__, schema)
    return schemas


def _message(spec: TopicSpec) -> dict[str, Any]:
    model = spec.value_model
    return {
        "name": model.__name__,
        "title": model.__name__,
        "summary": (model.__doc__ or model.__name__).strip().splitlines()[0],
        "contentType": CONTENT_TYPE,
        "headers": {
            "type": "object",
            "properties": {
                SCHEMA_HEADER: {"type": "string", "const": spec.schema_id},
                SCHEMA_VERSION_HEADER: {"type": "string", "const": str(spec.schema_version)},
            },
        },
        "payload": {"$ref": COMPONENT_REF.format(model=model.__name__)},
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": f"The record key: `{spec.key}` of the payload.",
                },
                "schemaIdLocation": "header",
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
        "examples": [{"name": "example", "payload": example(model).model_dump(mode="json")}],
    }


def _channel(spec: TopicSpec, replicas: int, roles: Sequence[Role]) -> dict[str, Any]:
    name = spec.value_model.__name__
    parameters = (
        {"tenant": {"description": "The tenant id (its principal is `tenant-<id>`)."}}
        if TENANT_PLACEHOLDER in spec.name
        else None
    )
    return {
        "address": spec.name,
        **({"parameters": parameters} if parameters else {}),
        "title": spec.name,
        "description": spec.description,
        "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        "bindings": {
            "kafka": {
                "topic": spec.name,
                "partitions": spec.partitions,
                "replicas": replicas,
                "topicConfiguration": {
                    "cleanup.policy": spec.cleanup_policy.split(","),
                    "retention.ms": spec.retention_ms,
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
        ACCESS_EXTENSION: channel_access(spec, roles),
    }


def _operations(spec: TopicSpec, roles: Sequence[Role]) -> dict[str, Any]:
    cid = channel_id(spec)
    message_ref = {"$ref": f"#/channels/{cid}/messages/{spec.value_model.__name__}"}
    # Outside parties (agencies, tenants' sites) send to the topics their roles may write.
    actions = ["receive", "send"] if written_by_outside_parties(spec, roles) else ["receive"]
    return {
        f"{action}-{cid}": {
            "action": action,
            "title": f"{action.capitalize()} {spec.name}",
            "channel": {"$ref": f"#/channels/{cid}"},
            "messages": [message_ref],
        }
        for action in actions
    }


def asyncapi(
    specs: Sequence[TopicSpec] | None = None,
    *,
    server: str = "127.0.0.1:9092",
    replicas: int = 1,
) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of the catalog."""
    specs = list(specs) if specs is not None else documented_topics()
    roles = documented_roles(specs)
    models = list(dict.fromkeys(spec.value_model for spec in specs))
    operations: dict[str, Any] = {}
    for spec in specs:
        operations.update(_operations(spec, roles))
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Tilik topic catalog",
            "version": __version__,
            "description": (
                "The Kafka topics of the Tilik CCTV integration hub: the camera registry, camera "
                "status, device events, alerts, one dispatch and one acknowledgement topic per "
                "agency, dead letters, audit, and each private tenant's ingest and site topics. "
                "Values are JSON; the `tilik-schema` header names the payload schema. Clients "
                "authenticate with SASL/SCRAM-SHA-512; `x-tilik-access` on each channel names "
                "the roles that may read and write it (docs/access.md)."
            ),
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": server,
                "protocol": "kafka",
                "description": "The local development broker (KRaft, loopback, SASL/SCRAM-SHA-512).",
                "security": [{"$ref": "#/components/securitySchemes/scram"}],
            }
        },
        "channels": {channel_id(spec): _channel(spec, replicas, roles) for spec in specs},
        "operations": operations,
        "components": {
            "securitySchemes": {
                "scram": {
                    "type": "scramSha512",
                    "description": "Each party's own principal, issued by `tilik access`.",
                }
            },
            "schemas": _component_schemas(models),
            "messages": {
                spec.value_model.__name__: _message(spec)
                for spec in {s.value_model: s for s in specs}.values()
            },
        },
    }


def write_docs(
    out: Path,
    specs: Sequence[TopicSpec] | None = None,
    *,
    server: str = "127.0.0.1:9092",
    replicas: int = 1,
) -> list[Path]:
    """Write ``<Model>.v<N>.schema.json`` per payload, ``asyncapi.yaml`` and ``access.md`` (the
    role x topic table); returns the files."""
    specs = list(specs) if specs is not None else documented_topics()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in {s.value_model: s for s in specs}.values():
        path = out / schema_filename(spec)
        path.write_text(json.dumps(json_schema(spec), indent=2) + "\n", encoding="utf-8")
        written.append(path)
    path = out / "asyncapi.yaml"
    document = asyncapi(specs, server=server, replicas=replicas)
    path.write_text(
        yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100),
        encoding="utf-8",
    )
    written.append(path)
    path = out / "access.md"
    path.write_text(render_access_table(), encoding="utf-8")
    written.append(path)
    return written
