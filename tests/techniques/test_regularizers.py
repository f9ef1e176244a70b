"""Regularizers against their definitions: penalties and their gradients, coupled L2 vs decoupled
decay under Adam (each equal to its own formula, different from each other), inverted dropout's
mean, exact crops and flips, colour jitter as torchvision defines it, label smoothing's loss,
max-norm's projection, and early stopping restoring the best epoch's weights."""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision.transforms.functional as TF
from torch import nn

from technique_helpers import tiny_trainer
from trickbench.models import MODELS, Parts, build_model
from trickbench.techniques.activations import ACTIVATIONS
from trickbench.techniques.norms import NORMS
from trickbench.techniques.regularizers import (REGULARIZERS, RegularizerSet, blend, grayscale, random_crop,
                                                  random_flip)
from trickbench.techniques.weight_decay import decayed_names, decayed_parameters
from trickbench.run import summarize
from trickbench.train import loop
from trickbench.train.evaluate import Evaluation

MLP = {"name": "mlp", "depth": 1, "width": 16}


def regularizer(level):
    return REGULARIZERS.build(REGULARIZERS.resolve(level, "regularizer"))


def tiny_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


# --- penalties ---------------------------------------------------------------------------------


def test_l2_adds_half_lambda_squared_norm_of_weight_matrices_only():
    model, lam = tiny_model(), 0.3
    penalty = regularizer({"name": "l2", "strength": lam}).penalty(model)
    weights = [model[0].weight, model[2].weight]
    assert penalty.item() == pytest.approx(0.5 * lam * sum(w.pow(2).sum().item() for w in weights))
    penalty.backward()
    torch.testing.assert_close(model[0].weight.grad, lam * model[0].weight.detach())
    assert model[0].bias.grad is None  # biases are never decayed


def test_l1_adds_lambda_abs_norm_with_gradient_lambda_sign():
    model, lam = tiny_model(), 0.3
    penalty = regularizer({"name": "l1", "strength": lam}).penalty(model)
    assert penalty.item() == pytest.approx(lam * (model[0].weight.abs().sum() + model[2].weight.abs().sum()).item())
    penalty.backward()
    torch.testing.assert_close(model[2].weight.grad, lam * model[2].weight.detach().sign())


# --- which parameters are decayed: by role, under weight norm too -------------------------------


def weight_normed_cnn() -> nn.Sequential:
    """A weight-normed conv and linear layer (g, v), batch norm (gain, shift), PReLU, a plain classifier."""
    torch.manual_seed(0)
    wn = lambda layer, n, spatial: NORMS.build(NORMS.resolve("weight", "norm"), layer, n, spatial, 0)
    model = nn.Sequential(wn(nn.Conv2d(3, 4, 3), 4, True), nn.BatchNorm2d(4), nn.PReLU(4), nn.Flatten(),
                          wn(nn.Linear(4 * 4 * 4, 5), 5, False), nn.ReLU(), nn.Linear(5, 2))
    with torch.no_grad():  # gains that differ from ‖v‖ per unit, as training leaves them
        for layer in (model[0], model[4]):
            gain = layer.parametrizations.weight.original0
            gain.mul_(torch.linspace(0.5, 2.0, len(gain)).view_as(gain))
    return model


def test_decayed_are_weights_and_weight_norms_direction_never_gains_biases_or_slopes():
    model = weight_normed_cnn()
    assert decayed_names(model) == {"0.parametrizations.weight.original1", "4.parametrizations.weight.original1", "6.weight"}
    assert {id(p) for p in decayed_parameters(model)} == {id(model[0].parametrizations.weight.original1),
                                                           id(model[4].parametrizations.weight.original1), id(model[6].weight)}


def initialized_weight_normed_mlp() -> nn.Sequential:
    """What a run builds: weight-normed hidden layers, weights set by the init through weight norm's
    right inverse (g = ‖w‖ per unit, v = w), and a plain classifier."""
    trainer = tiny_trainer({"name": "mlp", "depth": 2, "width": 8}, norm="weight", init="he_normal")
    return trainer.model


@pytest.mark.parametrize("name, nominal", [("l2", lambda w, lam: 0.5 * lam * w.pow(2).sum()),
                                           ("l1", lambda w, lam: lam * w.abs().sum())])
def test_weight_norm_penalty_at_init_is_the_nominal_penalty_of_the_weights(name, nominal):
    """At initialization v = w, so ½λ·Σ‖v‖² (+ the classifier's ½λ‖W‖²) is the nominal ½λ‖W‖² of
    the network's effective weights; decaying g as well would add ½λ·Σ g² = ½λ‖W‖² again (2×)."""
    model, lam = initialized_weight_normed_mlp(), 0.3
    weights = [m.weight.detach() for m in model.modules() if isinstance(m, nn.Linear)]  # g·v/‖v‖ where weight-normed
    assert len(weights) == 3
    expected = sum(nominal(w, lam) for w in weights)
    penalty = regularizer({"name": name, "strength": lam}).penalty(model)
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-6)


def test_decoupled_decay_shrinks_weight_norms_direction_and_leaves_its_gain():
    """With no gradient step in between: v ← v − lr·λ·v and W ← W − lr·λ·W; g and every bias stay."""
    model, lr, lam = weight_normed_cnn(), 0.1, 0.5
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    decay = regularizer({"name": "decoupled_weight_decay", "strength": lam})
    decay.before_step(model, lr)
    decay.after_step(model, lr)
    shrunk = {"0.parametrizations.weight.original1", "4.parametrizations.weight.original1", "6.weight"}
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), (1 - lr * lam) * before[name] if name in shrunk else before[name], msg=name)


def test_decaying_weight_norms_direction_leaves_the_weights_and_lengthens_the_step():
    """Decay of v under weight norm is not the nominal penalty on w = g·v/‖v‖: w does not depend on
    ‖v‖, so shrinking v by s leaves the layer's weights as they were (the nominal penalty would
    shrink them by s). It changes the step: ∂L/∂v = (g/‖v‖)·(I − v̂v̂ᵀ)·∂L/∂w row by row, so one small
    SGD step on v moves w (g/‖v‖)² times the projected gradient — 1/s² as far once v is s times shorter."""
    torch.manual_seed(0)
    layer = NORMS.build(NORMS.resolve("weight", "norm"), nn.Linear(4, 3).double(), 3, False, 0)
    model, lr, lam = nn.Sequential(layer), 0.1, 0.5
    v = layer.parametrizations.weight.original1
    v_before, w_before = v.detach().clone(), layer.weight.detach().clone()
    decay = regularizer({"name": "decoupled_weight_decay", "strength": lam})
    decay.before_step(model, lr)
    decay.after_step(model, lr)
    shrink = 1 - lr * lam
    torch.testing.assert_close(v.detach(), shrink * v_before)  # the direction parameter is decayed
    torch.testing.assert_close(layer.weight.detach(), w_before)  # the weights are not
    assert not torch.allclose(layer.weight.detach(), shrink * w_before)  # as the nominal penalty would have them

    towards = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))

    def movement_of_w(v_start: torch.Tensor, step: float = 1e-6) -> float:
        """‖Δw‖ after one SGD step on v from `v_start` on the loss Σ w·towards."""
        with torch.no_grad():
            v.copy_(v_start)
        start = layer.weight.detach().clone()
        (gradient,) = torch.autograd.grad((layer.weight * towards).sum(), v)
        with torch.no_grad():
            v.sub_(step * gradient)
        return (layer.weight.detach() - start).norm().item()

    assert movement_of_w(shrink * v_before) / movement_of_w(v_before) == pytest.approx(1 / shrink**2, rel=1e-4)


def adam_trajectory(level, steps: int, lr: float = 0.1) -> torch.Tensor:
    """Adam on a fixed linear least-squares problem, with the regularizer's hooks where the
    trainer calls them: penalty in the closure's loss, before_step/after_step around the step."""
    torch.manual_seed(0)
    layer = nn.Linear(3, 2, bias=False)
    reg = regularizer(level)
    optimizer = torch.optim.Adam(layer.parameters(), lr=lr)
    x, y = torch.randn(8, 3), torch.randn(8, 2)

    def closure():
        optimizer.zero_grad()
        loss = (layer(x) - y).pow(2).mean() + reg.penalty(layer)
        loss.backward()
        return loss

    for _ in range(steps):
        reg.before_step(layer, lr)
        optimizer.step(closure)
        reg.after_step(layer, lr)
    return layer.weight.detach()


def test_coupled_l2_and_decoupled_decay_under_adam_each_follow_their_formula_and_differ():
    """First Adam step (m̂ = g, v̂ = g²): coupled w₁ = w₀ − lr·(g + λw₀)/(|g + λw₀| + ε);
    decoupled w₁ = w₀ − lr·g/(|g| + ε) − lr·λ·w₀."""
    lr, lam, eps = 0.1, 0.5, 1e-8
    torch.manual_seed(0)
    layer = nn.Linear(3, 2, bias=False)
    x, y = torch.randn(8, 3), torch.randn(8, 2)
    w0 = layer.weight.detach().clone()
    (layer(x) - y).pow(2).mean().backward()
    g = layer.weight.grad
    coupled = w0 - lr * (g + lam * w0) / ((g + lam * w0).abs() + eps)
    decoupled = w0 - lr * g / (g.abs() + eps) - lr * lam * w0
    got_coupled = adam_trajectory({"name": "l2", "strength": lam}, 1, lr)
    got_decoupled = adam_trajectory({"name": "decoupled_weight_decay", "strength": lam}, 1, lr)
    torch.testing.assert_close(got_coupled, coupled)
    torch.testing.assert_close(got_decoupled, decoupled)
    assert not torch.allclose(got_coupled, got_decoupled, atol=1e-3)


def test_decoupled_decay_with_adam_is_torchs_adamw_over_many_steps():
    lr, lam = 0.05, 0.2
    torch.manual_seed(0)
    layer = nn.Linear(3, 2, bias=False)
    optimizer = torch.optim.AdamW(layer.parameters(), lr=lr, weight_decay=lam)
    x, y = torch.randn(8, 3), torch.randn(8, 2)
    for _ in range(5):
        optimizer.zero_grad()
        (layer(x) - y).pow(2).mean().backward()
        optimizer.step()
    torch.testing.assert_close(adam_trajectory({"name": "decoupled_weight_decay", "strength": lam}, 5, lr), layer.weight.detach())


# --- dropout and label smoothing ---------------------------------------------------------------


def test_inverted_dropout_zeroes_p_and_scales_the_rest_keeping_the_mean():
    trainer = tiny_trainer(MLP, regularizer={"name": "dropout", "p": 0.4})
    dropout = [m for m in trainer.model.modules() if isinstance(m, nn.Dropout)]
    assert len(dropout) == 1 and dropout[0].p == 0.4  # after the one hidden activation
    torch.manual_seed(0)
    ones = torch.ones(200_000)
    out = dropout[0].train()(ones)
    assert (out == 0).float().mean().item() == pytest.approx(0.4, abs=0.005)
    torch.testing.assert_close(out.unique(), torch.tensor([0.0, 1 / 0.6]))
    assert out.mean().item() == pytest.approx(1.0, abs=0.01)
    assert torch.equal(dropout[0].eval()(ones), ones)


def forward_order(model: nn.Module, inputs: torch.Tensor) -> list[nn.Module]:
    """The leaf modules in the order a forward pass calls them."""
    called = []
    hooks = [m.register_forward_hook(lambda module, i, o: called.append(module))
             for m in model.modules() if not list(m.children())]
    model(inputs)
    for hook in hooks:
        hook.remove()
    return called


#: model → (its config, which of its hidden activations, in forward order, dropout follows)
DROPOUT_PLACEMENT = {
    "mlp": ({"name": "mlp", "depth": 3, "width": 8}, [True, True, True]),
    "cnn": ({"name": "cnn", "depth": 3, "width": 4}, [True, True, True]),
    # stem; then per residual block its inner activation (dropout: WRN) and the one after the sum
    "resnet": ({"name": "resnet", "width": 4, "blocks": 1}, [False] + [True, False] * 4),
}


def test_every_model_family_has_its_dropout_placement_written_down():
    assert set(DROPOUT_PLACEMENT) == set(MODELS.names())


@pytest.mark.parametrize("family", sorted(DROPOUT_PLACEMENT))
def test_dropout_sits_where_its_docstring_says(family):
    """mlp, cnn: right after every hidden activation. resnet: once inside every residual block,
    right after its first activation, and nowhere else (not after the stem, not after the sum)."""
    config, placement = DROPOUT_PLACEMENT[family]
    parts = Parts((3, 16, 16), 10, ACTIVATIONS.resolve("relu", "activation"), NORMS.resolve("batch", "norm"), 0.3)
    model = build_model(MODELS.resolve(config, "model"), parts).train()
    order = forward_order(model, torch.randn(4, 3, 16, 16))
    followed = [isinstance(after, nn.Dropout) for module, after in zip(order, order[1:] + [None])
                if isinstance(module, nn.ReLU)]
    assert followed == placement
    assert sum(isinstance(m, nn.Dropout) for m in order) == sum(placement)
    assert all(isinstance(before, nn.ReLU) for before, m in zip(order, order[1:]) if isinstance(m, nn.Dropout))


def test_label_smoothing_trains_on_the_smoothed_targets():
    """Loss = (1 − ε)·CE(onehot) + ε·mean_k(−log p_k), i.e. cross-entropy with (1 − ε)·onehot + ε/K."""
    eps = 0.2
    trainer = tiny_trainer(MLP, regularizer={"name": "label_smoothing", "epsilon": eps})
    logits, labels = torch.randn(5, 10), torch.tensor([0, 3, 9, 3, 1])
    log_p = logits.log_softmax(1)
    expected = ((1 - eps) * -log_p[torch.arange(5), labels] + eps * -log_p.mean(1)).mean()
    assert trainer.criterion(logits, labels).item() == pytest.approx(expected.item(), rel=1e-6)


# --- data augmentation and noise ---------------------------------------------------------------


def test_random_crop_is_an_exact_window_of_the_zero_padded_image():
    images = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).view(2, 3, 5, 5) + 1
    generator = torch.Generator().manual_seed(3)
    state = generator.get_state()
    out = random_crop(images, 2, generator)
    generator.set_state(state)
    dy, dx = torch.randint(0, 5, (2,), generator=generator), torch.randint(0, 5, (2,), generator=generator)
    padded = nn.functional.pad(images, (2, 2, 2, 2))
    for i in range(2):
        torch.testing.assert_close(out[i], padded[i, :, dy[i]:dy[i] + 5, dx[i]:dx[i] + 5], rtol=0, atol=0)


def test_random_crop_of_a_known_image():
    """A 3×3 image padded by 1 has 9 windows; the corner ones, written out by hand, shift zeros in."""
    image = torch.arange(1.0, 10.0).view(1, 1, 3, 3)
    top_left = torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 2.0], [0.0, 4.0, 5.0]])
    bottom_right = torch.tensor([[5.0, 6.0, 0.0], [8.0, 9.0, 0.0], [0.0, 0.0, 0.0]])
    out = random_crop(image.expand(300, 1, 3, 3), 1, torch.Generator().manual_seed(0))[:, 0]
    padded = nn.functional.pad(image, (1, 1, 1, 1))[0, 0]
    windows = [padded[dy:dy + 3, dx:dx + 3] for dy in range(3) for dx in range(3)]
    assert all(any(torch.equal(o, w) for w in windows) for o in out)
    for expected in (top_left, bottom_right, image[0, 0]):
        assert any(torch.equal(o, expected) for o in out)
    assert torch.equal(random_crop(image, 0, torch.Generator()), image)


def test_random_flip_mirrors_exactly_about_half_the_images():
    images = torch.rand(400, 3, 4, 5)
    out = random_flip(images, torch.Generator().manual_seed(0))
    flipped = torch.tensor([torch.equal(o, i.flip(2)) for o, i in zip(out, images)])
    unchanged = torch.tensor([torch.equal(o, i) for o, i in zip(out, images)])
    assert torch.all(flipped ^ unchanged)
    assert flipped.float().mean().item() == pytest.approx(0.5, abs=0.08)
    assert torch.equal(out[flipped][0, 0, 0], images[flipped][0, 0, 0].flip(0))


@pytest.mark.parametrize("factor", [0.3, 1.0, 1.7])
def test_colour_jitter_blends_are_torchvisions_adjustments(factor):
    images = torch.rand(6, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    factors = torch.full((6,), factor)
    mean_grey = grayscale(images).mean(dim=(1, 2, 3), keepdim=True)
    for ours, theirs in [(blend(images, torch.zeros_like(images), factors), TF.adjust_brightness),
                         (blend(images, mean_grey, factors), TF.adjust_contrast),
                         (blend(images, grayscale(images), factors), TF.adjust_saturation)]:
        torch.testing.assert_close(ours, torch.stack([theirs(image, factor) for image in images]))


def test_colour_jitter_draws_one_factor_per_image_in_range():
    images = torch.rand(64, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    jitter = regularizer({"name": "color_jitter", "brightness": 0.5, "contrast": 0.0, "saturation": 0.0})
    out = jitter.augment(images, torch.Generator().manual_seed(1))
    ratios = out.sum(dim=(1, 2, 3)) / images.sum(dim=(1, 2, 3))  # no clipping below 1: exact ratio
    low = ratios[ratios < 1]
    assert torch.all((ratios >= 0.5 - 1e-6)) and torch.all(ratios <= 1.5 + 1e-6) and len(low) > 10
    for image, result, ratio in zip(images, out, ratios):
        if ratio < 1:
            torch.testing.assert_close(result, image * ratio)
    none = regularizer({"name": "color_jitter", "brightness": 0.0, "contrast": 0.0, "saturation": 0.0})
    assert torch.equal(none.augment(images, torch.Generator()), images)


def test_gaussian_noise_adds_zero_mean_noise_of_the_given_std():
    noise = regularizer({"name": "gaussian_noise", "std": 0.3})
    out = noise.perturb(torch.zeros(100_000), torch.Generator().manual_seed(0))
    assert out.mean().item() == pytest.approx(0.0, abs=0.005) and out.std().item() == pytest.approx(0.3, rel=0.01)


# --- max-norm ----------------------------------------------------------------------------------


def test_max_norm_projects_hidden_units_onto_the_ball_and_leaves_the_rest():
    model = tiny_model()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[3.0, 4.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.0, 10.0], [1.0, 1.0, 1.0]]))
        model[2].weight.fill_(5.0)
    regularizer({"name": "max_norm", "limit": 2.0}).after_step(model, lr=0.1)
    expected = torch.tensor([[1.2, 1.6, 0.0], [0.1, 0.0, 0.0], [0.0, 0.0, 2.0], [1.0, 1.0, 1.0]])
    torch.testing.assert_close(model[0].weight.detach(), expected)
    assert torch.all(model[2].weight == 5.0)  # the classifier's output units are not hidden units


def test_max_norm_reaches_weight_normalized_layers():
    layer = NORMS.build(NORMS.resolve("weight", "norm"), nn.Linear(3, 2), 2, False, 0)
    with torch.no_grad():
        layer.parametrizations.weight.original0.fill_(10.0)
    model = nn.Sequential(layer, nn.ReLU(), nn.Linear(2, 2))
    regularizer({"name": "max_norm", "limit": 2.0}).after_step(model, lr=0.1)
    torch.testing.assert_close(layer.weight.norm(dim=1), torch.full((2,), 2.0))


# --- combinations and early stopping -----------------------------------------------------------


def test_regularizers_combine():
    combined = RegularizerSet([regularizer({"name": "l1", "strength": 0.1}), regularizer({"name": "l2", "strength": 0.2}),
                               regularizer({"name": "dropout", "p": 0.2}), regularizer({"name": "label_smoothing", "epsilon": 0.05}),
                               regularizer({"name": "early_stopping", "patience": 4})])
    model = tiny_model()
    w = [model[0].weight, model[2].weight]
    expected = sum(0.1 * p.abs().sum() + 0.1 * p.pow(2).sum() for p in w)
    assert combined.penalty(model).item() == pytest.approx(expected.item())
    assert (combined.dropout, combined.label_smoothing, combined.patience) == (0.2, 0.05, 4)


def test_early_stopping_stops_after_patience_and_restores_the_best_epochs_weights(monkeypatch):
    """Validation losses scripted 1.0, 0.5, 0.7, 0.8, 0.9, …: the best epoch is 2; with patience 2
    training stops after epoch 4 (2 epochs in a row without improvement, Keras' rule) and ends on
    epoch 2's weights — and the summary reports that model: stopped early after 4 epochs, its test probabilities and
    test NLL those of epoch 2's weights, evaluated here by hand."""
    scripted = iter([1.0, 0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2])
    real_evaluate = loop.evaluate

    def evaluate(model, data, split, batch_size, keep_probabilities=False, **options):
        result = real_evaluate(model, data, split, batch_size, keep_probabilities, **options)
        return Evaluation(next(scripted), result.accuracy) if split == "val" else result

    monkeypatch.setattr(loop, "evaluate", evaluate)
    trainer = tiny_trainer(MLP, epochs=8, regularizer={"name": "early_stopping", "patience": 2})
    snapshots = {}
    while not trainer.finished:
        row = trainer.train_epoch()
        snapshots[row["epoch"]] = copy.deepcopy(trainer.model.state_dict())
    assert trainer.epoch == 4
    outcome = trainer.finish(0.0)
    assert outcome.stopped_early
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(value, snapshots[2][name])
    assert not torch.equal(snapshots[4][next(iter(snapshots[4]))], snapshots[2][next(iter(snapshots[2]))])

    data = trainer.data
    epoch_two = copy.deepcopy(trainer.model)
    epoch_two.load_state_dict(snapshots[2])
    with torch.no_grad():
        logits = epoch_two.eval()(data.preprocess(data.test.images.float() / 255))
    labels = {"val": outcome.val_logits.argmax(1).numpy(), "test": data.test.labels.numpy()}  # val scripted: no logits
    summary = summarize(trainer.spec, outcome, torch.device("cpu"), wall_seconds=0.0, labels=labels)
    assert summary["stopped_early"] is True and summary["epochs_completed"] == 4
    torch.testing.assert_close(outcome.test_probabilities, logits.softmax(1))
    assert summary["test_nll"] == pytest.approx(nn.functional.cross_entropy(logits, data.test.labels).item(), rel=1e-5)
