"""Small VGG-style CNN: `depth` stages of 3×3 conv block + 2×2 max-pool, channels doubling."""

from __future__ import annotations

from torch import nn

from trickbench.models.parts import MODELS, Parts


@MODELS.register("cnn", bounds={"depth": (1, 5), "width": (1, 1024)})
def cnn(parts: Parts, *, depth: int = 3, width: int = 32) -> nn.Module:
    """Conv stages of width·2^i channels, then global average pooling and a linear classifier."""
    channels = parts.input_shape[0]
    layers: list[nn.Module] = []
    for stage in range(depth):
        out = width * 2**stage
        layers.append(parts.hidden(lambda n, c=channels: nn.Conv2d(c, n, 3, padding=1), out, spatial=True))
        layers.append(nn.MaxPool2d(2))
        channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, parts.num_classes)]
    return nn.Sequential(*layers)
