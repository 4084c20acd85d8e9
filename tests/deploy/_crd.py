"""A strict schema check for the custom resources the manifests use.

``kubernetes-validate`` bundles the schemas of Kubernetes' own kinds only; for
a custom resource it warns and moves on.  The deploy tests accept that
warning for the kinds listed in :data:`CRD_SCHEMAS` alone, and check those
objects here instead: every field must be one this table knows (a misspelled
field fails, as ``--strict`` does for built-in kinds), required fields must be
present, and values must have the right type or be one of the allowed words.

The table covers the fields of cert-manager's ``cert-manager.io/v1`` CRDs that
bani-flight's manifests use or are likely to (a subset of cert-manager's
published CRD schema): extend it, from cert-manager's reference, when a
manifest needs another field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias


@dataclass(frozen=True)
class Obj:
    """A mapping with known keys; ``required`` keys must be present."""

    fields: Mapping[str, Node]
    required: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class ListOf:
    item: Node


@dataclass(frozen=True)
class MapOf:
    """A mapping with free keys (labels, annotations) and values of one type."""

    value: Node


@dataclass(frozen=True)
class OneOf:
    """A string that must be one of ``words``."""

    words: tuple[str, ...]


Node: TypeAlias = type | Obj | ListOf | MapOf | OneOf


def _req(fields: Mapping[str, Node], *required: str) -> Obj:
    return Obj(fields, frozenset(required))


_METADATA = _req(
    {
        "name": str,
        "namespace": str,
        "labels": MapOf(str),
        "annotations": MapOf(str),
    },
    "name",
)
_DURATION = str  # Go duration, e.g. 2160h
_KEY_USAGES = OneOf(
    (
        "signing", "digital signature", "content commitment", "key encipherment",
        "key agreement", "data encipherment", "cert sign", "crl sign", "encipher only",
        "decipher only", "any", "server auth", "client auth", "code signing",
        "email protection", "s/mime", "ipsec end system", "ipsec tunnel", "ipsec user",
        "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc",
    )
)  # fmt: skip
_ISSUER_REF = _req({"name": str, "kind": str, "group": str}, "name")
_SUBJECT = Obj(
    {
        key: ListOf(str)
        for key in (
            "organizations", "countries", "organizationalUnits", "localities",
            "provinces", "streetAddresses", "postalCodes",
        )
    }
    | {"serialNumber": str}
)  # fmt: skip
_PRIVATE_KEY = Obj(
    {
        "algorithm": OneOf(("RSA", "ECDSA", "Ed25519")),
        "encoding": OneOf(("PKCS1", "PKCS8")),
        "size": int,
        "rotationPolicy": OneOf(("Never", "Always")),
    }
)
_CERTIFICATE_SPEC = _req(
    {
        "secretName": str,
        "issuerRef": _ISSUER_REF,
        "commonName": str,
        "dnsNames": ListOf(str),
        "ipAddresses": ListOf(str),
        "uris": ListOf(str),
        "emailAddresses": ListOf(str),
        "subject": _SUBJECT,
        "duration": _DURATION,
        "renewBefore": _DURATION,
        "usages": ListOf(_KEY_USAGES),
        "isCA": bool,
        "privateKey": _PRIVATE_KEY,
        "secretTemplate": Obj({"labels": MapOf(str), "annotations": MapOf(str)}),
        "revisionHistoryLimit": int,
    },
    "secretName",
    "issuerRef",
)
_ISSUER_SPEC = Obj(
    {
        "ca": _req(
            {
                "secretName": str,
                "crlDistributionPoints": ListOf(str),
                "ocspServers": ListOf(str),
                "issuingCertificateURLs": ListOf(str),
            },
            "secretName",
        ),
        "selfSigned": Obj({"crlDistributionPoints": ListOf(str)}),
    }
)


def _resource(spec: Obj) -> Obj:
    return _req(
        {"apiVersion": str, "kind": str, "metadata": _METADATA, "spec": spec},
        "apiVersion",
        "kind",
        "metadata",
        "spec",
    )


#: (apiVersion, kind) -> schema.  The deploy tests accept kubernetes-validate's
#: "no schema" warning for exactly these kinds.
CRD_SCHEMAS: Mapping[tuple[str, str], Obj] = {
    ("cert-manager.io/v1", "Certificate"): _resource(_CERTIFICATE_SPEC),
    ("cert-manager.io/v1", "Issuer"): _resource(_ISSUER_SPEC),
    ("cert-manager.io/v1", "ClusterIssuer"): _resource(_ISSUER_SPEC),
}


def check(value: Any, node: Node, path: str = "") -> list[str]:
    """Every way ``value`` departs from ``node``, as ``path: problem`` strings."""
    where = path or "(root)"
    if isinstance(node, Obj):
        if not isinstance(value, dict):
            return [f"{where}: expected a mapping, got {type(value).__name__}"]
        problems = [
            f"{where}: unknown field {key!r} (known: {', '.join(sorted(node.fields))})"
            for key in value
            if key not in node.fields
        ]
        problems += [
            f"{where}: missing required field {key!r}"
            for key in sorted(node.required)
            if key not in value
        ]
        for key, item in value.items():
            if key in node.fields:
                problems += check(item, node.fields[key], f"{path}.{key}" if path else key)
        return problems
    if isinstance(node, ListOf):
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        return [p for i, item in enumerate(value) for p in check(item, node.item, f"{path}[{i}]")]
    if isinstance(node, MapOf):
        if not isinstance(value, dict):
            return [f"{where}: expected a mapping, got {type(value).__name__}"]
        return [p for k, item in value.items() for p in check(item, node.value, f"{path}.{k}")]
    if isinstance(node, OneOf):
        if value not in node.words:
            return [f"{where}: {value!r} is not one of {', '.join(node.words)}"]
        return []
    # a plain type; bool is not an int here
    if not isinstance(value, node) or (node is int and isinstance(value, bool)):
        return [f"{where}: expected {node.__name__}, got {type(value).__name__}"]
    return []


def check_resource(obj: Mapping[str, Any]) -> list[str]:
    """Problems of a custom resource of a listed kind; an unlisted kind is one problem."""
    key = (obj.get("apiVersion", ""), obj.get("kind", ""))
    schema = CRD_SCHEMAS.get(key)
    if schema is None:
        return [f"{key[1]} ({key[0]}) has no schema here and none in kubernetes-validate"]
    return check(obj, schema)
