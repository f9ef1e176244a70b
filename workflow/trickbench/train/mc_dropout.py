"""Monte Carlo dropout: the cheap ensemble of one network (Gal & Ghahramani 2016, §3 and eq. 8).

A network trained with dropout is evaluated T times with dropout left on; each pass samples a
thinned sub-network, and the mean of their predicted probabilities approximates the predictive
distribution. Only the dropout layers sample: batch normalization keeps its running statistics
(eval mode), so with p = 0 every pass is the ordinary forward pass.
"""

from __future__ import annotations

import torch
from torch import nn

from trickbench.data.device_data import DeviceData, to_unit_float

DROPOUT_LAYERS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


@torch.inference_mode()
def mc_dropout_probabilities(model: nn.Module, inputs: torch.Tensor, passes: int, seed: int) -> torch.Tensor:
    """Class probabilities of `passes` forward passes with dropout active: passes×N×classes.

    The passes draw their masks from `seed` inside a forked random state, so the result is
    reproducible and training's own random stream is left as it was."""
    was_training = model.training
    model.eval()
    for layer in model.modules():
        if isinstance(layer, DROPOUT_LAYERS):
            layer.train()
    devices = [inputs.device] if inputs.device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return torch.stack([model(inputs).float().softmax(1) for _ in range(passes)])
    finally:
        model.train(was_training)


def mc_dropout_test_probabilities(model: nn.Module, data: DeviceData, passes: int, seed: int,
                                  batch_size: int) -> torch.Tensor:
    """`mc_dropout_probabilities` of the whole test split, batch by batch, on the CPU."""
    images = data.test.images
    parts = [mc_dropout_probabilities(model, data.preprocess(to_unit_float(images[start:start + batch_size])),
                                      passes, seed + start).cpu()
             for start in range(0, len(images), batch_size)]
    return torch.cat(parts, dim=1)
