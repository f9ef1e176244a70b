"""How a run uses its device: precision, memory format, compilation, backend autotuning.

None of this changes *what* is trained (it is execution, not part of a run's id), only how fast
each step goes. The choices, and where they come from:
- **bf16 autocast** on CUDA (Kalamkar et al. 2019, "A Study of BFLOAT16 for Deep Learning
  Training"): matrix products and convolutions in bfloat16, weights, optimizer state, losses and
  reductions in float32. bf16 keeps float32's exponent range, so unlike fp16 (Micikevicius et al.
  2018) it needs no loss scaling. On CPU the default stays float32 (exact, and what CPU results
  so far were made with); `precision: bf16` asks for autocast there too.
- **channels_last** (NHWC) for convolutional models, on every device: the layout tensor-core
  convolutions want (cuDNN saves a transpose per layer), and the one oneDNN's CPU convolutions
  run fastest in — 1.5× more images per CPU-second for the small CNN on an AMD EPYC (bench/).
  Still float32, so only the rounding changes. MLPs keep their layout (a flatten would undo it).
  Not on a CPU for a model with a strided 1×1 convolution of fewer than 16 input channels (a narrow
  ResNet's projection shortcut): oneDNN's NHWC kernel for its weight gradient writes past its
  workspace when the input channels are fewer than its channel block (8 or 16 by ISA) —
  corrupted heaps, crashes or wrong gradients (uxlfoundation/oneDNN#6035, open; seen here with
  torch 2.14.1 as "double free or corruption" in the double-descent ResNet of width 1).
- **cuDNN autotuning** (`cudnn.benchmark`) unless deterministic algorithms were asked for: shapes
  repeat every step, so the one-off search pays back within the first epoch.
- **torch.compile** (Ansel et al. 2024, "PyTorch 2"), off by default: it fuses elementwise work,
  which pays on GPUs for long runs, but its compile time (tens of seconds) exceeds the whole of a
  small CPU run.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import Callable, ContextManager

import torch
from torch import nn

#: execution.precision → the autocast dtype (None: plain float32); "auto" is chosen per device
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class Acceleration:
    """The speed settings of one run on one device."""

    device: torch.device
    autocast_dtype: torch.dtype | None = None  # None: float32 throughout
    channels_last: bool = False
    compile: bool = False

    def describe(self) -> str:
        """E.g. 'bf16 autocast, channels_last, compiled' or 'fp32'."""
        parts = [f"{str(self.autocast_dtype).removeprefix('torch.')} autocast" if self.autocast_dtype else "fp32"]
        return ", ".join(parts + ["channels_last"] * self.channels_last + ["compiled"] * self.compile)

    def autocast(self) -> ContextManager:
        """The context a forward pass runs in (a no-op for float32)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def for_model(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> "Acceleration":
        """These settings as they apply to `model` and its optimizer: channels_last only for
        convolutional models, not under torch's L-BFGS, which flattens every gradient with
        `.view(-1)` — impossible for a channels_last tensor —, and not on a CPU where oneDNN's
        NHWC kernels would mishandle one of the model's convolutions (`onednn_nhwc_unsafe`)."""
        convolutional = any(isinstance(m, nn.Conv2d) for m in model.modules())
        flattens = isinstance(optimizer, torch.optim.LBFGS)
        unsafe = self.device.type == "cpu" and onednn_nhwc_unsafe(model)
        return replace(self, channels_last=self.channels_last and convolutional and not flattens and not unsafe)

    def prepare(self, model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        """Put `model` in its memory format (in place) and return the callable that runs it:
        the model itself, or its compiled form (which shares its parameters, so checkpoints and
        optimizers keep using `model`)."""
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return torch.compile(model) if self.compile else model

    def inputs(self, batch: torch.Tensor) -> torch.Tensor:
        """A batch in the layout the model was prepared for."""
        if self.channels_last and batch.ndim == 4:
            return batch.contiguous(memory_format=torch.channels_last)
        return batch


#: oneDNN's largest input-channel block for 1×1 convolutions (AVX-512; AVX2 uses 8)
ONEDNN_CHANNEL_BLOCK = 16


def onednn_nhwc_unsafe(model: nn.Module) -> bool:
    """Whether `model` has a strided 1×1 convolution with fewer input channels than oneDNN's channel
    block, whose NHWC weight-gradient kernel overruns its workspace (uxlfoundation/oneDNN#6035)."""
    return any(isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and max(m.stride) > 1
               and m.in_channels < ONEDNN_CHANNEL_BLOCK for m in model.modules())


def choose_acceleration(device: torch.device, precision: str = "auto", compile: bool = False) -> Acceleration:
    """The settings for `device`: `auto` precision is bf16 on CUDA devices that support it (Ampere
    and later) and float32 elsewhere; channels_last for convolutional models everywhere."""
    if precision == "auto":
        dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    elif precision in PRECISIONS:
        dtype = PRECISIONS[precision]
    else:
        raise ValueError(f"precision {precision!r}: expected auto, " + ", ".join(PRECISIONS))
    return Acceleration(device, dtype, channels_last=True, compile=compile)


def configure_backends(device: torch.device, deterministic: bool) -> None:
    """Process-wide switches: cuDNN autotuning on CUDA, unless runs must be deterministic."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not deterministic
