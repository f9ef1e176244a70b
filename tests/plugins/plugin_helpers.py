"""Helpers of the plugin tests: the example plugin, plugin files written into a test's folder, and
a fixture that leaves the registries as it found them. (A module, not a conftest: tests import it
by name.)"""

from __future__ import annotations

import hashlib
import shutil
import textwrap
from pathlib import Path

import pytest

from conftest import REPO
from trickbench.plugins import unload_all

EXAMPLES = REPO / "examples"
LION = EXAMPLES / "lion.py"


@pytest.fixture
def clean_registries():
    """Every plugin a test loads is unloaded after it: registries are process-wide, and other tests
    (docs/catalogue.md, the preset listing every technique) expect the built-ins alone."""
    unload_all()
    yield
    unload_all()


def write_plugin(folder: Path, name: str, source: str) -> Path:
    """A plugin file `name` under `folder` (dedented), its folders made."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def copy_lion(folder: Path, name: str = "lion.py") -> Path:
    """The example Lion plugin copied to `folder` (so a test may edit it)."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(LION, folder / name))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


#: a plugin registering one activation, for tests that need a plugin other than Lion
SCALED_TANH = '''
    """A scaled tanh, for tests: a*tanh(x)."""
    import torch
    from trickbench.techniques.activations import ACTIVATIONS

    class ScaledTanh(torch.nn.Module):
        def __init__(self, scale):
            super().__init__()
            self.scale = scale

        def forward(self, x):
            return self.scale * torch.tanh(x)

    @ACTIVATIONS.register("scaled_tanh", reference="LeCun et al. 1998 (1.7159 tanh(2x/3))", bounds={"scale": (0.0, None)})
    def scaled_tanh(features, *, scale: float = 1.7159):
        """scale * tanh(x)."""
        return ScaledTanh(scale)
'''
