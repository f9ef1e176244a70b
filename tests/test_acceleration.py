"""The speed path: which settings each device gets, that bf16 autocast / channels_last / compile
are really used by the trainer (exercised on CPU, where the GPU path's code runs the same), and
that training reads nothing back from the device per step."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import TINY_CONFIG
from trickbench.config import validate_config
from trickbench.data.device_data import prepare, to_device
from trickbench.data.sources import SOURCES
from trickbench.design import expand
from trickbench.train import acceleration as acceleration_module
from trickbench.train.acceleration import Acceleration, choose_acceleration
from trickbench.train.evaluate import evaluate
from trickbench.train.loop import Trainer

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def tiny(model="mlp", n_train=200, **train):
    config = copy.deepcopy(TINY_CONFIG)
    config["model"] = {"name": "cnn", "depth": 1, "width": 4} if model == "cnn" else config["model"]
    config["data"]["source"]["n_train"] = n_train
    config["train"].update(train)
    spec = expand(validate_config(config))[0]
    images = SOURCES.build(spec.data.source, Path("data"), False)
    return spec, images


def trainer(model="mlp", acceleration=None, device=CPU, n_train=200, **train) -> Trainer:
    spec, images = tiny(model, n_train, **train)
    return Trainer(spec, prepare(images, spec.data, spec.preprocessing, device), device, 64, acceleration)


# -- which settings a device gets -------------------------------------------------------------
def test_cuda_gets_bf16_autocast_and_channels_last_where_bf16_is_supported(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    chosen = choose_acceleration(CUDA)
    assert chosen.autocast_dtype is torch.bfloat16 and chosen.channels_last and not chosen.compile


def test_cuda_without_bf16_stays_float32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert choose_acceleration(CUDA).autocast_dtype is None  # no fp16 without loss scaling


def test_cpu_stays_float32_unless_asked():
    assert choose_acceleration(CPU) == Acceleration(CPU, None, channels_last=True, compile=False)
    assert choose_acceleration(CPU, "bf16").autocast_dtype is torch.bfloat16
    assert choose_acceleration(CUDA, "fp32").autocast_dtype is None
    assert choose_acceleration(CPU, compile=True).compile


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="fp16"):
        choose_acceleration(CPU, "fp16")


def test_channels_last_only_for_convolutional_models():
    on = Acceleration(CPU, channels_last=True)
    assert on.for_model(nn.Sequential(nn.Conv2d(3, 4, 3))).channels_last
    assert not on.for_model(nn.Sequential(nn.Flatten(), nn.Linear(12, 3))).channels_last


def test_cpu_keeps_the_contiguous_layout_where_onednn_nhwc_kernels_overrun():
    """uxlfoundation/oneDNN#6035: the NHWC weight gradient of a strided 1×1 convolution with fewer
    input channels than oneDNN's channel block writes past its workspace. Such a model (a narrow
    ResNet's projection shortcut) stays contiguous on a CPU; one with ≥ 16 input channels, a
    stride of 1 or a 3×3 kernel keeps channels_last, and so does any model on CUDA (cuDNN)."""
    acceleration = choose_acceleration(torch.device("cpu"))
    narrow_shortcut = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 8, 1, stride=2))
    assert not acceleration.for_model(narrow_shortcut).channels_last
    for safe in (nn.Conv2d(16, 32, 1, stride=2), nn.Conv2d(4, 8, 1, stride=1), nn.Conv2d(4, 8, 3, stride=2)):
        assert acceleration.for_model(nn.Sequential(safe)).channels_last
    cuda = Acceleration(torch.device("cuda"), channels_last=True)
    assert cuda.for_model(narrow_shortcut).channels_last


def test_a_resnet_of_width_one_trains_a_step_on_the_cpu(tmp_path):
    """The double-descent ResNet of width 1 crashed its process on this project's CPUs ("double
    free or corruption") in the backward pass of its 2→4 projection shortcut under channels_last.
    In a child process, so that a crash fails this test instead of killing the suite."""
    import subprocess
    import sys

    script = """
import torch
from trickbench.models import Parts, build_model
from trickbench.models.parts import MODELS
from trickbench.techniques import FAMILIES
from trickbench.train.acceleration import choose_acceleration
torch.manual_seed(0)
torch.set_num_threads(1)
parts = Parts((3, 32, 32), 10, FAMILIES["activation"].resolve("relu", "a"), FAMILIES["norm"].resolve("batch", "n"))
model = build_model(MODELS.resolve({"name": "resnet", "width": 1, "blocks": 1}, "model"), parts)
acceleration = choose_acceleration(torch.device("cpu")).for_model(model)
forward = acceleration.prepare(model)
x = acceleration.inputs(torch.randn(128, 3, 32, 32))
for _ in range(10):
    forward(x).sum().backward()
print("trained", acceleration.channels_last)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "trained False" in result.stdout, result.stderr[-2000:]


def test_describe_names_every_setting():
    assert Acceleration(CPU).describe() == "fp32"
    assert Acceleration(CUDA, torch.bfloat16, True, True).describe() == "bfloat16 autocast, channels_last, compiled"


# -- the trainer really uses them (on CPU, the same code the GPU runs) ---------------------------
def test_trainer_runs_the_model_under_bf16_autocast_in_channels_last():
    run = trainer("cnn", Acceleration(CPU, torch.bfloat16, channels_last=True))
    conv = next(m for m in run.model.modules() if isinstance(m, nn.Conv2d))
    seen = []
    conv.register_forward_hook(lambda module, inputs, output: seen.append((inputs[0], output.dtype)))
    row = run.train_epoch()
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert conv.weight.dtype is torch.float32  # master weights stay float32
    train_inputs, train_dtype = seen[0]
    assert train_inputs.is_contiguous(memory_format=torch.channels_last) and train_dtype is torch.bfloat16
    assert all(dtype is torch.bfloat16 for _, dtype in seen)  # evaluation too
    assert torch.isfinite(torch.tensor(row["train_loss"])) and 0 <= row["val_acc"] <= 1


def test_bf16_training_follows_float32_training_closely():
    exact, mixed = trainer("cnn", Acceleration(CPU)), trainer("cnn", Acceleration(CPU, torch.bfloat16, True))
    a, b = exact.train_epoch(), mixed.train_epoch()
    assert b["train_loss"] == pytest.approx(a["train_loss"], rel=0.05)


def test_cpu_cnn_runs_channels_last_and_mlp_keeps_its_layout():
    assert trainer("cnn").acceleration.channels_last and not trainer("mlp").acceleration.channels_last


def test_channels_last_changes_no_checkpoint_key():
    plain, fast = trainer("cnn", Acceleration(CPU)), trainer("cnn", Acceleration(CPU, channels_last=True))
    assert plain.state_dict()["model"].keys() == fast.state_dict()["model"].keys()
    fast.load_state_dict(plain.state_dict())  # a checkpoint moves between the two freely
    for p, q in zip(plain.model.parameters(), fast.model.parameters()):
        assert torch.equal(p, q)


def test_compiled_forward_is_used_for_training_and_checkpoints_keep_plain_names(monkeypatch):
    compiled = []

    def fake_compile(model):
        def forward(inputs):
            compiled.append(inputs.shape[0])
            return model(inputs)
        return forward

    monkeypatch.setattr(acceleration_module.torch, "compile", fake_compile)
    run = trainer(acceleration=Acceleration(CPU, compile=True), batch_size=50)
    run.train_epoch()
    assert compiled == [50, 50, 50, 10]  # every training step (160 training images), not evaluation
    assert not any(key.startswith("_orig_mod") for key in run.state_dict()["model"])


def test_evaluation_under_float32_acceleration_equals_plain_evaluation():
    run = trainer()
    plain = evaluate(run.model, run.data, "test", 16)
    accelerated = evaluate(run.model, run.data, "test", 16, acceleration=run.acceleration)
    assert accelerated == plain


# -- no host synchronization per step -------------------------------------------------------
SYNCING = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__")


def count_host_reads(monkeypatch) -> list[str]:
    """Record every call that copies a tensor's value to the host (each is a sync on a GPU)."""
    calls: list[str] = []
    for name in SYNCING:
        original = getattr(torch.Tensor, name)

        def spy(self, *args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, spy)
    return calls


@pytest.mark.parametrize("regularizer", ["none", "augment", "dropout", "l2"])
def test_host_reads_per_epoch_do_not_grow_with_the_number_of_steps(monkeypatch, regularizer):
    counts = []
    for batch_size in (80, 10):  # 2 steps, then 16 steps over the same 160 training images
        config = copy.deepcopy(TINY_CONFIG)
        config["train"]["batch_size"] = batch_size
        config["baseline"]["regularizer"] = regularizer
        spec = expand(validate_config(config))[0]
        images = SOURCES.build(spec.data.source, Path("data"), False)
        run = Trainer(spec, prepare(images, spec.data, spec.preprocessing, CPU), CPU, 64)
        with monkeypatch.context() as patch:
            calls = count_host_reads(patch)
            run.train_epoch()
        counts.append(len(calls))
    assert counts[0] == counts[1]


# -- on a GPU (skipped here; run where a device is lent) ----------------------------------------
@needs_cuda
def test_cuda_training_step_never_synchronizes_with_the_host():
    run = trainer("cnn", choose_acceleration(CUDA), device=CUDA)
    inputs, labels = run.batch(next(iter(run.epoch_batches())))
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        def closure():
            run.optimizer.zero_grad(set_to_none=True)
            with run.acceleration.autocast():
                loss = run.criterion(run.forward(inputs).float(), labels)
            loss.backward()
            return loss

        for _ in range(3):
            run.step(closure)
    finally:
        torch.cuda.set_sync_debug_mode("default")


@needs_cuda
def test_cuda_run_trains_in_bf16_channels_last_with_data_on_the_device():
    run = trainer("cnn", choose_acceleration(CUDA), device=CUDA)
    assert run.data.train.images.is_cuda and run.data.train.images.dtype is torch.uint8
    row = run.train_epoch()
    assert torch.isfinite(torch.tensor(row["train_loss"]))
    assert run.acceleration.channels_last
    assert run.acceleration.autocast_dtype is (torch.bfloat16 if torch.cuda.is_bf16_supported() else None)


@needs_cuda
def test_pinned_copy_to_the_gpu_keeps_values():
    x = torch.arange(24, dtype=torch.uint8).reshape(2, 3, 2, 2)
    assert torch.equal(to_device(x, CUDA).cpu(), x)


def test_copy_to_the_cpu_is_the_tensor_itself():
    x = torch.arange(6)
    assert to_device(x, CPU) is x


# -- which device a run gets ---------------------------------------------------------------
def test_auto_device_is_cuda_exactly_when_cuda_is_visible(monkeypatch):
    from trickbench.run import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == CUDA and resolve_device("cpu") == CPU


def test_asking_for_cuda_without_one_is_a_one_line_config_error(monkeypatch):
    from trickbench.errors import ConfigError
    from trickbench.run import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="execution.device.*no CUDA device"):
        resolve_device("cuda")


def test_no_channels_last_under_an_optimizer_that_flattens_gradients():
    model = nn.Sequential(nn.Conv2d(3, 4, 3))
    on = Acceleration(CPU, channels_last=True)
    assert not on.for_model(model, torch.optim.LBFGS(model.parameters())).channels_last
    assert on.for_model(model, torch.optim.SGD(model.parameters(), lr=0.1)).channels_last
