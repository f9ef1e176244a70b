"""Data sets prepared once: fetched where allowed, verified, and kept as uint8 arrays that every
training process memory-maps.

The full CIFAR-10 comes as six pickled batches whose MD5s torchvision checks on every load. Read
that way by each training job, every job unpickles and hashes 180 MB, and with downloads allowed
dozens of jobs download into one folder at once — on compute nodes that are often offline. So the
workflow's `prepare_data` rule (a local rule: on a cluster it runs on the login node) does it
once per data set: fetch (only with `execution.download`), verify (torchvision's MD5 of every
file; then dtype, shape and label range of the arrays), and write
`<data_root>/cache/<data set>/{x_train,y_train,x_test,y_test}.npy` with `manifest.json` (shapes,
dtypes, SHA-256 of each array, class names). The folder is built under a temporary name and
renamed into place, so a cache is whole or absent. Training processes open the arrays with
numpy's `mmap_mode`: no parsing, no hashing, and the pages are shared by the jobs of a node.

Which sources go through the cache is `PREPARED` (today `cifar10`). The embedded `cifar10-mini`
is already one checksummed array file inside the package (0.2 s to check and inflate) and
`synthetic` images are generated from their seed in milliseconds: both are read in the training
process itself. Every source is read at most once per process (`images_for`), and the data a run
trains on is prepared once for the runs of a process that share it (`run_data`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch

from trickbench.data.device_data import prepare
from trickbench.data.sources import SOURCES, Images, sha256_of
from trickbench.errors import DataError
from trickbench.registry import Technique

#: bump when the layout of a cache folder changes; part of the folder's name, so an old cache is
#: never read as a new one
CACHE_FORMAT = 1
ARRAYS = ("x_train", "y_train", "x_test", "y_test")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Prepared:
    """A source whose files are fetched and verified once, then read from the cache."""

    #: whether the source's own files are under the data root (cheap: the prepare step verifies them)
    fetched: Callable[[Path], bool]
    #: what a user without internet access on this machine can put there instead
    offline: str


PREPARED: dict[str, Prepared] = {
    "cifar10": Prepared(fetched=lambda root: (root / "cifar-10-batches-py").is_dir(),
                        offline="extract the official cifar-10-python.tar.gz there (it makes cifar-10-batches-py/)"),
}


def is_prepared(source: Technique) -> bool:
    return source.name in PREPARED


def cache_name(source: Technique) -> str:
    """The folder of a source's cache under `<data_root>/cache/`: its name, a hash of its
    parameters where it has any, and the cache format."""
    params = ""
    if source.params:
        params = "-" + hashlib.sha256(json.dumps(source.as_dict(), sort_keys=True).encode()).hexdigest()[:8]
    return f"{source.name}{params}-v{CACHE_FORMAT}"


def cache_dir(source: Technique, root: Path) -> Path:
    return Path(root) / "cache" / cache_name(source)


def manifest_path(source: Technique, root: Path) -> Path:
    return cache_dir(source, root) / MANIFEST


# -- preparing ---------------------------------------------------------------------------------

def prepare_cache(source: Technique, root: Path, download: bool) -> Path:
    """Fetch (if `download`), verify and write the cache of `source` under `root`; return its
    folder. An existing cache is kept as it is. Raises `DataError` (one line) when the files are
    missing or fail their checks."""
    target = cache_dir(source, root)
    if (target / MANIFEST).is_file():
        return target
    images = SOURCES.build(source, Path(root), download)  # cifar10: torchvision checks every file's MD5
    check_images(source, images)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        arrays = {"x_train": images.x_train, "y_train": images.y_train, "x_test": images.x_test, "y_test": images.y_test}
        entries = {}
        for name, tensor in arrays.items():
            array = np.ascontiguousarray(tensor.numpy())
            path = building / f"{name}.npy"
            np.save(path, array, allow_pickle=False)
            entries[name] = {"shape": list(array.shape), "dtype": str(array.dtype), "sha256": sha256_of(path)}
        manifest = {"source": source.as_dict(), "format": CACHE_FORMAT, "classes": list(images.classes),
                    "arrays": entries}
        (building / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")  # written last
        for path in building.iterdir():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        os.chmod(building, 0o755)
        try:
            os.rename(building, target)
        except OSError:
            if not (target / MANIFEST).is_file():  # not another writer that got there first
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target


def check_images(source: Technique, images: Images) -> None:
    """uint8 images N×C×H×W and int64 labels within the class names, else one DataError line."""
    for split in ("train", "test"):
        x, y = getattr(images, f"x_{split}"), getattr(images, f"y_{split}")
        if x.dtype != torch.uint8 or x.ndim != 4 or len(x) == 0:
            raise DataError(f"data source {source.name}: x_{split} is {x.dtype} {tuple(x.shape)}; expected uint8 N×C×H×W")
        if y.dtype != torch.int64 or y.shape != (len(x),) or not 0 <= int(y.min()) <= int(y.max()) < images.num_classes:
            raise DataError(f"data source {source.name}: y_{split} is {y.dtype} {tuple(y.shape)}; expected {len(x)} "
                            f"labels in 0..{images.num_classes - 1}")


def verify_cache(source: Technique, root: Path) -> None:
    """Re-hash every array of a cache against its manifest (what `trickbench prepare-data
    --verify` does); `DataError` naming the first array that differs."""
    folder = cache_dir(source, root)
    manifest = read_manifest(source, root)
    for name, entry in manifest["arrays"].items():
        if sha256_of(folder / f"{name}.npy") != entry["sha256"]:
            raise DataError(f"data cache {folder}: {name}.npy does not match its manifest (damaged); delete "
                            f"{folder} and prepare it again")


# -- reading -----------------------------------------------------------------------------------

def read_manifest(source: Technique, root: Path) -> dict[str, Any]:
    path = manifest_path(source, root)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"data source {source.name}: no prepared copy at {path.parent} — the workflow's prepare_data "
                        f"rule makes it (or `trickbench prepare-data --source {source.name} --data-root {root}`, "
                        f"with --download to fetch it)") from None
    except (OSError, ValueError) as error:
        raise DataError(f"data cache {path} is unreadable ({type(error).__name__}); delete {path.parent} and "
                        f"prepare it again") from None


def load_cache(source: Technique, root: Path) -> Images:
    """The cached arrays memory-mapped (copy-on-write, so torch may hold them as ordinary
    tensors), after checking each against the shape and dtype its manifest records."""
    folder = cache_dir(source, root)
    manifest = read_manifest(source, root)
    tensors = {}
    for name in ARRAYS:
        entry = manifest["arrays"][name]
        try:
            array = np.load(folder / f"{name}.npy", mmap_mode="c", allow_pickle=False)
        except (OSError, ValueError) as error:
            raise DataError(f"data cache {folder}: {name}.npy is unreadable ({type(error).__name__}); delete "
                            f"{folder} and prepare it again") from None
        if list(array.shape) != entry["shape"] or str(array.dtype) != entry["dtype"]:
            raise DataError(f"data cache {folder}: {name}.npy is {array.dtype} {array.shape}, its manifest says "
                            f"{entry['dtype']} {tuple(entry['shape'])}; delete {folder} and prepare it again")
        tensors[name] = torch.from_numpy(array)
    return Images(tensors["x_train"], tensors["y_train"], tensors["x_test"], tensors["y_test"], tuple(manifest["classes"]))


@lru_cache(maxsize=4)
def images_for(source: Technique, root: Path) -> Images:
    """A source's images, read once per process: a prepared source from its cache (never
    downloading), any other from the source itself."""
    if is_prepared(source):
        return load_cache(source, Path(root))
    return SOURCES.build(source, Path(root), False)


def read_images(source: Technique, root: Path, download: bool) -> Images:
    """A source's images for a step outside the training jobs (a study's analysis on the login
    node, a run by hand): from its cache, preparing that first where it is missing (fetching only
    with `download`); the same signature as `SOURCES.build`."""
    if is_prepared(source):
        prepare_cache(source, Path(root), download)
    return images_for(source, Path(root))


def run_data(spec, data_root: str | Path, device: torch.device):
    """The data a run trains on (splits, preprocessing fitted on its training split, on `device`).
    Runs of one process that share their data spec and preprocessing share one copy: it is a pure
    function of those, and training never writes to it."""
    return _prepared_data(spec.data, spec.preprocessing, Path(data_root), device)


@lru_cache(maxsize=1)
def _prepared_data(data_spec, preprocessing: Technique, root: Path, device: torch.device):
    return prepare(images_for(data_spec.source, root), data_spec, preprocessing, device)


# -- what a plan needs -------------------------------------------------------------------------

def sources_to_prepare(specs: Iterable, root: Path, download: bool, unfinished: Callable[[Any], bool]) -> dict[str, Technique]:
    """The prepared sources the runs `specs` use, by cache folder name. Raises `DataError` — one
    line saying what to do — when one of them is needed by an unfinished run but can be neither
    read (no cache), verified (no files) nor fetched (`download` off): before any job starts."""
    sources: dict[str, Technique] = {}
    needed: set[str] = set()
    for spec in specs:
        source = spec.data.source
        if is_prepared(source):
            name = cache_name(source)
            sources.setdefault(name, source)
            if name not in needed and unfinished(spec):
                needed.add(name)
    root = Path(root)
    for name in sorted(needed):
        source = sources[name]
        if manifest_path(source, root).is_file() or PREPARED[source.name].fetched(root) or download:
            continue
        raise DataError(
            f"data source {source.name}: nothing under {root} (no prepared copy in {cache_dir(source, root)}, no "
            f"downloaded files) and execution.download is false — set execution.download: true to fetch it once "
            f"(e.g. snakemake --config execution='{{download: true}}'; training jobs never download), or "
            f"{PREPARED[source.name].offline}")
    return sources
