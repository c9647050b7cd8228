"""The adapter's money paths: reservations renewed and given back, custom catalogs
registered, hand-added cost lines, and local estimates of a run's cost. A mixin of
:class:`genops.adapter.GenOpsWandbAdapter`, kept apart to keep each file readable."""

from __future__ import annotations

import json
import logging
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from opentelemetry.instrumentation.wandb import pipeline

from genops import attributes as attr
from genops.catalog import device_cost_micros
from genops.experiment import ManualLine
from genops.governance_client import GovernanceRefused, GovernanceUnavailable
from genops.hold_renewal import HoldRenewal
from genops.money import round_micros

if TYPE_CHECKING:
    from genops.experiment import Experiment

_log = logging.getLogger("genops.adapter")


class AdapterCosts:
    def _keep_hold(self, experiment: Experiment) -> None:
        """Renew the block's reservation while it runs (a hold nobody renews expires)."""
        if not experiment.hold_id:
            return
        experiment.hold_renewal = HoldRenewal(
            self._client,
            experiment.hold_id,
            self._settings.heartbeat_interval_s,
            f"experiment '{experiment.name}'",
        ).start()

    def _release(self, experiment: Experiment) -> None:
        """The block is over: its reservation goes back (its runs carry their own cost)."""
        if experiment.hold_renewal is not None:
            experiment.hold_renewal.stop()
        if not experiment.hold_id:
            return
        try:
            self._client.release_hold(experiment.hold_id)
        except GovernanceUnavailable as error:
            _log.warning(
                "genops: could not release the reservation of %s (%s); it expires",
                experiment.name,
                error,
            )

    def _register_catalog(self) -> None:
        """Make a custom pricing model's catalog known to the processor (once)."""
        if self._catalog_registered:
            return
        try:
            self._client.register_catalog(
                json.dumps(self._catalog.to_dict()), f"adapter team={self.team}"
            )
            self._catalog_registered = True
        except GovernanceRefused as error:  # asking again cannot help: once, then stop
            self._catalog_registered = True
            _log.warning(
                "genops: the processor refused to register pricing model %s (%s); runs are "
                "priced with the catalogs it knows",
                self._catalog.version,
                error,
            )
        except GovernanceUnavailable as error:
            _log.warning(
                "genops: could not register pricing model %s (%s); will retry",
                self._catalog.version,
                error,
            )

    def _add_manual_cost(
        self, experiment: Experiment, sku: str, category: str, quantity: Decimal, unit: str
    ) -> float:
        """Price a hand-added line locally, send it to the processor, check max_cost."""
        row = self._catalog.get(sku, self._settings.labels.get(attr.REGION))
        amount = None
        if row is not None:
            amount = round_micros(quantity * row.unit_price)
        else:
            experiment.record_violation(
                attr.EVENT_UNPRICED,
                self.governance_policy.value,
                f"no price for '{sku}' in catalog {self._catalog.version}",
            )
        line = ManualLine(
            sku,
            row.category if row else category,
            quantity,
            row.unit if row else unit,
            row.unit_price if row else None,
            amount,
        )
        with experiment._lock:
            experiment.manual_lines.append(line)
        self._register_catalog()
        tracer = self._tracer or pipeline.get_tracer("genops.adapter")
        attributes = {k: v for k, v in self._settings.attribution.items() if v}
        attributes.update(
            {
                attr.EXPERIMENT_ID: experiment.experiment_id,
                attr.COST_SKU: sku,
                attr.COST_CATEGORY: line.category,
                attr.COST_QUANTITY: str(quantity),
                attr.COST_UNIT: line.unit,
                attr.CATALOG_VERSION: self._catalog.version,
            }
        )
        if attr.REGION in self._settings.labels:
            attributes[attr.REGION] = self._settings.labels[attr.REGION]
        tracer.start_span(attr.SPAN_COST_LINE, attributes=attributes).end()
        self._check_experiment_spend(experiment)
        return (amount or 0) / 1_000_000

    def _local_run_cost(self, usage: Any) -> int:
        """Duration x devices x the adapter's catalog rates, plus declared costs."""
        static = usage.static_attributes
        duration = max(0, time.time_ns() - usage.compute_start_ns)
        total = usage.declared_storage_micros
        for sku, count in (
            (static.get(attr.HW_GPU_TYPE), static.get(attr.HW_GPU_COUNT)),
            ("vcpu", static.get(attr.HW_CPU_COUNT)),
        ):
            row = self._catalog.get(str(sku)) if sku and count else None
            if row is not None:
                total += device_cost_micros(row.unit_price, int(count), duration)
        return total
