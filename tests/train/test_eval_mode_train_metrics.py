"""Train loss and accuracy in eval mode (issue 13, item 5): after every epoch the model is scored
with dropout off, no augmentation or input noise and batch norm on its running statistics, on a
fixed sample of the training split, beside the running training-mode numbers."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from trickbench.config import validate_config
from trickbench.data.device_data import prepare
from trickbench.data.sources import SOURCES
from trickbench.design import baseline_spec
from trickbench.errors import ConfigError
from trickbench.registry import Technique
from trickbench.spec import RunSpec
from trickbench.train.loop import Trainer

CPU = torch.device("cpu")


def dropout_trainer(tiny_config, sample: int, seed: int = 0) -> Trainer:
    """The tiny MLP (batch norm) with dropout 0.5 and augmentation, scoring `sample` training images."""
    spec = baseline_spec(validate_config(tiny_config), seed)
    spec = dataclasses.replace(spec, regularizer=(Technique("augment", ()), Technique("dropout", (("p", 0.5),))),
                               train=dataclasses.replace(spec.train, epochs=3, train_eval_sample=sample))
    data = prepare(SOURCES.build(spec.data.source, None, False), spec.data, spec.preprocessing, CPU)
    return Trainer(spec, data, CPU, eval_batch_size=16)  # several batches per evaluation


def eval_mode_scores(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, preprocess) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of `model` in eval mode, in one batch, no autograd."""
    model.eval()
    with torch.no_grad():
        logits = model(preprocess(images.float() / 255))
    model.train()
    return nn.functional.cross_entropy(logits, labels).item(), (logits.argmax(1) == labels).float().mean().item()


def test_eval_mode_train_scores_are_those_of_the_same_weights_in_eval_mode(tiny_config):
    trainer = dropout_trainer(tiny_config, sample=64)
    sample = trainer.train_sample
    for _ in range(3):
        row = trainer.train_epoch()
        loss, accuracy = eval_mode_scores(trainer.model, sample.images, sample.labels, trainer.data.preprocess)
        assert row["train_eval_acc"] == pytest.approx(accuracy, abs=1e-9)
        assert row["train_eval_loss"] == pytest.approx(loss, rel=1e-5)
        assert row["train_eval_acc"] != row["train_acc"]  # the running training-mode accuracy is another number
    # the sample really is dropout-free: the same weights in train mode (dropout on) score otherwise
    trainer.model.train()
    with torch.no_grad():
        noisy = trainer.model(trainer.data.preprocess(sample.images.float() / 255)).argmax(1)
    assert (noisy == sample.labels).float().mean().item() != row["train_eval_acc"]


def test_the_sample_is_fixed_drawn_from_the_training_split_and_shared_across_run_seeds(tiny_config):
    first, other_seed = dropout_trainer(tiny_config, sample=64), dropout_trainer(tiny_config, sample=64, seed=5)
    train = first.data.train
    assert len(first.train_sample) == 64
    rows = {tuple(image.flatten().tolist()) for image in train.images}
    picked = [tuple(image.flatten().tolist()) for image in first.train_sample.images]
    assert len(set(picked)) == 64 and set(picked) <= rows  # 64 distinct training images
    assert torch.equal(first.train_sample.images, other_seed.train_sample.images)  # seeded by the split, not the run
    whole = dropout_trainer(tiny_config, sample=10_000)
    assert torch.equal(whole.train_sample.images, train.images)  # a split smaller than the sample: all of it


def test_the_sample_size_is_an_optional_spec_setting(tiny_config):
    spec = baseline_spec(validate_config(tiny_config), 0)
    assert "train_eval_sample" not in spec.to_dict()["train"]  # the default 1024 renames no run
    assert spec.train.train_eval_sample == 1024
    tiny_config["train"]["train_eval_sample"] = 1024
    assert baseline_spec(validate_config(tiny_config), 0).run_id == spec.run_id
    tiny_config["train"]["train_eval_sample"] = 64
    smaller = baseline_spec(validate_config(tiny_config), 0)
    assert smaller.run_id != spec.run_id and RunSpec.from_dict(smaller.to_dict()) == smaller
    tiny_config["train"]["train_eval_sample"] = 0
    with pytest.raises(ConfigError, match="train.train_eval_sample"):
        validate_config(tiny_config)
