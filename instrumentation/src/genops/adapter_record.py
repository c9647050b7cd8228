"""The adapter's customer usage report and batch runner. A mixin of
:class:`genops.adapter.GenOpsWandbAdapter` (as ``adapter_costs`` is).

``process_experiment_batch(configs)`` runs each configuration as a governed experiment
(``track_experiment_lifecycle``, so with the adapter's limits: budget check and hold at
enter, ``max_experiment_cost``, ``max_concurrent_experiments``, the policy's action past
``max_cost``). A configuration is a mapping:

================== =========================================================== =========
key                meaning                                                     default
================== =========================================================== =========
``function``       the callable to run (also accepted: ``callable``, ``fn``)   required
``parameters``     keyword arguments for it (also: ``params``, ``kwargs``)     ``{}``
``args``           positional arguments for it                                 ``()``
``name``           the experiment's name                                       ``batch-<i>``
``experiment_type`` as ``track_experiment_lifecycle``                          ``batch``
``max_cost``       USD; as ``track_experiment_lifecycle``                      adapter's
``tags``           a mapping of tags                                           none
``pass_experiment`` call ``function(experiment, *args, **parameters)``         False
================== =========================================================== =========

It returns one result per configuration, in order: ``index``, ``name``, ``status``
(``succeeded``; ``failed``: the function raised; ``refused``: the budget or a limit
refused the experiment before it ran; ``invalid``: the configuration is not one),
``result`` (the function's return value), ``error`` (one line), ``experiment_id`` and
``cost`` (USD, the experiment's measured cost so far). A failure never stops the rest;
only ``KeyboardInterrupt`` and ``SystemExit`` do.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from genops.config import known_secrets
from genops.errors import BudgetExceededError
from genops.governance import redaction
from genops.money import micros_to_decimal

_log = logging.getLogger("genops.adapter")
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_FUNCTION_KEYS = ("function", "callable", "fn")
_PARAMETER_KEYS = ("parameters", "params", "kwargs")


class AdapterRecord:
    # -- customer usage --------------------------------------------------------------
    def generate_customer_usage_report(
        self, customer_id: str | None = None, billing_period: str | None = None
    ) -> dict[str, Any]:
        """A customer's usage in a billing month (``YYYY-MM``, UTC; default: this month),
        from the processor's ledger: ``total_experiments``, ``total_runs``, ``total_cost``
        (USD) and totals by project, team and category. The processor answers a client
        with its own teams' runs only, and refuses a customer its principal may not read
        (``GovernanceRefused``, PERMISSION_DENIED)."""
        customer = customer_id if customer_id is not None else (self.customer_id or "")
        if not customer:
            raise ValueError("customer_id: required (no customer_id on the adapter either)")
        period = billing_period or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
        if not _PERIOD.match(str(period)):
            raise ValueError(f"billing_period {period!r}: expected a month as YYYY-MM")
        answer = self._client.customer_usage(str(customer), str(period))
        usage = next((c for c in answer.customers if c.customer_id == customer), None)

        def usd(micros: int) -> float:
            return float(micros_to_decimal(micros))

        def usd_map(values: Mapping[str, int]) -> dict[str, float]:
            return {key: usd(value) for key, value in sorted(values.items())}

        return {
            "customer_id": customer,
            "billing_period": answer.billing_period,
            "period_start": answer.period_start,
            "period_end": answer.period_end,
            "total_experiments": int(usage.experiments) if usage else 0,
            "total_runs": int(usage.runs) if usage else 0,
            "failed_runs": int(usage.failed_runs) if usage else 0,
            "total_cost": usd(usage.cost_micros) if usage else 0.0,
            "total_cost_micros": int(usage.cost_micros) if usage else 0,
            "cost_by_project": usd_map(usage.by_project_micros) if usage else {},
            "cost_by_team": usd_map(usage.by_team_micros) if usage else {},
            "cost_by_category": usd_map(usage.by_category_micros) if usage else {},
            "source": "processor",
        }

    # -- batches ----------------------------------------------------------------------
    def process_experiment_batch(
        self, configs: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Run each configuration as a governed experiment; one result per configuration
        (see the module's documentation for both)."""
        if isinstance(configs, (str, bytes, Mapping)) or not isinstance(configs, Sequence):
            raise TypeError("configs: expected a list of mappings (one per experiment)")
        return [self._run_config(index, config) for index, config in enumerate(configs)]

    def _run_config(self, index: int, config: Any) -> dict[str, Any]:
        result: dict[str, Any] = {
            "index": index,
            "name": f"batch-{index}",
            "status": "invalid",
            "result": None,
            "error": "",
            "experiment_id": "",
            "cost": 0.0,
        }
        try:
            function, args, parameters, options = _parse(config)
        except (TypeError, ValueError) as error:
            result["error"] = _one_line(error)
            return result
        result["name"] = options["experiment_name"]
        entered = False
        try:
            with self.track_experiment_lifecycle(**options) as experiment:
                entered = True
                result["experiment_id"] = experiment.experiment_id
                if config.get("pass_experiment"):
                    args = (experiment, *args)
                result["result"] = function(*args, **parameters)
            result["status"] = "succeeded"
        except Exception as error:  # noqa: BLE001 (one config's failure is its result)
            refused = not entered and isinstance(error, (BudgetExceededError, ValueError))
            result["status"] = "refused" if refused else "failed"
            result["error"] = _one_line(error)
            _log.info("genops: batch experiment %s %s: %s", result["name"], result["status"],
                      result["error"])  # fmt: skip
        if result["experiment_id"]:
            try:
                summary = self.get_experiment_cost_summary(result["experiment_id"])
                result["cost"] = float(summary.total_cost)
            except Exception:  # noqa: BLE001 (the cost is a detail of the result)
                _log.debug("genops: no cost for %s", result["name"], exc_info=True)
        return result


def _parse(config: Any) -> tuple[Callable, tuple, dict[str, Any], dict[str, Any]]:
    if not isinstance(config, Mapping):
        raise TypeError(f"expected a mapping, got {type(config).__name__}")
    function = next((config[k] for k in _FUNCTION_KEYS if k in config), None)
    if not callable(function):
        raise TypeError("function: required, a callable (key 'function')")
    parameters = next((config[k] for k in _PARAMETER_KEYS if k in config), None) or {}
    if not isinstance(parameters, Mapping):
        raise TypeError("parameters: expected a mapping of keyword arguments")
    args = config.get("args") or ()
    if isinstance(args, (str, bytes, Mapping)) or not isinstance(args, Sequence):
        raise TypeError("args: expected a list of positional arguments")
    name = config.get("name") or getattr(function, "__name__", "") or "batch"
    options: dict[str, Any] = {
        "experiment_name": str(name),
        "experiment_type": str(config.get("experiment_type") or "batch"),
        "max_cost": config.get("max_cost"),
    }
    if config.get("tags"):
        options["tags"] = dict(config["tags"])
    return function, tuple(args), dict(parameters), options


def _one_line(error: BaseException) -> str:
    return " ".join(redaction.error_text(error, known_secrets()).split())
