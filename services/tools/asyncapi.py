"""The wire contract as an AsyncAPI 3.0 document (`lapor schemas asyncapi`), for channel and
agency integrators who generate clients and docs from it. No Kafka here: it is made from the
wire models (schemas/), the topic catalogue (services/runtime/topics.py) and the access plan
(services/tools/access_plan.py), so it cannot say what the code does not do. The checked-in
copy is docs/asyncapi.yaml; a unit test fails when it differs from what this module makes."""

from __future__ import annotations

import inspect
import re
from importlib.metadata import metadata
from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

from schemas.bridge import (
    BridgeCommand, BridgeDelivery, BridgeSeenCall, BridgeUndelivered, Open311Request,
)
from schemas.common import SCHEMA_VERSION, Channel, WireModel
from schemas.events import ALL_EVENTS, AcceptedComplaint, StatusEvent
from schemas.export import ID_BASE
from schemas.desk import StatusDraft
from schemas.staff import StaffSignOut
from services.runtime.settings import Settings
from services.runtime.topics import (
    CLOSURES, TRIAGE, TopicSpec, agency_topics, catalogue,
)
from services.tools import access_plan
from services.tools.access_plan import Operation, Pattern, Resource

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING = "0.5.0"
SCHEMAS = "#/components/schemas/"
# The contract's settings: the code's defaults, on a production cluster of three nodes (RF 3,
# min.insync.replicas 2; README "Running against an existing cluster"). The environment is
# not read: the checked-in document must come out the same on every machine.
REFERENCE_REPLICATION_FACTOR = 3
COMPOSE_BROKER = "kafka"  # the broker's name in docker-compose.yml
CERTS_PORT_OFFSET = 3  # the CERTS listener: client port + 3 (`lapor broker certs --broker-files`)

# Every wire model that travels on a topic (WebhookPing is an HTTP body, not a record).
MODELS: tuple[type[WireModel], ...] = (
    *ALL_EVENTS, Open311Request, BridgeDelivery, BridgeCommand, BridgeSeenCall,
    BridgeUndelivered, StaffSignOut, StatusDraft,
)
# Topics that carry another topic's model (no model names them as its own topic).
BORROWED: dict[str, tuple[type[WireModel], str]] = {
    TRIAGE: (AcceptedComplaint, "Complaints no rule or region claims, for the national admin "
             "to assign: the accepted complaint as an agency may see it (an anonymous "
             "reporter's identity removed)."),
    CLOSURES: (StatusEvent, "The SLA monitor's auto-close statuses (`closed`, no agency): "
               "the status gate passes them on as claims, which the router judges before "
               "complaints.status.v1."),
}
PARAMETERS = {
    "agency_id": "The agency's id (lowercase letters, digits and '-', at most 64), as in the "
                 "agency registry; each agency has its own topic and principal.",
    "channel": "The channel the reporter used; each channel has its own topic and principal.",
}


def reference_settings() -> Settings:
    return Settings.model_construct(replication_factor=REFERENCE_REPLICATION_FACTOR)


def _template(name: str, model: type[WireModel]) -> tuple[str, str, str] | None:
    """(template, parameter, value) when `name` is one member of the model's topic family."""
    found = re.fullmatch(r"(.*)\{(\w+)\}(.*)", model.topic_name)
    if found is None:
        return None
    head, param, tail = found.groups()
    if name.startswith(head) and name.endswith(tail) and len(name) > len(head) + len(tail):
        return model.topic_name, param, name[len(head):len(name) - len(tail)]
    return None


def _model_of(name: str) -> tuple[type[WireModel], str, str | None, str | None]:
    """The model a topic carries, its channel's address, and the family's parameter and value."""
    if name in BORROWED:
        return BORROWED[name][0], name, None, None
    for model in MODELS:
        if model.topic_name == name:  # a fixed topic, or a family's template itself
            param = re.search(r"\{(\w+)\}", name)
            return model, name, param and param[1], param and param[0]
        family = _template(name, model)
        if family:
            return model, family[0], family[1], family[2]
    raise KeyError(f"topic {name} has no wire model: give it one in schemas/ (topic_name) "
                   "or list it in services/tools/asyncapi.py BORROWED")


def _may(principal: access_plan.Principal, op: Operation, topic: str) -> bool:
    for g in principal.grants:
        if g.resource is not Resource.topic or g.operation not in (op, Operation.all):
            continue
        if g.name == topic if g.pattern is Pattern.literal else topic.startswith(g.name):
            return True
    return False


def _family_user(settings: Settings, user: str, param: str | None, value: str | None) -> str:
    """A channel principal stands for its family (`channel-{channel}`), like an agency's."""
    if param == "channel" and value and user == access_plan.channel_user(settings, value):
        return access_plan.channel_user(settings, "{channel}")
    return user


def _principals(settings: Settings, plan: list[access_plan.Principal], members: list[str],
                op: Operation, param: str | None) -> list[str]:
    users = set()
    for name in members:
        value = _model_of(name)[3]
        users |= {_family_user(settings, p.user, param, value) for p in plan
                  if _may(p, op, settings.topic(name))}
    return sorted(users)


def _schema_names() -> tuple[dict[type[WireModel], str], dict[str, Any]]:
    keys, top = models_json_schema([(m, "validation") for m in MODELS], ref_template=SCHEMAS + "{model}")
    names: dict[type[WireModel], str] = {}
    for (model, _), ref in keys.items():
        assert isinstance(model, type) and issubclass(model, WireModel)
        names[model] = ref["$ref"].removeprefix(SCHEMAS)
    defs: dict[str, Any] = _draft07(top["$defs"])
    return names, defs


def _draft07(node: Any) -> Any:
    """JSON Schema draft-07 (AsyncAPI's default schema format) ignores a `$ref`'s siblings: a
    `$ref` with a default or a description goes into an `allOf`, so they still count."""
    if isinstance(node, list):
        return [_draft07(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _no_tags(v) if k == "description" and isinstance(v, str) else _draft07(v)
           for k, v in node.items()}
    if "$ref" in out and len(out) > 1:
        # titled as the schema it wraps: generated clients name the type after it
        ref = out.pop("$ref")
        out = {"allOf": [{"$ref": ref}], "title": ref.removeprefix(SCHEMAS), **out}
    return out


def _key_schema(key: str, model: type[WireModel], schemas: dict[str, Any], name: str) -> dict[str, Any]:
    """The record key, from the catalogue: one of the message's own fields where it is one."""
    if key.startswith("none"):
        return {"type": "null", "description": f"No key: {key}."}
    if key in model.model_fields:
        field = dict(schemas[name]["properties"][key])
        field = next((s for s in field.pop("anyOf", []) if s.get("type") != "null"), field)
        field.pop("default", None)
        field.pop("title", None)
        return {**field, "description": f"The message's `{key}` (UTF-8 text)."}
    return {"type": "string", "description": f"UTF-8 text: {key} ('|' joins two values)."
            if "|" in key else f"UTF-8 text: {key}."}


def _binding(spec: TopicSpec) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for k, v in sorted(spec.configs().items()):
        if k == "cleanup.policy":
            config[k] = sorted(v.split(","))
        else:
            config[k] = int(v) if v.lstrip("-").isdigit() else v
    return {"kafka": {"partitions": spec.partitions, "replicas": spec.replication_factor,
                      "topicConfiguration": config, "bindingVersion": KAFKA_BINDING}}


def _doc(model: type[WireModel]) -> str:
    """The model's docstring, its paragraphs unwrapped (Markdown in the document)."""
    paragraphs = inspect.cleandoc(model.__doc__ or "").split("\n\n")
    return _no_tags("\n\n".join(" ".join(p.split()) for p in paragraphs))


def _no_tags(text: str) -> str:
    """`agency.<agency_id>.complaints.v1` outside a code span reads as an HTML tag in the
    renderers (it vanishes): written as the channel address is, `{agency_id}`."""
    parts = text.split("`")
    return "`".join(re.sub(r"<(\w[\w ]*)>", r"{\1}", p) if i % 2 == 0 else p
                    for i, p in enumerate(parts))


def _summary(description: str) -> str:
    first = description.split("\n\n")[0]
    end = first.find(". ")
    return first if end < 0 else first[:end + 1]


def _channel_id(address: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]+", "_", address.replace("{", "").replace("}", "")).strip("_")


def _operation(settings: Settings, action: str, chid: str, address: str, message: str,
               users: list[str]) -> dict[str, Any]:
    verb = "write" if action == "send" else "read"
    who = ", ".join(f"`{u}`" for u in users) if users else (
        f"no principal: only the operator's `{settings.topic_prefix}lapor-admin` (a super user)")
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{chid}"},
        "title": f"{verb.capitalize()} {address}",
        "summary": f"Who may {verb} {address} (Kafka ACLs, deny by default).",
        "description": f"May {verb} (the access plan; `lapor access check USER` prints one "
                       f"principal's grants): {who}. Each logs in with SCRAM-SHA-512 over TLS, or "
                       "with a client certificate that carries its grants.",
        "security": [{"$ref": "#/components/securitySchemes/scramSha512"},
                     {"$ref": "#/components/securitySchemes/clientCertificate"}],
        "messages": [{"$ref": f"#/channels/{chid}/messages/{message}"}],
        "x-lapor-principals": users or [f"{settings.topic_prefix}lapor-admin"],
    }


def build(settings: Settings | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document as a dict, in a stable order."""
    settings = settings or reference_settings()
    names, schemas = _schema_names()
    specs = [*catalogue(settings), *agency_topics(settings, "{agency_id}")]
    plan = access_plan.plan(settings, ["{agency_id}"])
    families: dict[str, list[TopicSpec]] = {}
    for spec in specs:
        families.setdefault(_model_of(spec.name)[1], []).append(spec)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for address in sorted(families):
        members = families[address]
        spec = members[0]
        model, _, param, _ = _model_of(spec.name)
        if any((m.key, m.partitions, m.configs()) != (spec.key, spec.partitions, spec.configs())
               for m in members):
            raise ValueError(f"the topics of {address} differ in key, partitions or configs")
        chid, message = _channel_id(address), model.schema_name
        schema_name = names[model]
        description = BORROWED[spec.name][1] if spec.name in BORROWED else _doc(model)
        channel: dict[str, Any] = {
            "address": address,
            "title": address,
            "description": description,
            "messages": {message: {
                "name": message,
                "title": model.__name__,
                "summary": _summary(description),
                "contentType": "application/json",
                "payload": {"$ref": SCHEMAS + schema_name},
                "bindings": {"kafka": {"key": _key_schema(spec.key, model, schemas, schema_name),
                                       "bindingVersion": KAFKA_BINDING}},
            }},
            "bindings": _binding(spec),
            "x-lapor-key": spec.key,
        }
        if param:
            channel["parameters"] = {param: _parameter(param)}
        if spec.copartition_group:
            channel["x-lapor-copartition-group"] = spec.copartition_group
        channels[chid] = channel
        member_names = [m.name for m in members]
        for action, op in (("send", Operation.write), ("receive", Operation.read)):
            users = _principals(settings, plan, member_names, op, param)
            operations[f"{action}_{chid}"] = _operation(settings, action, chid, address, message, users)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:lapor-router:contract:v1",
        "info": _info(),
        "defaultContentType": "application/json",
        "servers": _servers(settings),
        "channels": channels,
        "operations": operations,
        "components": {"schemas": dict(sorted(schemas.items())),
                       "securitySchemes": _security_schemes()},
    }


def _parameter(param: str) -> dict[str, Any]:
    if param == "channel":
        return {"description": PARAMETERS[param], "enum": [c.value for c in Channel]}
    return {"description": PARAMETERS[param], "examples": ["pln", "pemda-32-73"]}


def _info() -> dict[str, Any]:
    return {
        "title": "lapor-router wire contract",
        "version": f"{SCHEMA_VERSION}.0.0",
        "description": (
            "Kafka topics of SP4N-LAPOR! complaint routing (contract v1), generated from the "
            "code by `lapor schemas asyncapi`. Every record's value is JSON with "
            "`schema_version: 1`; unknown fields are ignored on read, and producers may add "
            "optional fields in v1. Topic names are shown without the deployment's prefix "
            "(`LAPOR_TOPIC_PREFIX`, also before principal names). Partitions, replicas and "
            "retention are the code's defaults on a three-node cluster; a deployment may set "
            "others (`LAPOR_PARTITIONS`, `LAPOR_REPLICATION_FACTOR`, `LAPOR_*_RETENTION_DAYS`). "
            "Each operation lists the principals whose ACLs allow it (`x-lapor-principals`)."),
        "license": {"name": metadata("lapor-router")["License-Expression"] or "Apache-2.0",
                    "url": "https://www.apache.org/licenses/LICENSE-2.0"},
        "contact": {"name": "lapor-router", "url": ID_BASE.split("/schemas/")[0]},
    }


def _servers(settings: Settings) -> dict[str, Any]:
    port = settings.broker_port
    scram = [{"$ref": "#/components/securitySchemes/scramSha512"}]
    return {
        "production": {
            "host": "{broker}", "protocol": "kafka-secure", "protocolVersion": settings.kafka_version,
            "title": "A deployment's cluster: SCRAM-SHA-512 over TLS (CLIENT listener)",
            "description": "Any broker of the deployment's cluster (`LAPOR_BOOTSTRAP_SERVERS`). "
                           "TLS with the deployment's CA, then SASL/SCRAM-SHA-512 as the "
                           "principal `lapor access provision` made.",
            "variables": {"broker": {"default": f"{COMPOSE_BROKER}:{port}",
                                     "description": "host:port of a broker; "
                                     f"`{COMPOSE_BROKER}:{port}` in the compose deployment",
                                     "examples": [f"{COMPOSE_BROKER}:{port}", "kafka-1:9093"]}},
            "security": scram,
        },
        "production-certificates": {
            "host": "{broker}", "protocol": "kafka-secure", "protocolVersion": settings.kafka_version,
            "title": "A deployment's cluster: mutual TLS (CERTS listener)",
            "description": "For clients that cannot do SCRAM with Kafka 4 (librdkafka before "
                           "2.6.1): TLS with a client certificate from `lapor access "
                           "issue-cert`, whose CN is the principal.",
            "variables": {"broker": {"default": f"{COMPOSE_BROKER}:{port + CERTS_PORT_OFFSET}",
                                     "description": "host:port of a broker's CERTS listener; "
                                     f"`{COMPOSE_BROKER}:{port + CERTS_PORT_OFFSET}` in the compose deployment",
                                     "examples": [f"{COMPOSE_BROKER}:{port + CERTS_PORT_OFFSET}"]}},
            "security": [{"$ref": "#/components/securitySchemes/clientCertificate"}],
        },
        "local": {
            "host": f"127.0.0.1:{port}", "protocol": "kafka-secure",
            "protocolVersion": settings.kafka_version,
            "title": "The demo's embedded broker (`bash scripts/demo`, `lapor broker start`)",
            "description": f"TLS with the development CA (`{settings.access_dir}/ca.pem`), then "
                           "SCRAM; `lapor broker start` prints its CERTS listener's port.",
            "security": scram,
        },
    }


def _security_schemes() -> dict[str, Any]:
    return {
        "clientCertificate": {
            "type": "X509",
            "description": "Mutual TLS on the CERTS listener: a certificate signed by the "
                           "deployment's CA, subject `OU=lapor-client, CN=<user>.tls-<serial>`; "
                           "the CN is the principal and carries exactly that user's grants.",
        },
        "scramSha512": {
            "type": "scramSha512",
            "description": "SASL/SCRAM-SHA-512 over TLS on the CLIENT listener, as the "
                           "principal's user (`svc-*`, `channel-*`, `agency-*`, `national-admin`).",
        },
    }


class _Dumper(yaml.SafeDumper):
    """No anchors: every object written out where it is used."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(settings: Settings | None = None) -> str:
    header = "# Generated by `lapor schemas asyncapi --out docs/asyncapi.yaml`: do not edit.\n"
    return header + yaml.dump(build(settings), Dumper=_Dumper, sort_keys=False,
                              allow_unicode=True, width=100)
