"""Data sources: name → `load(root, download) -> Images`, all as uint8 N×C×H×W tensors.

- `cifar10`: the official data set through torchvision, which checks every file's MD5 (on download
  and on load); the only pickle trickbench ever reads is this official format, after that check.
- `cifar10-mini`: 4,660 train + 846 test real CIFAR-10 images shipped in the package, checked
  against their SHA-256 and read with `allow_pickle=False`: the offline default.
- `synthetic`: class-dependent random images, generated from a seed, for tests.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trickbench.errors import DataError, one_line
from trickbench.registry import Registry

SOURCES = Registry("data source")

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MINI_PATH = Path(__file__).with_name("cifar10_mini.npz")
MINI_SHA256 = "69ce39bdd81b42b7cf2b2cbae12b4b45a5b65d059b2d6f2830f8a0574628ba06"


@dataclass(frozen=True)
class Images:
    """A data set's official train and test parts: uint8 images N×C×H×W and int64 labels."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def _from_hwc(x_train, y_train, x_test, y_test, classes) -> Images:
    chw = lambda x: torch.from_numpy(np.ascontiguousarray(np.asarray(x, dtype=np.uint8).transpose(0, 3, 1, 2)))
    labels = lambda y: torch.as_tensor(np.asarray(y), dtype=torch.int64)
    return Images(chw(x_train), labels(y_train), chw(x_test), labels(y_test), tuple(classes))


@SOURCES.register("cifar10", reference="Krizhevsky 2009")
def cifar10(root: Path, download: bool) -> Images:
    """The full CIFAR-10 (50,000 train + 10,000 test) via torchvision, MD5-checked."""
    from torchvision.datasets import CIFAR10

    try:
        train = CIFAR10(str(root), train=True, download=download)
        test = CIFAR10(str(root), train=False, download=download)
    except RuntimeError as error:  # torchvision's "Dataset not found or corrupted"
        raise DataError(f"cifar10 at {root}: {error} (set execution.download: true to fetch it)") from None
    return _from_hwc(train.data, train.targets, test.data, test.targets, train.classes)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_npz(path: Path, sha256: str) -> Images:
    """Read a CIFAR-style npz after checking its SHA-256; never unpickles."""
    if not path.is_file():
        raise DataError(f"data file {path} is missing")
    actual = sha256_of(path)
    if actual != sha256:
        raise DataError(f"data file {path} has sha256 {actual[:16]}…, expected {sha256[:16]}… (corrupt or replaced)")
    with open(path, "rb") as handle:
        if handle.read(4) != b"PK\x03\x04":  # numpy's npz is a zip archive
            raise DataError(f"data file {path} is not an npz (zip) archive")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            parts = {name: arrays[name] for name in NPZ_ARRAYS}
    except KeyError as error:
        raise DataError(f"data file {path} lacks array {error.args[0].split()[0]!r}; a CIFAR npz has "
                        + ", ".join(NPZ_ARRAYS)) from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"data file {path} is not a valid CIFAR npz ({one_line(error)})") from None
    check_cifar_arrays(path, parts)
    return _from_hwc(parts["x_train"], parts["y_train"], parts["x_test"], parts["y_test"],
                     [str(name) for name in parts["label_names"]])


NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test", "label_names")


def check_cifar_arrays(path: Path, parts: dict[str, np.ndarray]) -> None:
    """Images N×H×W×3 uint8, labels N integers in range of the class names: else one DataError line."""
    classes = len(parts["label_names"])
    for split in ("train", "test"):
        x, y = parts[f"x_{split}"], parts[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[3] != 3:
            raise DataError(f"data file {path}: x_{split} is {x.dtype} {x.shape}; expected uint8 N×H×W×3")
        if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer) or not (
                len(y) == 0 or 0 <= y.min() <= y.max() < classes):
            raise DataError(f"data file {path}: y_{split} is {y.dtype} {y.shape}; expected {len(x)} integer "
                            f"labels in 0..{classes - 1}")


@SOURCES.register("cifar10-mini", reference="Krizhevsky 2009 (first 932 images of each train batch, 846 test)")
def cifar10_mini(root: Path, download: bool) -> Images:
    """Real CIFAR-10 subset shipped with trickbench: 4,660 train + 846 test images, offline."""
    return load_npz(MINI_PATH, MINI_SHA256)


@SOURCES.register(
    "synthetic",
    bounds={"n_train": (10, None), "n_test": (1, None), "classes": (2, 100), "size": (4, 64), "noise": (0.0, None)},
)
def synthetic(root: Path, download: bool, *, n_train: int = 512, n_test: int = 128, classes: int = 10,
              size: int = 8, noise: float = 0.6, seed: int = 0) -> Images:
    """Learnable fake images: each class a fixed random pattern plus Gaussian pixel noise."""
    generator = torch.Generator().manual_seed(seed)
    prototypes = torch.rand(classes, 3, size, size, generator=generator)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(n) % classes
        pixels = prototypes[labels] + noise * torch.randn(n, 3, size, size, generator=generator) * 0.25
        return (pixels.clamp(0, 1) * 255).round().to(torch.uint8), labels

    x_train, y_train = draw(n_train)
    x_test, y_test = draw(n_test)
    return Images(x_train, y_train, x_test, y_test, tuple(f"class{i}" for i in range(classes)))
