"""The data a run trains on, resident on its device, batched by index with no per-image Python.

Images stay uint8 on the device (4× smaller than float); each batch is gathered by index, turned
into floats in [0, 1], augmented as a whole tensor, then preprocessed with statistics fitted on
the training split alone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from trickbench.data.sources import Images
from trickbench.data.label_noise import flip_labels
from trickbench.data.splits import stratified_split, subsample
from trickbench.spec import DataSpec
from trickbench.techniques.preprocessing import PREPROCESSING
from trickbench.registry import Technique


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # uint8, N×C×H×W, on the device
    labels: torch.Tensor  # int64, N, on the device

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class DeviceData:
    train: Split
    val: Split
    test: Split
    classes: tuple[str, ...]
    preprocess: Callable[[torch.Tensor], torch.Tensor]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.images.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> Split:
        return {"train": self.train, "val": self.val, "test": self.test}[name]


def to_unit_float(images: torch.Tensor) -> torch.Tensor:
    return images.float().div_(255.0)


def prepare(images: Images, data: DataSpec, preprocessing: Technique, device: torch.device) -> DeviceData:
    """Optionally downsample every image (`image_size`), hold out validation (stratified, seeded),
    optionally subsample the rest and corrupt its labels (`train_subset`, `label_noise`), move
    everything to `device`, fit preprocessing on the training split only."""
    images = downsampled(images, data.image_size)
    train_idx, val_idx = stratified_split(images.y_train, data.val_fraction, data.split_seed)
    train_idx = subsample(train_idx, data.train_subset, data.split_seed)
    move = lambda x, y: Split(x.to(device), y.to(device))
    train_labels = flip_labels(images.y_train[train_idx], data.label_noise, images.num_classes, data.split_seed)
    train = move(images.x_train[train_idx], train_labels)
    val = move(images.x_train[val_idx], images.y_train[val_idx])
    test = move(images.x_test, images.y_test)
    preprocess = PREPROCESSING.build(preprocessing, to_unit_float(train.images))
    return DeviceData(train, val, test, images.classes, preprocess)


def downsampled(images: Images, size: int) -> Images:
    """Every image area-averaged to size × size and rounded back to uint8 (`size` 0: unchanged).

    On 32×32×3 inputs a narrow fully connected network is so far from the data that its test error
    only falls with width on cifar10-mini; on 8×8 inputs the double-descent peak at the
    interpolation threshold shows, and costs a CPU minutes (see `studies.double_descent`)."""
    if size == 0 or size == images.x_train.shape[-1] == images.x_train.shape[-2]:
        return images
    shrink = lambda x: torch.nn.functional.interpolate(x.float(), size=(size, size), mode="area").round().to(torch.uint8)
    return dataclasses.replace(images, x_train=shrink(images.x_train), x_test=shrink(images.x_test))


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator, device: torch.device) -> Iterator[torch.Tensor]:
    """Index batches of one epoch in a random order drawn from `generator` (last batch may be short)."""
    order = torch.randperm(n, generator=generator).to(device)
    return iter(order.split(batch_size))
