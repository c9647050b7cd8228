"""Data residency policies: which regions data of each classification may live in.

One definition for both sides: the adapter checks its own ``data_residency_policy``
(``genops.compliance``) and the processor its central policy's ``data_residency``
(``genops_processor.budgets.residency``) with the same region lists, names and
messages, so the two agree on what is allowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

# US regions of AWS, Google Cloud and Azure.
US_REGIONS = frozenset(
    {
        "us-east-1", "us-east-2", "us-west-1", "us-west-2", "us-gov-east-1", "us-gov-west-1",
        "us-central1", "us-east1", "us-east4", "us-east5", "us-south1",
        "us-west1", "us-west2", "us-west3", "us-west4",
        "eastus", "eastus2", "centralus", "northcentralus", "southcentralus",
        "westcentralus", "westus", "westus2", "westus3",
    }
)  # fmt: skip
# Regions inside the EU/EEA of AWS, Google Cloud and Azure (the UK and Switzerland,
# with adequacy decisions but outside the EU, are left to a custom policy).
EU_REGIONS = frozenset(
    {
        "eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1", "eu-south-1", "eu-south-2",
        "europe-west1", "europe-west3", "europe-west4", "europe-west8", "europe-west9",
        "europe-west10", "europe-west12", "europe-north1", "europe-central2",
        "europe-southwest1",
        "westeurope", "northeurope", "francecentral", "germanywestcentral", "swedencentral",
        "italynorth", "polandcentral", "spaincentral",
    }
)  # fmt: skip
ANY_CLASSIFICATION = "*"


@dataclass(frozen=True)
class ResidencyPolicy:
    """Which regions data of each classification may live in (``*``: any other)."""

    name: str
    allowed: Mapping[str, frozenset[str]]

    def regions_for(self, classification: str | None) -> frozenset[str] | None:
        """The allowed regions, or None when this policy does not constrain the data."""
        key = (classification or "").lower()
        return self.allowed.get(key, self.allowed.get(ANY_CLASSIFICATION))

    def allows(self, region: str | None, classification: str | None) -> bool:
        allowed = self.regions_for(classification)
        if allowed is None:
            return True
        return region is not None and region.lower() in allowed

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "allowed": {k: sorted(v) for k, v in self.allowed.items()}}


RESIDENCY_POLICIES = MappingProxyType(
    {
        "us_only": ResidencyPolicy("us_only", MappingProxyType({ANY_CLASSIFICATION: US_REGIONS})),
        "eu_gdpr_compliant": ResidencyPolicy(
            "eu_gdpr_compliant", MappingProxyType({ANY_CLASSIFICATION: EU_REGIONS})
        ),
    }
)


def residency_policy(value: Any) -> ResidencyPolicy | None:
    """A named policy (``us_only``, ``eu_gdpr_compliant``) or a mapping of data
    classification (``*`` for any other) to the list of allowed regions."""
    if value is None or isinstance(value, ResidencyPolicy):
        return value
    if isinstance(value, str):
        name = value.strip().lower()
        if name in RESIDENCY_POLICIES:
            return RESIDENCY_POLICIES[name]
        raise ValueError(f"expected one of {', '.join(RESIDENCY_POLICIES)} or a mapping")
    if not isinstance(value, Mapping) or not value:
        raise ValueError("expected a policy name or a mapping of classification to regions")
    allowed: dict[str, frozenset[str]] = {}
    for key, regions in value.items():
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"classification {key!r}: expected a name or '*'")
        if isinstance(regions, str) or not isinstance(regions, Iterable):
            raise ValueError(f"'{key}': expected a list of regions")
        names = [r for r in regions if isinstance(r, str) and r.strip()]
        if not names or len(names) != len(list(regions)):
            raise ValueError(f"'{key}': expected a non-empty list of region names")
        allowed[key.strip().lower()] = frozenset(r.strip().lower() for r in names)
    return ResidencyPolicy("custom", MappingProxyType(allowed))


def region(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError("expected a region name such as us-east-1")
    return value.strip().lower() or None


def outside_text(subject: str, where: str | None, policy: ResidencyPolicy, kind: str | None) -> str:
    """Why ``subject`` in region ``where`` breaks ``policy`` for data of ``kind``: the one
    wording of the adapter's check and the processor's."""
    if not where:
        return (
            f"{subject}: no region is known, but data_residency_policy '{policy.name}' "
            "needs one (region=... or GENOPS_REGION)"
        )
    allowed = policy.regions_for(kind) or frozenset()
    shown = ", ".join(sorted(allowed)[:6]) + (", ..." if len(allowed) > 6 else "")
    return (
        f"{subject}: region {where} is outside data_residency_policy '{policy.name}'"
        f"{f' for {kind} data' if kind else ''} (allowed: {shown})"
    )
