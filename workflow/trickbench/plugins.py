"""Plugins: a user's own techniques, from the files or modules that `plugins:` in the config names.

A plugin is plain Python that registers techniques with a family's registry, exactly as the
built-ins do (`@OPTIMIZERS.register("lion", reference=..., bounds=...)` on a builder whose
keyword-only arguments are its parameters), and passes the same checks. It loads before the
config's techniques are resolved, so a config selects its techniques by name like any other.

Each technique a plugin registers carries the plugin's `PluginRef`: its path as the config writes
it (or its module name) and the SHA-256 of its source. That reference is part of the spec, so the
runs that use the plugin's techniques — and only those — get new ids when the plugin changes, and
every such run's spec.json and summary.json say which code it ran. (For a module, the hash covers
its file, or every .py file of a package; code a plugin imports from elsewhere is not covered.)

Where a relative path points: to the folder of the config file that set `plugins:` (the last one to
set it, in the order the configs apply), or to the working directory when the command line set
it (`--config plugins=[...]`). A training job is a new process: it is given that folder
(`trickbench train --plugin-dir`) and loads the plugins its spec names, whose hashes must match,
so it trains exactly the code its run id names — locally and on a cluster alike, where the files
travel with the workflow on the shared file system.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import posixpath
import re
import sys
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import yaml

from trickbench.errors import ConfigError, one_line
from trickbench.registry import PluginRef, RegistrationError, adopt, forget, registering_for

_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_NOT_A_NAME = re.compile(r"\W")
REGISTER_HINT = "decorate a builder with a family's registry, e.g. @OPTIMIZERS.register(\"name\", reference=...)"


class PluginError(ConfigError):
    """A plugin that cannot be used: one line naming the plugin, and the technique where there is one."""

    def __init__(self, plugin: str, problem: str):
        self.key, self.value, self.allowed = "plugins", plugin, problem
        ValueError.__init__(self, f"plugin {plugin}: {problem}")


@dataclass(frozen=True)
class Plugin:
    """A loaded plugin: what the spec records (`ref`), where it was loaded from (an absolute path or
    a module name) and the techniques it registered, as (family, name) pairs."""

    ref: PluginRef
    location: str
    techniques: tuple[tuple[str, str], ...]
    module: types.ModuleType = field(compare=False, repr=False)


#: location → the plugin loaded from there, in this process
_LOADED: dict[str, Plugin] = {}


def load_plugins(entries: Iterable[str], folder: Path) -> list[Plugin]:
    """Load the plugins `entries` names (`.py` paths, relative to `folder` unless absolute, or
    importable module names), each once per process; a changed file is loaded anew."""
    return [load_plugin(entry, Path(folder)) for entry in entries]


def load_plugin(entry: str, folder: Path) -> Plugin:
    if not isinstance(entry, str) or not entry:
        raise ConfigError("plugins", entry, "a .py file or an importable module name")
    if entry.endswith(".py"):
        return _load_file(entry, folder)
    if _MODULE_NAME.fullmatch(entry):
        return _load_module(entry)
    raise PluginError(entry, "neither a .py file nor an importable module name (such as mypackage.tricks)")


def _load_file(entry: str, folder: Path) -> Plugin:
    name = posixpath.normpath(entry)
    path = (Path(entry) if Path(entry).is_absolute() else folder / entry).resolve()
    try:
        source = path.read_bytes()
    except FileNotFoundError:
        raise PluginError(name, f"no such file ({path})") from None
    except OSError as error:
        raise PluginError(name, f"cannot read it ({one_line(error)})") from None
    ref = PluginRef(name, hashlib.sha256(source).hexdigest())

    def execute() -> types.ModuleType:
        # The source that was hashed is the source that runs: no second read of the file.
        module_name = f"trickbench_plugin_{_NOT_A_NAME.sub('_', path.stem)}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
        module = types.ModuleType(module_name)
        module.__file__ = str(path)
        sys.modules[module_name] = module  # dataclasses and typing look their module up while it runs
        try:
            exec(compile(source, str(path), "exec"), module.__dict__)
        except BaseException:
            del sys.modules[module_name]
            raise
        return module

    return _register(ref, str(path), execute, lambda filename: filename == str(path))


def _load_module(name: str) -> Plugin:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as error:
        raise PluginError(name, f"cannot import it ({one_line(error)})") from None
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        raise PluginError(name, "no module of that name can be imported here (install it, or add its folder to PYTHONPATH)")
    ref = PluginRef(name, module_source_hash(spec))
    if name in sys.modules and name not in _LOADED:  # imported before, by other code: its registrations are known
        adopted = adopt(name, ref)
        if not adopted:
            raise PluginError(name, f"registers no technique; {REGISTER_HINT}")
        return _remember(Plugin(ref, name, tuple(adopted), sys.modules[name]))

    def execute() -> types.ModuleType:
        return importlib.import_module(name)  # an older version was unloaded, submodules included

    origin = Path(spec.origin)
    package = str(origin.parent) if spec.submodule_search_locations is not None else None
    return _register(ref, name, execute, lambda filename: filename == str(origin) or (
        package is not None and filename.startswith(package)))


def module_source_hash(spec: importlib.machinery.ModuleSpec) -> str:
    """SHA-256 of a module's source file, or of a package's .py files (with their relative paths)."""
    origin = Path(spec.origin)
    if spec.submodule_search_locations is None:
        return hashlib.sha256(origin.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    for path in sorted(origin.parent.rglob("*.py")):
        digest.update(path.relative_to(origin.parent).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _register(ref: PluginRef, location: str, execute: Callable[[], types.ModuleType],
              is_own_file: Callable[[str], bool]) -> Plugin:
    """Run a plugin's code with its registrations attributed to it; one line for any failure
    (naming the plugin's own line that raised, found by `is_own_file`)."""
    loaded = _LOADED.get(location)
    if loaded is not None and loaded.ref == ref:
        return loaded
    if loaded is not None:
        unload(loaded)
    with registering_for(ref) as registered:  # registrations are undone if anything below raises
        try:
            module = execute()
        except RegistrationError as error:
            raise PluginError(ref.file, str(error)) from None
        except Exception as error:
            raise PluginError(ref.file, f"fails at import{_where(error, is_own_file)}: {_describe(error)}") from None
        if not registered:
            sys.modules.pop(module.__name__, None)
            raise PluginError(ref.file, f"registers no technique; {REGISTER_HINT}")
    return _remember(Plugin(ref, location, tuple(registered), module))


def _remember(plugin: Plugin) -> Plugin:
    _LOADED[plugin.location] = plugin
    return plugin


def _where(error: Exception, is_own_file: Callable[[str], bool]) -> str:
    """' (line N)' of the plugin's own line that raised, if one did."""
    if isinstance(error, SyntaxError):
        return f" (line {error.lineno})" if error.lineno else ""
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__) if is_own_file(frame.filename)]
    return f" (line {lines[-1]})" if lines else ""


def _describe(error: Exception) -> str:
    return f"SyntaxError: {error.msg}" if isinstance(error, SyntaxError) else one_line(error)


def unload(plugin: Plugin) -> None:
    """Forget a plugin's techniques and its module with any submodules (a changed plugin is then
    imported afresh)."""
    forget(plugin.ref)
    name = plugin.module.__name__
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module]
    _LOADED.pop(plugin.location, None)


def unload_all() -> None:
    for plugin in list(_LOADED.values()):
        unload(plugin)


def loaded() -> list[Plugin]:
    """The plugins loaded in this process, in load order."""
    return list(_LOADED.values())


def plugins_folder(config_files: Sequence[Path], overrides: Mapping[str, Any]) -> Path:
    """The folder relative plugin paths start from: the command line's working directory when the
    command line set `plugins` (`--config`), else the folder of the last config file (in the order
    they apply) that sets it, else the working directory."""
    if "plugins" in overrides:
        return Path.cwd()
    for path in reversed(list(config_files)):
        with open(path) as handle:
            content = yaml.safe_load(handle)
        if isinstance(content, Mapping) and "plugins" in content:
            return Path(path).resolve().parent
    return Path.cwd()


def spec_plugins(raw: Any) -> list[str]:
    """The plugins (files or modules, as the spec names them) whose techniques a spec dict uses."""
    found: list[str] = []
    if isinstance(raw, Mapping):
        plugin = raw.get("plugin")
        if isinstance(plugin, Mapping) and isinstance(plugin.get("file"), str):
            found.append(plugin["file"])
        for key, value in raw.items():
            if key != "plugin":
                found += spec_plugins(value)
    elif isinstance(raw, list):
        for value in raw:
            found += spec_plugins(value)
    return list(dict.fromkeys(found))


def load_spec_plugins(raw: Any, folder: Path) -> list[Plugin]:
    """Load the plugins a spec dict names (relative to `folder`): what a training job does before
    it validates its spec, which then checks that each hash is the one loaded."""
    return load_plugins(spec_plugins(raw), folder)
