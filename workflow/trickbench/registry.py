"""Named registries of techniques.

Every technique family (activations, inits, norms, ...) is a `Registry`: one name maps to one
builder, and the builder's keyword-only parameters *are* the technique's configurable parameters
(their defaults and types are read from the signature). So adding a technique is one decorated
function, and config validation, labels and registry-parametrized tests pick it up by themselves.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from trickbench.errors import ConfigError

Scalar = bool | int | float | str


@dataclass(frozen=True)
class Technique:
    """A chosen technique: a registry name plus *all* its parameters (defaults filled in).

    Frozen and built from sorted tuples, so it is hashable and has one canonical form.
    """

    name: str
    params: tuple[tuple[str, Scalar], ...] = ()

    def as_dict(self) -> dict[str, Scalar]:
        return {"name": self.name, **dict(self.params)}

    @property
    def kwargs(self) -> dict[str, Scalar]:
        return dict(self.params)


@dataclass(frozen=True)
class Entry:
    """One registered technique: its builder, parameter defaults, bounds and reference."""

    name: str
    build: Callable[..., Any]
    defaults: Mapping[str, Scalar]
    bounds: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    choices: Mapping[str, Callable[[], list[str]]] = field(default_factory=dict)
    reference: str = ""

    @property
    def summary(self) -> str:
        """First line of the builder's docstring: what the technique does."""
        return (inspect.getdoc(self.build) or "").splitlines()[0] if self.build.__doc__ else ""


def _keyword_defaults(fn: Callable[..., Any]) -> dict[str, Scalar]:
    target = fn.__init__ if inspect.isclass(fn) else fn
    params = inspect.signature(target).parameters.values()
    return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY and p.default is not p.empty}


class Registry:
    """A family of named techniques; `resolve` turns a config level into a validated `Technique`."""

    def __init__(self, family: str):
        self.family = family
        self._entries: dict[str, Entry] = {}

    def register(
        self,
        name: str,
        *,
        reference: str = "",
        bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
        choices: Mapping[str, Callable[[], list[str]]] | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: register `fn` under `name`; its keyword-only args become the parameters.

        `bounds` maps a parameter to an inclusive (low, high) range (None = open);
        `choices` maps a string parameter to a function listing its allowed values.
        """

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries:
                raise ValueError(f"{self.family} '{name}' is registered twice")
            self._entries[name] = Entry(
                name, fn, _keyword_defaults(fn), dict(bounds or {}), dict(choices or {}), reference
            )
            return fn

        return decorate

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries[n] for n in self.names())

    def get(self, name: str, key: str | None = None) -> Entry:
        if name not in self._entries:
            raise ConfigError(key or self.family, name, ", ".join(self.names()))
        return self._entries[name]

    def resolve(self, level: str | Mapping[str, Any] | Technique, key: str) -> Technique:
        """Validate a config level (`"relu"` or `{name: leaky_relu, slope: 0.1}`) into a Technique."""
        if isinstance(level, Technique):
            level = level.as_dict()
        if isinstance(level, str):
            level = {"name": level}
        if not isinstance(level, Mapping) or not isinstance(level.get("name"), str):
            raise ConfigError(key, level, f"a {self.family} name or a mapping with 'name' and its parameters")
        entry = self.get(level["name"], key)
        params = dict(entry.defaults)
        for pname, value in level.items():
            if pname == "name":
                continue
            if pname not in entry.defaults:
                allowed = ", ".join(sorted(entry.defaults)) or "no parameters"
                raise ConfigError(f"{key}.{pname}", value, f"parameters of {entry.name}: {allowed}")
            params[pname] = _checked(entry, pname, value, f"{key}.{pname}")
        return Technique(entry.name, tuple(sorted(params.items())))

    def label(self, technique: Technique) -> str:
        """Short human label: the name plus any parameter that differs from its default."""
        defaults = self.get(technique.name).defaults
        changed = [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                   for k, v in technique.params if defaults.get(k) != v]
        return technique.name + (f"({', '.join(changed)})" if changed else "")

    def build(self, technique: Technique, *args: Any, **context: Any) -> Any:
        """Call the technique's builder with positional context args and its parameters."""
        return self.get(technique.name).build(*args, **context, **technique.kwargs)


def _checked(entry: Entry, pname: str, value: Any, key: str) -> Scalar:
    default = entry.defaults[pname]
    kind = type(default)
    if isinstance(value, str) and kind is not str:  # from `snakemake --config`, which keeps strings
        from trickbench.config import parse_scalar

        value = parse_scalar(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not kind:
        raise ConfigError(key, value, f"a {kind.__name__}")
    if pname in entry.choices and value not in entry.choices[pname]():
        raise ConfigError(key, value, ", ".join(entry.choices[pname]()))
    low, high = entry.bounds.get(pname, (None, None))
    if (low is not None and value < low) or (high is not None and value > high):
        allowed = f"{'-inf' if low is None else low} <= {pname} <= {'inf' if high is None else high}"
        raise ConfigError(key, value, allowed)
    return value
