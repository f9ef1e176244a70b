"""Model families: name → `build(parts, **size) -> nn.Module`, assembled from the run's factors.

`Parts` carries the factors every family uses the same way (activation, normalization, dropout,
input shape, classes), so a family only decides its topology and sizes.
"""

from trickbench.models.parts import MODELS, Parts, build_model
from trickbench.models import cnn, mlp, resnet  # noqa: F401  (registers the families)

__all__ = ["MODELS", "Parts", "build_model"]
