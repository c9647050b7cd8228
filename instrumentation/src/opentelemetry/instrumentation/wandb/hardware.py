"""What hardware a run holds: GPU model and count, vCPUs, instance type.

Detection order for GPUs: the ``GENOPS_GPU_*`` overrides, NVML (when
``nvidia-ml-py`` is installed), ``nvidia-smi`` (when on PATH), else none.
Model names, detected or overridden, are normalised to catalog SKUs
(``Tesla T4`` -> ``T4``, ``NVIDIA A100-SXM4-80GB`` -> ``A100-80GB``). A model
we cannot place exactly (an unknown one, or a bare ``A100`` with no memory
size) keeps its own name, so the processor reports it unpriced instead of
guessing.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from genops import attributes as attr
from genops.config import HardwareOverrides

_log = logging.getLogger(__name__)

# Order matters: the first pattern that matches names the SKU.
_GPU_PATTERNS = (
    (r"H200", "H200"),
    (r"H100", "H100"),
    (r"A100.*80\s*GB", "A100-80GB"),
    (r"A100.*40\s*GB", "A100-40GB"),
    (r"A10G", "A10G"),
    (r"\bL4\b", "L4"),
    (r"V100", "V100"),
    (r"\bT4\b", "T4"),
)


@dataclass(frozen=True)
class Hardware:
    gpu_type: str
    gpu_count: int
    cpu_count: int
    instance_type: str
    gpu_source: str

    def attributes(self) -> dict[str, object]:
        result: dict[str, object] = {
            attr.HW_GPU_COUNT: self.gpu_count,
            attr.HW_CPU_COUNT: self.cpu_count,
            attr.HW_GPU_SOURCE: self.gpu_source,
        }
        if self.gpu_type:
            result[attr.HW_GPU_TYPE] = self.gpu_type
        if self.instance_type:
            result[attr.HW_INSTANCE_TYPE] = self.instance_type
        return result


def normalise_gpu_name(name: str) -> str:
    for pattern, sku in _GPU_PATTERNS:
        if re.search(pattern, name, re.IGNORECASE):
            return sku
    return name.strip()


def detect(overrides: HardwareOverrides) -> Hardware:
    gpu_names, source = _detected_gpus()
    raw_type = overrides.gpu_type or (gpu_names[0] if gpu_names else "")
    gpu_type = normalise_gpu_name(raw_type) if raw_type else ""
    gpu_count = overrides.gpu_count if overrides.gpu_count is not None else len(gpu_names)
    if overrides.gpu_type and overrides.gpu_count is None and not gpu_names:
        gpu_count = 1  # a GPU type was named and none detected: the run holds one
    if overrides.gpu_type or overrides.gpu_count is not None:
        source = "env"
    return Hardware(
        gpu_type=gpu_type if gpu_count else "",
        gpu_count=gpu_count,
        cpu_count=overrides.cpu_count if overrides.cpu_count is not None else _usable_cpus(),
        instance_type=overrides.instance_type or "",
        gpu_source=source,
    )


@functools.lru_cache(maxsize=1)
def _detected_gpus() -> tuple[tuple[str, ...], str]:
    """GPU model names, probed once per process."""
    try:
        names = _nvml_gpus()
        if names is not None:
            return names, "nvml"
        names = _nvidia_smi_gpus()
        if names is not None:
            return names, "nvidia-smi"
    except Exception:  # detection must never break the user's run
        _log.debug("GPU detection failed", exc_info=True)
    return (), "none"


@contextlib.contextmanager
def _nvml():
    """NVML, initialised for the block (None without nvidia-ml-py or a driver)."""
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        yield None
        return
    try:
        pynvml.nvmlInit()
    except Exception:
        yield None
        return
    try:
        yield pynvml
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def _nvml_gpus() -> tuple[str, ...] | None:
    with _nvml() as nvml:
        if nvml is None:
            return None
        names = []
        for index in range(nvml.nvmlDeviceGetCount()):
            name = nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(index))
            names.append(name.decode() if isinstance(name, bytes) else name)
        return tuple(names)


def _nvidia_smi_gpus() -> tuple[str, ...] | None:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    done = subprocess.run(
        [exe, "--query-gpu=name", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    )
    if done.returncode != 0:
        return None
    return tuple(line.strip() for line in done.stdout.splitlines() if line.strip())


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def sample_gpus() -> tuple[float, float] | None:
    """(mean utilisation 0..1, peak memory in GB per GPU) right now, through NVML;
    None without NVML or GPUs. Called at heartbeats, never in the training loop."""
    try:
        with _nvml() as nvml:
            count = nvml.nvmlDeviceGetCount() if nvml is not None else 0
            if not count:
                return None
            utilization, memory = [], []
            for index in range(count):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                utilization.append(nvml.nvmlDeviceGetUtilizationRates(handle).gpu / 100)
                memory.append(nvml.nvmlDeviceGetMemoryInfo(handle).used / 1e9)
            return sum(utilization) / count, max(memory)
    except Exception:
        _log.debug("GPU sampling failed", exc_info=True)
        return None
