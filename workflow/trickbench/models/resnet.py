"""ResNet-18-style family with a width knob k (stages k, 2k, 4k, 8k), as in the double-descent
study of Nakkiran et al. 2019 (k = 64 is the standard ResNet-18)."""

from __future__ import annotations

from torch import nn

from trickbench.models.parts import MODELS, Parts


class ResidualBlock(nn.Module):
    """Two 3×3 conv blocks with an identity (or 1×1 projection) shortcut.

    Dropout, when the run has it, sits between the two convolutions, after the first activation
    (Zagoruyko & Komodakis 2016, Wide Residual Networks, Fig. 1d): once per block, never after
    the activation that follows the addition of the shortcut."""

    def __init__(self, parts: Parts, channels: int, out: int, stride: int):
        super().__init__()
        self.first = parts.hidden(lambda n: nn.Conv2d(channels, n, 3, stride, 1), out, spatial=True)
        self.second = parts.normalized(nn.Conv2d(out, out, 3, 1, 1), out, spatial=True)
        self.shortcut = (nn.Identity() if stride == 1 and channels == out
                         else parts.normalized(nn.Conv2d(channels, out, 1, stride), out, spatial=True))
        self.activation = parts.activation_layer(out)
        if getattr(self.activation, "expansion", 1) != 1:
            raise ValueError("resnet blocks add their shortcut before the activation; use an activation without expansion")

    def forward(self, x):
        return self.activation(self.second(self.first(x)) + self.shortcut(x))


@MODELS.register("resnet", reference="He et al. 2016; Nakkiran et al. 2019", bounds={"width": (1, 512), "blocks": (1, 4)})
def resnet(parts: Parts, *, width: int = 16, blocks: int = 2) -> nn.Module:
    """Residual network, four stages of `blocks` blocks at widths k, 2k, 4k, 8k.

    With dropout: inside each residual block only (see `ResidualBlock`), not after the stem."""
    stem = parts.hidden(lambda n: nn.Conv2d(parts.input_shape[0], n, 3, 1, 1), width, spatial=True, dropout=False)
    layers: list[nn.Module] = [stem]
    channels = width
    for stage in range(4):
        out = width * 2**stage
        for block in range(blocks):
            layers.append(ResidualBlock(parts, channels, out, stride=2 if stage > 0 and block == 0 else 1))
            channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, parts.num_classes)]
    return nn.Sequential(*layers)
