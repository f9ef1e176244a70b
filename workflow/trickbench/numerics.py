"""Portable numerics: one spec gives the same bits on any current x86-64 CPU.

On CPU, three libraries choose their code by the CPU they find, so the same spec, software and
thread count can give other bits on another CPU generation:

- PyTorch's own kernels (element-wise ops, reductions, random numbers, optimizer updates) are
  compiled for several instruction sets and picked at start-up; `ATEN_CPU_CAPABILITY` names one.
- MKL, torch's BLAS (linear layers), picks a code branch; `MKL_CBWR` names one ("conditional
  numerical reproducibility").
- oneDNN (convolutions) JIT-compiles kernels for the best instruction set; `ONEDNN_MAX_CPU_ISA`
  caps it.

Mode `portable` pins all three to what every current x86-64 CPU has: ATen's AVX2 kernels (every
x86-64 server CPU since Intel Haswell, 2013, and AMD Zen, 2017, has AVX2), oneDNN capped at AVX2,
and MKL's COMPATIBLE branch. COMPATIBLE, not AVX2 or "AVX2,STRICT": Intel's oneMKL Developer Guide
("Getting Started with Conditional Numerical Reproducibility") promises the AVX2 branch's results
only across *Intel* CPUs with AVX2 — on other CPUs the setting falls back to the AUTO branch, which
chooses by CPU again — while COMPATIBLE (SSE2 without the approximate rcpps/rsqrtps) is the branch
it documents as giving the same results on Intel and Intel-compatible (AMD) CPUs alike; this
project's machines are AMD EPYC. STRICT only adds thread-count independence, and only to the
AVX2/AVX-512 branches; runs here fix the thread count instead. Mode `native` sets nothing and
promises nothing: each library chooses by CPU (the fastest, and what trickbench did before the mode
existed), or as variables set by hand say — provenance records which.

The variables are read once, when the libraries load: they must be in the environment before the
process imports torch. `enter` makes a training command's process so (setting them, or restarting
the command with them when torch is already loaded); `export` sets them for the processes a
workflow starts; `require` refuses to train a run in a process whose numerics are not its spec's.
What cannot be pinned (oneDNN's blocking by cache size within AVX2, anything on a GPU, CPUs that
are not x86-64) is described in docs/performance.md, with what was measured.

This module must not import torch at load: it runs before torch may be imported.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Callable, Mapping, MutableMapping

from trickbench.errors import ConfigError

MODES = ("portable", "native")
#: execution.numerics when the config does not set it (the schema's default too)
DEFAULT_MODE = "portable"
#: the mode of runs whose spec does not name one: runs trained before the mode existed were native
UNNAMED_MODE = "native"
#: what `portable` sets, per variable; `native` sets none of them
PINS = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "AVX2"}
#: what torch reports (torch.backends.cpu.get_cpu_capability) when ATen runs the pinned kernels
PINNED_CAPABILITY = "AVX2"


def check_mode(value: object, key: str) -> str:
    if value not in MODES:
        raise ConfigError(key, value, ", ".join(MODES))
    return str(value)


def is_x86_64() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def environment(mode: str) -> dict[str, str]:
    """The variables `mode` sets: portable's pins on x86-64; nothing for native, nor off x86-64
    (aarch64), where the pins' names mean nothing."""
    return dict(PINS) if mode == "portable" and is_x86_64() else {}


def holds(mode: str) -> bool:
    """Whether this process's environment has every variable `mode` sets."""
    return all(os.environ.get(name) == value for name, value in environment(mode).items())


def apply(mode: str, env: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Set the variables of `mode` in `env`; returns `env`."""
    env.update(environment(mode))
    return env


def export(mode: str) -> None:
    """Put `mode`'s variables into this process's environment, for the processes it starts (a
    workflow's jobs) and for itself if it has not imported torch yet."""
    apply(check_mode(mode, "execution.numerics"), os.environ)


def configured_mode(config: Mapping[str, object]) -> str:
    """execution.numerics of a config not validated yet (validation imports torch, and the mode must
    come first); a malformed `execution` section is left for the schema to name."""
    execution = config.get("execution")
    return check_mode(execution.get("numerics", DEFAULT_MODE) if isinstance(execution, Mapping) else DEFAULT_MODE,
                      "execution.numerics")


def enter(mode: str, restart: Callable[[dict[str, str]], None] | None, key: str = "execution.numerics") -> None:
    """Make this process train in `mode`: set its variables while torch is not loaded yet; once it
    is, `restart` the command with them (a command line re-executes itself) or, without one (a
    call from Python), refuse in one line."""
    check_mode(mode, key)
    if holds(mode):
        return
    if "torch" not in sys.modules:
        apply(mode, os.environ)
        return
    if restart is None:
        raise ConfigError(key, mode, f"a mode this process can still enter: torch was imported with {described()}; "
                                     "train through `trickbench train`/`train-many` or `python -m trickbench`")
    restart(dict(apply(mode, dict(os.environ))))


def described(env: Mapping[str, str] = os.environ) -> str:
    return ", ".join(f"{name}={env.get(name, '(unset)')}" for name in PINS)


def in_effect(device_type: str) -> str:
    """This process's numerics, as a run's provenance records them: `portable`, `native`,
    `native (not x86-64)`, `not applicable (cuda)` (the GPU's kernels are not pinned by any of
    this), or `custom (...)` where the variables were set by hand. PyTorch says which kernels it
    dispatches to; MKL and oneDNN offer no such question, so their part is read from the
    environment, which `enter` sets before they load."""
    if device_type == "cuda":
        return "not applicable (cuda)"
    if not is_x86_64():
        return "native (not x86-64)"
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    if holds("portable") and capability == PINNED_CAPABILITY:
        return "portable"
    if not any(name in os.environ for name in PINS):
        return "native"
    return f"custom ({described()}; ATen runs {capability})"


def require(mode: str, device_type: str) -> None:
    """Refuse, in one line, to train a portable spec on this process's CPU when the process is not
    portable: its bits would not be what the run's id says. A native spec promises nothing to
    check; nor does portable on a GPU or off x86-64, where it pins nothing of the computation."""
    if mode != "portable" or device_type == "cuda" or not is_x86_64():
        return
    actual = in_effect(device_type)
    if actual != mode:
        allowed = ("a CPU with AVX2 (or execution.numerics: native)" if holds(mode)
                   else "a process started in this mode: train through `trickbench train`/`train-many` "
                        "or `python -m trickbench`, which set it before torch is imported")
        raise ConfigError("execution.numerics", mode, f"{allowed}; this process is {actual}")
