"""The catalogue's documentation and preset cannot drift from the registries: docs/catalogue.md's
tables are exactly what `trickbench techniques --markdown` generates, and the catalogue preset lists
every registered technique."""

from __future__ import annotations

import subprocess
import sys

import yaml

from conftest import REPO
from trickbench.techniques import FAMILIES
from trickbench.techniques.catalogue import BEGIN, END, interval, markdown, parameters_cell
from trickbench.techniques.optimizers import OPTIMIZERS

PRESET = REPO / "workflow" / "presets" / "catalogue.yaml"


def test_catalogue_page_tables_are_the_generated_ones():
    """To update: replace docs/catalogue.md's block between the two markers with the output of
    `trickbench techniques --markdown`."""
    page = (REPO / "docs" / "catalogue.md").read_text()
    assert BEGIN in page and END in page, "docs/catalogue.md lacks the generated techniques tables"
    block = page[page.index(BEGIN):page.index(END) + len(END)]
    assert block == markdown(), "docs/catalogue.md's techniques tables are out of date: paste `trickbench techniques --markdown`"


def test_tables_list_every_technique_with_its_reference():
    text = markdown()
    for family, registry in FAMILIES.items():
        assert f"## {family} (" in text
        for entry in registry:
            row = next(line for line in text.splitlines() if line.startswith(f"| `{entry.name}` |") and entry.summary.replace("|", "\\|") in line)
            assert entry.reference in row


def test_parameter_cells_show_defaults_and_what_is_allowed():
    assert interval(0.0, None) == "[0, ∞)" and interval(None, 1.0) == "(−∞, 1]"
    cell = parameters_cell(OPTIMIZERS.get("sam"))
    assert cell.startswith("`base`=momentum (adagrad or adam") and "`rho`=0.05 in [0, ∞)" in cell
    assert parameters_cell(OPTIMIZERS.get("sgd")) == "`lr`=0.05 in [0, ∞)"


def test_command_line_prints_the_tables(tmp_path):
    result = subprocess.run([sys.executable, "-m", "trickbench", "techniques", "--markdown"], capture_output=True,
                            text=True, cwd=tmp_path, check=True)
    assert result.stdout.strip() == markdown()
    bad = subprocess.run([sys.executable, "-m", "trickbench", "techniques", "--markdown", "model"], capture_output=True,
                         text=True, cwd=tmp_path)
    assert bad.returncode == 2 and "activation" in bad.stderr


def _names(level) -> list[str]:
    if isinstance(level, list):
        return [name for item in level for name in _names(item)]
    return [level if isinstance(level, str) else level["name"]]


def test_catalogue_preset_lists_every_registered_technique():
    preset = yaml.safe_load(PRESET.read_text())
    assert preset["studies"]["ensembles"]["enabled"] is False and preset["design"]["seeds"] == [0]
    for family, registry in FAMILIES.items():
        listed = {name for level in preset["design"]["factors"][family] for name in _names(level)}
        built_in = {entry.name for entry in registry if entry.plugin is None}  # not a plugin another test loaded
        assert listed == built_in, f"catalogue.yaml's {family} levels differ from the registry"
