"""Validating what the exports write with third-party tools: structure and cardinality with
`fhir.resources` (R4B), and invariants as FHIRPath through `fhirpathpy` (with the R4 model, so
choice types such as `value[x]` resolve)."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhirpathpy import evaluate
from fhirpathpy.models import models

R4 = models["r4"]
CPR_PATTERN = r"^(0[1-9]|[12]\d|3[01])(0[1-9]|1[0-2])\d{6}$"

# Invariants every export keeps, true on each resource (`%resource` is the resource itself).
RESOURCE_INVARIANTS = {
    "id-shape": "id.matches('^[A-Za-z0-9\\\\-\\\\.]{1,64}$')",
    "extensions-have-values": "extension.all(value.exists())",
    "codings-have-system-and-code": "descendants().ofType(Coding).all(system.exists() and code.exists())",
    "scores-in-range": "resourceType != 'Observation' or (value.exists() or component.exists())",
    "observation-values-bounded": "(value | component.value).all($this >= 0 and $this <= 10)",
    "encounter-class": "resourceType != 'Encounter' or class.code in ('HH' | 'IMP' | 'EMER' | 'ACUTE' | 'SS')",
}
BUNDLE_INVARIANTS = {
    # DK core: the CPR number's system and shape.
    "dk-core-cpr": "entry.resource.ofType(Patient).identifier.where(system = 'urn:oid:1.2.208.176.1.2')"
    f".all(value.matches('{CPR_PATTERN}'))",
    "collection": "type = 'collection'",
    "full-urls-unique": "entry.fullUrl.isDistinct()",
    # Every reference in the Bundle names an entry of it.
    "references-resolve": "entry.resource.descendants().reference.where($this.startsWith('urn:uuid:'))"
    ".all(%bundle.entry.fullUrl contains $this)",
}


def true_on(resource: dict[str, Any], expression: str, bundle: dict[str, Any] | None = None) -> bool:
    result = evaluate(resource, expression, {"bundle": bundle or resource, "resource": resource}, R4)
    return result == [True]


def check_resource(resource: dict[str, Any]) -> None:
    """The resource parses as its R4B model and keeps every resource invariant."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    broken = [name for name, rule in RESOURCE_INVARIANTS.items() if not true_on(resource, rule)]
    assert not broken, (resource["resourceType"], resource["id"], broken)


def check_bundle(bundle: dict[str, Any]) -> None:
    """The Bundle parses (each entry as its resource), keeps the Bundle's invariants and each entry's."""
    Bundle.model_validate(bundle)
    broken = [name for name, rule in BUNDLE_INVARIANTS.items() if not true_on(bundle, rule, bundle)]
    assert not broken, broken
    for entry in bundle["entry"]:
        check_resource(entry["resource"])
