"""The batched crop (and flip) is the per-image definition — pad with zeros, cut the window at (dy, dx) —
done as one gather for the whole batch (any shape, any padding, uint8 or float)."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trickbench.techniques.regularizers import random_crop, random_flip


def crop_one_at_a_time(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """The definition, image by image, drawing the offsets as random_crop does (all dy, then all dx)."""
    n, _, h, w = images.shape
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
       padding=st.integers(0, 5), seed=st.integers(0, 2**16), uint8=st.booleans())
def test_batched_crop_equals_the_per_image_definition(n, c, h, w, padding, seed, uint8):
    images = torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))
    if uint8:
        images = (images * 255).to(torch.uint8)
    batched = random_crop(images, padding, torch.Generator().manual_seed(seed))
    assert torch.equal(batched, crop_one_at_a_time(images, padding, torch.Generator().manual_seed(seed)))


def test_a_window_shifted_to_the_corner_shows_the_zero_padding():
    images = torch.ones(1, 1, 3, 3)
    generator = torch.Generator().manual_seed(0)
    crops = torch.stack([random_crop(images, 2, generator)[0, 0] for _ in range(200)])
    assert crops.sum((1, 2)).min() == 1  # some window kept only one pixel of the image (offset 0,0 or 4,4)
    assert crops.sum((1, 2)).max() == 9  # some kept all of it (offset 2,2)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
       padding=st.integers(0, 5), seed=st.integers(0, 2**16))
def test_crop_with_flip_in_one_gather_equals_crop_then_flip(n, c, h, w, padding, seed):
    images = torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))
    fused = random_crop(images, padding, torch.Generator().manual_seed(seed), flip=True)
    generator = torch.Generator().manual_seed(seed)
    assert torch.equal(fused, random_flip(random_crop(images, padding, generator), generator))


def test_flip_mirrors_exactly_the_drawn_images():
    images = torch.arange(2 * 1 * 2 * 3, dtype=torch.float32).reshape(2, 1, 2, 3)
    generator = torch.Generator().manual_seed(3)
    mirrored = torch.rand(2, generator=generator) < 0.5
    out = random_flip(images, torch.Generator().manual_seed(3))
    for i in range(2):
        assert torch.equal(out[i], images[i].flip(2) if mirrored[i] else images[i])
