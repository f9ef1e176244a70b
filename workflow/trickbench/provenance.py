"""Where a number came from: versions, device, numerics mode and code commit, recorded in every summary."""

from __future__ import annotations

import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from trickbench.numerics import in_effect

if TYPE_CHECKING:
    from trickbench.spec import RunSpec


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the trickbench checkout (or 'unknown' outside a git checkout)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@lru_cache(maxsize=1)
def git_dirty() -> bool | None:
    """Whether tracked files differ from that commit (then the commit alone does not name the code
    that ran); None outside a git checkout."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=10)
        return bool(out.stdout.strip()) if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model() or platform.processor() or platform.machine() or "cpu"


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name on Linux (platform.processor() is empty there), else ''."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return ""


def plugin_provenance(spec: RunSpec | None) -> str:
    """The plugins whose code a run used — code that trickbench's commit does not name — as
    '<file> sha256:<hex>' joined by '; '; empty when it used built-in techniques only."""
    return "; ".join(f"{ref.file} sha256:{ref.sha256}" for ref in (spec.plugins if spec else ()))


def provenance(device: torch.device, spec: RunSpec | None = None) -> dict[str, str | int | bool | None]:
    """Where a number came from: versions, device, the numerics the process ran with (mode in
    effect and the instruction set of PyTorch's CPU kernels; trickbench.numerics), the code's
    commit and, for `spec`'s run, the plugins it used."""
    return {
        "trickbench_version": metadata.version("trickbench"),
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "plugins": plugin_provenance(spec),
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda or "none",
        "device": device.type,
        "device_name": device_name(device),
        "torch_threads": torch.get_num_threads(),
        "numerics": in_effect(device.type),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "cudnn_version": torch.backends.cudnn.version() or "none",
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
    }
