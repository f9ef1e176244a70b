"""Optimizers against hand-computed updates on a tiny quadratic f(w) = ½wᵀAw − bᵀw (∇f = Aw − b):
each update rule written out from its paper, compared with what the registered optimizer does."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch import nn

from technique_helpers import quadratic, tiny_trainer
from trickbench.errors import ConfigError
from trickbench.techniques.norms import NORMS
from trickbench.techniques.optimizers import OPTIMIZERS, WrappingOptimizer, base_names

MLP = {"name": "mlp", "depth": 1, "width": 16}
A, B = quadratic()
W0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
grad = lambda w: A @ w - B


def build(level, *params: torch.nn.Parameter) -> torch.optim.Optimizer:
    return OPTIMIZERS.build(OPTIMIZERS.resolve(level, "optimizer"), list(params))


def run(level, steps: int, w0: torch.Tensor = W0) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Step `level` on the quadratic through the trainer's closure protocol; returns the final
    weights and the points at which gradients were evaluated."""
    w = torch.nn.Parameter(w0.clone())
    optimizer = build(level, w)
    evaluated = []

    def closure():
        optimizer.zero_grad()
        evaluated.append(w.detach().clone())
        loss = 0.5 * w @ A @ w - B @ w
        loss.backward()
        return loss

    for _ in range(steps):
        optimizer.step(closure)
    return w.detach(), evaluated


def test_sgd_steps_against_the_gradient():
    w, _ = run({"name": "sgd", "lr": 0.1}, 2)
    w1 = W0 - 0.1 * grad(W0)
    torch.testing.assert_close(w, w1 - 0.1 * grad(w1))


def test_momentum_accumulates_a_velocity():
    """v₁ = g₀, w₁ = w₀ − lr·v₁; v₂ = μ·v₁ + g₁, w₂ = w₁ − lr·v₂."""
    lr, mu = 0.1, 0.9
    w, _ = run({"name": "momentum", "lr": lr, "momentum": mu}, 2)
    v1 = grad(W0)
    w1 = W0 - lr * v1
    v2 = mu * v1 + grad(w1)
    torch.testing.assert_close(w, w1 - lr * v2)


def test_nesterov_looks_ahead_along_the_velocity_and_differs_from_momentum():
    """v₁ = g₀, w₁ = w₀ − lr·(g₀ + μ·v₁); v₂ = μ·v₁ + g₁, w₂ = w₁ − lr·(g₁ + μ·v₂)."""
    lr, mu = 0.1, 0.9
    w, _ = run({"name": "nesterov", "lr": lr, "momentum": mu}, 2)
    g0 = grad(W0)
    w1 = W0 - lr * (g0 + mu * g0)
    v2 = mu * g0 + grad(w1)
    torch.testing.assert_close(w, w1 - lr * (grad(w1) + mu * v2))
    heavy_ball, _ = run({"name": "momentum", "lr": lr, "momentum": mu}, 1)
    nesterov_one, _ = run({"name": "nesterov", "lr": lr, "momentum": mu}, 1)
    assert not torch.allclose(heavy_ball, nesterov_one)


def test_adagrad_divides_by_the_root_of_all_past_squared_gradients():
    lr, eps = 0.5, 1e-10
    w, _ = run({"name": "adagrad", "lr": lr}, 2)
    g0 = grad(W0)
    w1 = W0 - lr * g0 / (g0.abs() + eps)
    g1 = grad(w1)
    torch.testing.assert_close(w, w1 - lr * g1 / ((g0**2 + g1**2).sqrt() + eps))


def test_rmsprop_divides_by_a_leaky_average_of_squared_gradients():
    lr, alpha, eps = 0.01, 0.9, 1e-8
    w, _ = run({"name": "rmsprop", "lr": lr}, 2)
    g0 = grad(W0)
    v1 = (1 - alpha) * g0**2
    w1 = W0 - lr * g0 / (v1.sqrt() + eps)
    g1 = grad(w1)
    v2 = alpha * v1 + (1 - alpha) * g1**2
    torch.testing.assert_close(w, w1 - lr * g1 / (v2.sqrt() + eps))


def adam_steps(w0: torch.Tensor, steps: int, lr: float, decay: float = 0.0, b1=0.9, b2=0.999, eps=1e-8) -> torch.Tensor:
    """Kingma & Ba 2015, Algorithm 1, with Loshchilov & Hutter's decoupled decay −lr·λ·w."""
    w, m, v = w0.clone(), torch.zeros_like(w0), torch.zeros_like(w0)
    for t in range(1, steps + 1):
        g = grad(w)
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g**2
        w = w - lr * decay * w - lr * (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + eps)
    return w


def test_adam_is_algorithm_1_of_its_paper():
    w, _ = run({"name": "adam", "lr": 0.1}, 3)
    torch.testing.assert_close(w, adam_steps(W0, 3, 0.1))


def test_adamw_decays_the_decayed_group_decoupled_and_leaves_the_other_alone():
    """Groups with a role: w ← w − lr·λ·w − lr·adam_step in the decayed group, plain Adam in the other."""
    lr, decay = 0.1, 0.5
    matrix = torch.nn.Parameter(W0.clone()[None, :])
    bias = torch.nn.Parameter(W0.clone())
    optimizer = build({"name": "adamw", "lr": lr, "weight_decay": decay},
                      {"params": [matrix], "decayed": True}, {"params": [bias], "decayed": False})
    for _ in range(3):
        optimizer.zero_grad()
        for p in (matrix, bias):
            w = p.view(-1)
            (0.5 * w @ A @ w - B @ w).backward()
        optimizer.step()
    torch.testing.assert_close(matrix.detach()[0], adam_steps(W0, 3, lr, decay))
    torch.testing.assert_close(bias.detach(), adam_steps(W0, 3, lr))


def weight_normed_model() -> nn.Sequential:
    """Weight-normed hidden layer (g, v), batch norm (gain, shift), PReLU slopes, plain classifier."""
    torch.manual_seed(0)
    hidden = NORMS.build(NORMS.resolve("weight", "norm"), nn.Linear(3, 4), 4, False, 0)
    return nn.Sequential(hidden, nn.BatchNorm1d(4), nn.PReLU(4), nn.Linear(4, 2))


def test_adamw_built_from_a_model_decays_weights_and_weight_norms_direction_only():
    """Zero gradients make Adam's own step 0, so one step is pure decoupled decay: v and the
    classifier's weight shrink by (1 − lr·λ); weight norm's gain g, biases, batch norm's gain and
    shift and PReLU's slopes do not move — g is a normalization gain, not a weight."""
    lr, decay = 0.1, 0.5
    model = weight_normed_model()
    hidden, bn, prelu, classifier = model
    optimizer = OPTIMIZERS.build(OPTIMIZERS.resolve({"name": "adamw", "lr": lr, "weight_decay": decay}, "optimizer"), model)
    g, v = hidden.parametrizations.weight.original0, hidden.parametrizations.weight.original1
    decayed = [group for group in optimizer.param_groups if group["weight_decay"] == decay]
    assert [{id(p) for p in group["params"]} for group in decayed] == [{id(v), id(classifier.weight)}]
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    shrunk = {"0.parametrizations.weight.original1", "3.weight"}
    for name, p in model.named_parameters():
        expected = (1 - lr * decay) * before[name] if name in shrunk else before[name]
        torch.testing.assert_close(p.detach(), expected, msg=name)


def test_lbfgs_solves_a_quadratic_in_one_step():
    """With exact line searches, quasi-Newton methods minimize an n-dimensional quadratic in n
    iterations (Nocedal & Wright 2006, ch. 6); strong-Wolfe searches are exact on a quadratic
    up to tolerance. One step of 10 iterations reaches A⁻¹b, calling the closure many times."""
    w, evaluated = run({"name": "lbfgs", "max_iter": 10}, 1)
    torch.testing.assert_close(w, torch.linalg.solve(A, B), atol=1e-6, rtol=0)
    assert len(evaluated) > 3


def test_sam_takes_the_gradient_at_the_ascended_point():
    """One step: ε = ρ·g/‖g‖, then the base (SGD) steps from w with ∇f(w + ε). Two evaluations."""
    lr, rho = 0.1, 0.3
    w, evaluated = run({"name": "sam", "base": "sgd", "lr": lr, "rho": rho}, 1)
    g = grad(W0)
    ascended = W0 + rho * g / g.norm()
    assert len(evaluated) == 2
    torch.testing.assert_close(evaluated[0], W0)
    torch.testing.assert_close(evaluated[1], ascended)
    torch.testing.assert_close(w, W0 - lr * grad(ascended))


def test_sam_perturbs_all_parameters_by_their_joint_gradient_norm():
    a, b = torch.nn.Parameter(torch.tensor([3.0])), torch.nn.Parameter(torch.tensor([4.0]))
    optimizer = build({"name": "sam", "base": "sgd", "lr": 0.0, "rho": 1.0}, a, b)
    seen = []

    def closure():
        optimizer.zero_grad()
        seen.append((a.item(), b.item()))
        loss = 0.5 * (a**2 + b**2).sum()  # gradient (3, 4), norm 5
        loss.backward()
        return loss

    optimizer.step(closure)
    assert seen[1] == pytest.approx((3.0 + 3 / 5, 4.0 + 4 / 5))
    assert (a.item(), b.item()) == (3.0, 4.0)  # lr 0: restored exactly


def test_sam_with_momentum_feeds_the_ascended_gradient_to_the_base():
    lr, mu, rho = 0.1, 0.9, 0.2
    w, evaluated = run({"name": "sam", "base": "momentum", "lr": lr, "rho": rho}, 2)
    g0 = grad(W0)
    v1 = grad(W0 + rho * g0 / g0.norm())
    w1 = W0 - lr * v1
    g1 = grad(w1)
    v2 = mu * v1 + grad(w1 + rho * g1 / g1.norm())
    torch.testing.assert_close(w, w1 - lr * v2)
    assert len(evaluated) == 4


def test_lookahead_interpolates_slow_weights_every_k_steps():
    """k = 2, α = 0.5 over SGD: fast θ₁, θ₂ from φ₀; φ₁ = φ₀ + α(θ₂ − φ₀); then fast again from φ₁."""
    lr, alpha = 0.1, 0.5
    sgd_step = lambda w: w - lr * grad(w)
    level = {"name": "lookahead", "base": "sgd", "lr": lr, "k": 2, "alpha": alpha}
    after_one, _ = run(level, 1)
    torch.testing.assert_close(after_one, sgd_step(W0))
    slow = W0 + alpha * (sgd_step(sgd_step(W0)) - W0)
    after_two, _ = run(level, 2)
    torch.testing.assert_close(after_two, slow)
    after_three, evaluated = run(level, 3)
    torch.testing.assert_close(after_three, sgd_step(slow))
    assert len(evaluated) == 3


def test_wrappers_share_the_base_learning_rate_so_schedules_reach_it():
    for name in ("sam", "lookahead"):
        optimizer = build({"name": name, "base": "adam", "lr": 0.5}, torch.nn.Parameter(W0.clone()))
        assert isinstance(optimizer, WrappingOptimizer) and optimizer.param_groups is optimizer.base.param_groups
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.1)
        assert optimizer.base.param_groups[0]["lr"] == pytest.approx(0.05)
        del scheduler


def test_wrapper_bases_are_first_order_optimizers_by_name():
    assert "lbfgs" not in base_names() and "sam" not in base_names() and {"sgd", "adam", "adamw"} <= set(base_names())
    with pytest.raises(ConfigError, match="optimizer.base.*adam"):
        OPTIMIZERS.resolve({"name": "sam", "base": "lbfgs"}, "optimizer")


# --- every optimizer against its own update rule, written out here --------------------------------

LR, STEPS = 0.02, 5


def momentum_steps(w: torch.Tensor, steps: int, mu: float = 0.9, nesterov: bool = False,
                   gradient=grad) -> torch.Tensor:
    """v ← μ·v + g(w) from v = 0; w ← w − lr·v (Nesterov: w ← w − lr·(g + μ·v)); `gradient` may be SAM's."""
    v = torch.zeros_like(w)
    for _ in range(steps):
        g = gradient(w)
        v = mu * v + g
        w = w - LR * ((g + mu * v) if nesterov else v)
    return w


def sam_gradient(w: torch.Tensor, rho: float = 0.05) -> torch.Tensor:
    g = grad(w)
    return grad(w + rho * g / g.norm())


def adagrad_steps(w: torch.Tensor, steps: int, eps: float = 1e-10) -> torch.Tensor:
    total = torch.zeros_like(w)
    for _ in range(steps):
        g = grad(w)
        total = total + g**2
        w = w - LR * g / (total.sqrt() + eps)
    return w


def rmsprop_steps(w: torch.Tensor, steps: int, alpha: float = 0.9, eps: float = 1e-8) -> torch.Tensor:
    v = torch.zeros_like(w)
    for _ in range(steps):
        g = grad(w)
        v = alpha * v + (1 - alpha) * g**2
        w = w - LR * g / (v.sqrt() + eps)
    return w


def lookahead_steps(w: torch.Tensor, steps: int, k: int = 5, alpha: float = 0.5) -> torch.Tensor:
    """Momentum's fast weights from the slow ones, its velocity kept; every k steps φ ← φ + α(θ − φ)."""
    slow, v = w, torch.zeros_like(w)
    for t in range(1, steps + 1):
        g = grad(w)
        v = 0.9 * v + g
        w = w - LR * v
        if t % k == 0:
            slow = slow + alpha * (w - slow)
            w = slow
    return w


#: name → (config level, the weights after STEPS steps from W0 by the rule of its paper)
REFERENCES = {
    "sgd": ({"name": "sgd", "lr": LR}, lambda: momentum_steps(W0, STEPS, mu=0.0)),
    "momentum": ({"name": "momentum", "lr": LR}, lambda: momentum_steps(W0, STEPS)),
    "nesterov": ({"name": "nesterov", "lr": LR}, lambda: momentum_steps(W0, STEPS, nesterov=True)),
    "adagrad": ({"name": "adagrad", "lr": LR}, lambda: adagrad_steps(W0, STEPS)),
    "rmsprop": ({"name": "rmsprop", "lr": LR}, lambda: rmsprop_steps(W0, STEPS)),
    "adam": ({"name": "adam", "lr": LR}, lambda: adam_steps(W0, STEPS, LR)),
    # a bare parameter has no role: AdamW decays it, as torch's AdamW does
    "adamw": ({"name": "adamw", "lr": LR}, lambda: adam_steps(W0, STEPS, LR, decay=0.01)),
    "lbfgs": ("lbfgs", lambda: torch.linalg.solve(A, B)),  # converged: see the one-step test above
    "sam": ({"name": "sam", "lr": LR}, lambda: momentum_steps(W0, STEPS, gradient=sam_gradient)),
    "lookahead": ({"name": "lookahead", "lr": LR}, lambda: lookahead_steps(W0, STEPS)),
}


def test_every_registered_optimizer_has_a_reference():
    assert set(REFERENCES) == set(OPTIMIZERS.names()), "add the new optimizer's update rule to REFERENCES"


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_follows_its_update_rule_at_its_defaults(name):
    """5 steps at the registry's defaults equal the rule written out from the paper (an optimizer
    that did nothing, or did its base's step only, would not)."""
    level, reference = REFERENCES[name]
    w, _ = run(level, STEPS)
    torch.testing.assert_close(w, reference(), atol=1e-6 if name == "lbfgs" else 1e-7, rtol=1e-6)
    assert not torch.allclose(w, W0)


# --- SAM and running statistics -----------------------------------------------------------------


def bn_network() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))


X = torch.randn(16, 4, generator=torch.Generator().manual_seed(1))
Y = torch.arange(16) % 3


def sam_step(model: nn.Module, **level) -> None:
    optimizer = OPTIMIZERS.build(OPTIMIZERS.resolve({"name": "sam", "base": "sgd", "lr": 0.1, "rho": 0.5, **level},
                                                    "optimizer"), model)

    def closure():
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(X), Y)
        loss.backward()
        return loss

    optimizer.step(closure)


def batch_statistics(pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What one batch-norm update from (0, 1) with momentum 0.1 gives (Ioffe & Szegedy 2015,
    Alg. 2: the running variance takes the unbiased batch variance)."""
    return 0.1 * pre.mean(0), 0.9 + 0.1 * pre.var(0, unbiased=True)


def test_sam_updates_running_statistics_once_per_step_from_the_unperturbed_weights():
    model = bn_network()
    with torch.no_grad():
        pre = model[0](X)  # the first layer's output at the unperturbed weights w
    sam_step(model)
    bn = model[1]
    assert bn.num_batches_tracked.item() == 1
    mean, var = batch_statistics(pre)
    torch.testing.assert_close(bn.running_mean, mean)
    torch.testing.assert_close(bn.running_var, var)


def test_sam_with_bn_stats_both_also_updates_them_from_the_perturbed_weights():
    """The documented alternative: a second update μ ← 0.9·μ + 0.1·mean(x·(W + ε_W)ᵀ + b + ε_b),
    with ε = ρ·g/‖g‖ from the gradient over all parameters at w."""
    model, rho = bn_network(), 0.5
    probe = copy.deepcopy(model)
    nn.functional.cross_entropy(probe(X), Y).backward()
    g_norm = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in probe.parameters()]))
    with torch.no_grad():
        first = model[0]
        pre = first(X)
        scale = rho / g_norm
        perturbed = X @ (first.weight + scale * probe[0].weight.grad).T + first.bias + scale * probe[0].bias.grad
    sam_step(model, bn_stats="both")
    bn = model[1]
    assert bn.num_batches_tracked.item() == 2
    mean, _ = batch_statistics(pre)
    torch.testing.assert_close(bn.running_mean, 0.9 * mean + 0.1 * perturbed.mean(0))


def test_sam_in_the_training_loop_counts_one_batch_norm_update_per_step():
    trainer = tiny_trainer(MLP, optimizer={"name": "sam", "base": "momentum", "lr": 0.05}, norm="batch")
    trainer.train_epoch()
    counts = [m.num_batches_tracked.item() for m in trainer.model.modules() if isinstance(m, nn.BatchNorm1d)]
    assert counts == [5]  # 160 training images in batches of 32: 5 steps
    assert trainer.grad_evals == 10  # still two gradient evaluations per step


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_resumes_identically_from_its_state_dict(name):
    """3 steps straight equal 2 steps, save (weights_only load), restore into a fresh optimizer, 1 step."""
    straight, _ = run(name, 3)
    w = torch.nn.Parameter(W0.clone())
    optimizer = build(name, w)

    def closure():
        optimizer.zero_grad()
        loss = 0.5 * w @ A @ w - B @ w
        loss.backward()
        return loss

    for _ in range(2):
        optimizer.step(closure)
    buffer = io.BytesIO()
    torch.save(optimizer.state_dict(), buffer)
    buffer.seek(0)
    optimizer = build(name, w)
    optimizer.load_state_dict(torch.load(buffer, weights_only=True))
    optimizer.step(closure)
    torch.testing.assert_close(w.detach(), straight)
