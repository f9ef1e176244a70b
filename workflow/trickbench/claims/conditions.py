"""The setup that ran the claims, and the conditions a claim's source states.

A source's claim holds under the conditions it was made in: Krizhevsky et al.'s "six times faster"
is a four-layer CNN with each network's rate chosen to train as fast as possible, on a constant
schedule; the lecture's "initial loss ≈ ln 10" is for small weights (0.0001·randn); mode
connectivity joins minima, i.e. solutions at (near) zero training error; a claim about two factors
together needs a design that crosses them (`crossed_inits`, `matched_decays`, read from the runs
the design plans). A claim declares them as `Condition`s — each reads one fact of the `setup` (the
config that ran, the runs its design plans, and what the tables measured of it) and names the
preset that meets it — and a claim whose conditions are unmet gets the verdict "outside this
setup", never "not reproduced".

The same facts make the setup line the scorecard opens with: model, data set and its size,
epochs, seeds, and whether the rates were tuned.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Mapping

from trickbench.data.labels import split_sizes
from trickbench.design import baseline_spec, design_cells
from trickbench.spec import RunSpec
from trickbench.techniques import FAMILIES
from trickbench.techniques.inits import INITS

#: the preset that meets the conditions the claims preset does not (`workflow/presets/claims-deep.yaml`)
DEEP_PRESET = "workflow/presets/claims-deep.yaml"
CLAIMS_PRESET = "workflow/presets/claims.yaml"
#: the preset whose full design crosses the factors that the claims about two factors together compare
INTERACTIONS_PRESET = "workflow/presets/claims-interactions.yaml"
#: the two ways of decaying weights that Loshchilov & Hutter 2019 compare under Adam (regularizer names)
WEIGHT_DECAYS = ("l2", "decoupled_weight_decay")


@dataclass(frozen=True)
class Condition:
    """One condition of a claim's source: the fact `fact` of the setup must be one of `allowed`,
    or within [`at_least`, `at_most`]. `preset` is a preset that meets it."""

    stated: str  # as the source states it, e.g. "a CNN of at least four layers (Krizhevsky et al. 2012, Fig. 1)"
    fact: str  # a key of `setup_facts`
    allowed: tuple[Any, ...] = ()
    at_least: float | None = None
    at_most: float | None = None
    preset: str = DEEP_PRESET

    def unmet(self, facts: Mapping[str, Any]) -> str | None:
        """Why the setup does not meet it (the stated condition and the setup's value), or None when
        it does — or when the fact is unknown (its runs are absent: the claim is not run anyway)."""
        if self.fact not in facts or facts[self.fact] is None:
            return None
        value = facts[self.fact]
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        met = (not self.allowed or value in self.allowed) and \
              (self.at_least is None or numeric and value >= self.at_least) and \
              (self.at_most is None or numeric and value <= self.at_most)
        if met:
            return None
        shown = f"{value:g}" if numeric else str(value)
        return f"the source's {self.stated}; here {self.fact} = {shown}"


def unmet_conditions(conditions: tuple[Condition, ...], facts: Mapping[str, Any] | None) -> list[Condition]:
    """The conditions the setup does not meet (none when the setup is unknown)."""
    if facts is None:
        return []
    return [c for c in conditions if c.unmet(facts) is not None]


def outside_note(conditions: list[Condition], facts: Mapping[str, Any]) -> str:
    """'unmet: …; workflow/presets/claims-deep.yaml meets it'."""
    presets = list(dict.fromkeys(c.preset for c in conditions))
    return ("unmet: " + "; ".join(c.unmet(facts) for c in conditions)
            + f" — {' and '.join(presets)} meet{'s' if len(presets) == 1 else ''} "
              f"{'it' if len(conditions) == 1 else 'them'}")


# -- the facts of a setup --------------------------------------------------------------------------
def level_name(level: Any) -> str:
    return str(level["name"]) if isinstance(level, Mapping) else str(level)


def init_label(level: Any, key: str) -> str:
    """An init level as its registry labels it: 'he_normal', 'small_gaussian(std=0.0001)'."""
    return INITS.label(INITS.resolve(level, key))


def rates_for_speed(config: Mapping[str, Any]) -> int:
    """Learning rates each activation level ran at, among which the claim picks its fastest: the
    optimizer levels of a full, untuned design that varies the activation; else 1 (an ablation runs
    each activation at one rate; a tuned design chooses it on validation accuracy, not speed)."""
    design = config["design"]
    factors = design.get("factors", {})
    if design["kind"] != "full" or design.get("tuning", {}).get("enabled") or len(factors.get("activation", [])) < 2:
        return 1
    return max(1, len(factors.get("optimizer", [])))


def endpoint_train_error(results) -> float | None:
    """Training error of the worst of mode connectivity's endpoints (t = 0 and t = 1 of every pair), or
    None without the study's table."""
    table = results.get("mode_connectivity") if results is not None else None
    if table is None or table.empty:
        return None
    ends = table[table["t"].isin([table["t"].min(), table["t"].max()])]
    return float(1 - ends["train_acc"].min())


def everything_but(spec: RunSpec, *families: str) -> tuple:
    """What makes a run's configuration apart from `families` (and the seed): data, model, budget
    and the other families' levels."""
    return (spec.data, spec.model, spec.train, spec.numerics,
            *(getattr(spec, family) for family in FAMILIES if family not in families))


def crossed_inits(cells: list[RunSpec]) -> int:
    """The most init levels that the design runs both without normalization and with batch norm,
    everything else equal (an ablation: the baseline's init only, at most)."""
    by_norm: dict[tuple, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for spec in cells:
        by_norm[everything_but(spec, "norm", "init")][spec.norm.name].add(spec.init)
    return max((len(inits["none"] & inits["batch"]) for inits in by_norm.values()), default=0)


def matched_decays(cells: list[RunSpec]) -> int:
    """Configurations (everything but the regularizer equal) at which the design runs Adam with an
    L2 penalty and with decoupled weight decay of the same nominal strength."""
    found: dict[tuple, set[str]] = defaultdict(set)
    for spec in cells:
        if spec.optimizer.name == "adam" and len(spec.regularizer) == 1 and spec.regularizer[0].name in WEIGHT_DECAYS:
            decay = spec.regularizer[0]
            found[(everything_but(spec, "regularizer"), decay.kwargs.get("strength"))].add(decay.name)
    return sum(len(names) == len(WEIGHT_DECAYS) for names in found.values())


def setup_facts(config: Mapping[str, Any] | None, results=None) -> dict[str, Any] | None:
    """The facts conditions read, from the config that ran and (for what only the runs know) the
    tables; None without a config."""
    if config is None:
        return None
    model, baseline, studies = config["model"], config["baseline"], config.get("studies", {})
    babysitting = studies.get("babysitting", {})
    cells = design_cells(config)
    return {
        "model.name": model["name"],
        "model.depth": model.get("depth"),
        "baseline.schedule": level_name(baseline["schedule"]),
        "activation.rates": rates_for_speed(config),
        "babysitting.init": init_label(babysitting.get("init") or baseline["init"], "studies.babysitting.init"),
        "mode_connectivity.endpoint_train_error": endpoint_train_error(results),
        "checkpoint_averaging.ema_decay": studies.get("checkpoint_averaging", {}).get("ema_decay"),
        "norm_init.crossed_inits": crossed_inits(cells),
        "adam_decay.matched_configurations": matched_decays(cells),
    }


def setup_line(config: Mapping[str, Any]) -> str:
    """'Setup: mlp (depth 2, width 256) on cifar10-mini — 4,194 training, 466 validation and 846 test
    images; 15 epochs; 8 seeds; ablation design; cosine schedule; learning rates tuned on validation
    for each level (7 trials each).'"""
    model = config["model"]
    sizes = ", ".join(f"{k} {v}" for k, v in model.items() if k != "name")
    design = config["design"]
    split = split_sizes(baseline_spec(config, design["seeds"][0]), config)
    tuning = design.get("tuning", {})
    rates = (f"learning rates tuned on validation for each level ({tuning['trials']} trials each)"
             if tuning.get("enabled") else "learning rates as the config sets them (not tuned)")
    if rates_for_speed(config) > 1:
        rates += f"; each activation run at {rates_for_speed(config)} rates, its fastest chosen"
    return (f"Setup: {model['name']}{f' ({sizes})' if sizes else ''} on {level_name(config['data']['source'])} — "
            f"{split['train']:,} training, {split['val']:,} validation and {split['test']:,} test images; "
            f"{config['train']['epochs']} epochs; {len(design['seeds'])} seeds; {design['kind']} design; "
            f"{level_name(config['baseline']['schedule'])} schedule; {rates}.")
