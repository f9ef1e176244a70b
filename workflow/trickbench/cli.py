"""The `trickbench` command line: the steps the workflow's rules call, and a user's everyday helpers.

Every subcommand turns bad input into one line on stderr (exit status 2), never a traceback.
Each subcommand is one `cmd_*` function whose docstring is its help, plus its examples.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from trickbench import numerics
from trickbench.errors import ConfigError, DataError, one_line

# Each subcommand imports what it needs inside its own function, for start-up speed only: `trickbench
# --help` or a mistyped option answers in a fraction of a second instead of after importing torch,
# pandas and matplotlib (seconds). These are the package's only function-local imports of its own
# modules; none dodges a cycle (the layers contract in pyproject.toml counts them as imports too).

log = logging.getLogger("trickbench.cli")

DESCRIPTION = """\
trickbench: see what each training trick of deep learning does, on real CIFAR-10 images.

The workflow (`snakemake --cores N`, see README.md) trains the grid that config.yaml describes,
collects every run into results/tables/ and writes the self-contained reports/report.html.
These commands are the steps its rules call, and helpers around it: list the runs a config
makes, look at one run, train one run by hand, re-draw the report without training."""

EPILOG = """examples:
  trickbench plan                                  the runs config.yaml makes, and which are done
  trickbench plan --configfile workflow/presets/smoke.yaml
  trickbench show 3f2a9c                           one run's spec, status and metrics (an id prefix will do)
  trickbench train --run-id 3f2a9c                 train one run of the config by hand, with progress
  trickbench prepare-data --source cifar10 --download   fetch, verify and cache the full CIFAR-10
  trickbench techniques optimizer                  every optimizer, its parameters and reference
  trickbench report                                re-draw figures and report from results/tables
  trickbench claims                                the lecture's claims: reproduced, not reproduced, ...
  trickbench resume --cores 2                      after a kill or Ctrl-C: train what is missing, then the report
  snakemake --cores 2                              the whole workflow (see README.md)

`trickbench COMMAND --help` says more about each command."""


# -- shared options ------------------------------------------------------------------------------

def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--configfile", action="append", type=Path,
                        help="YAML config (repeatable, later ones win; default: config.yaml)")
    parser.add_argument("--config", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override top-level keys with YAML values, as snakemake --config does")


def add_plugin_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plugin-dir", type=Path, default=Path("."),
                        help="the folder the spec's plugin files are relative to: the folder of the config "
                             "that names them (default: the working directory; the workflow passes it)")


def config_from(args: argparse.Namespace) -> dict[str, Any]:
    from trickbench.config import load_config

    overrides = {}
    for item in args.config:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError("--config", item, "KEY=VALUE pairs")
        try:
            overrides[key] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise ConfigError("--config", item, f"KEY=VALUE with a YAML value ({problem})") from None
    paths = args.configfile or [Path("config.yaml")]
    for path in paths:
        if not path.is_file():
            raise ConfigError("--configfile", str(path), "an existing YAML file (run from the repository's top folder, "
                                                         "or name one with --configfile)")
    return load_config(*paths, overrides=overrides)


def parsed_json(text: str, key: str, what: str) -> Any:
    """Standard JSON only: NaN and Infinity, which Python's json reads by default, are refused."""
    def non_standard(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    try:
        return json.loads(text, parse_constant=non_standard)
    except json.JSONDecodeError as error:
        raise ConfigError(key, text[:80], f"{what} ({error.msg})") from None
    except ValueError as error:
        raise ConfigError(key, text[:80], f"{what} ({error})") from None


def spec_mapping(text: str, key: str = "--spec") -> dict[str, Any]:
    """A run spec given as JSON on the command line: a JSON object, or one line saying what it is."""
    raw = parsed_json(text, key, "a JSON run spec")
    if not isinstance(raw, dict):
        raise ConfigError(key, text[:80], f"a JSON run spec (an object {{...}}, not a {type(raw).__name__})")
    return raw


def json_or_name(text: str, key: str) -> Any:
    """A registry level given on the command line: a name, or a JSON mapping with its parameters."""
    return parsed_json(text, key, "a name or a JSON mapping") if text.lstrip().startswith("{") else text


def add_execution_options(parser: argparse.ArgumentParser) -> None:
    """How a training process runs (none of it is part of a run's id)."""
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="default: auto (CUDA when present)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--eval-batch-size", type=int, default=1024, help="images per evaluation batch (default 1024)")
    parser.add_argument("--checkpoint-every", type=int, default=1, help="epochs between checkpoints (default 1)")
    parser.add_argument("--data-root", type=Path, default=Path("data"), help="where data sets live (default: data)")
    parser.add_argument("--deterministic", action="store_true", help="torch.use_deterministic_algorithms(True)")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                        help="autocast precision (auto: bf16 on CUDA, fp32 on CPU)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")


def unique_match(prefix: str, run_ids: Iterable[str], where: str) -> str | None:
    """The one id starting with `prefix` (as git does with commits); None when none does."""
    matches = sorted({run_id for run_id in run_ids if run_id.startswith(prefix)})
    if len(matches) > 1:
        raise ConfigError("run_id", prefix, f"a prefix of one run {where}; it matches {', '.join(matches[:5])}"
                          + (" …" if len(matches) > 5 else ""))
    return matches[0] if matches else None


#: what `run_state` says of a run without a summary
UNFINISHED = ("not started", "started", "checkpointed (resumable)")


def run_state(run_dir: Path) -> str:
    """'ok', 'diverged', … from a finished run's summary; else how far it got."""
    from trickbench.run import read_summary

    summary = read_summary(run_dir)
    if summary is not None:
        return str(summary["status"])
    if (run_dir / "checkpoint.pt").exists():
        return "checkpointed (resumable)"
    return "started" if (run_dir / "spec.json").exists() else "not started"


def check_tables(tables: Path) -> None:
    """Stop in one line unless `tables` holds the runs and epochs tables with every column the
    collect step writes: report and claims read them by column name."""
    from trickbench.data_dictionary import missing_columns

    for table in ("runs", "epochs"):
        path = tables / f"{table}.csv"
        if not path.is_file():
            raise DataError(f"no {table} table under {tables}: run the workflow first (snakemake --cores 2)")
        try:
            missing = missing_columns(path, table)
        except (ValueError, UnicodeDecodeError) as error:  # pandas' EmptyDataError and ParserError are ValueErrors
            raise DataError(f"{table} table {path} is not a readable CSV ({one_line(error)}); "
                            "collect it again: snakemake --cores 2 results/tables/runs.csv") from None
        if missing:
            raise DataError(f"{table} table {path} lacks column(s) {', '.join(missing[:5])}"
                            + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                            + ": it was not written by this trickbench's collect step; collect it again: "
                              "snakemake --cores 2 results/tables/runs.csv")


# -- commands ------------------------------------------------------------------------------------

def cmd_train(args: argparse.Namespace) -> int:
    """Train one run into its folder, resuming from its checkpoint if it has one.

    The run is given either as its spec (JSON, as the workflow's rule passes it) or by its id in
    the plan of a config. Progress goes to stderr: a bar per epoch in a terminal, a plain line
    every 30 s in a log, and one line per epoch with losses, accuracies and speed."""
    if args.spec is not None:
        enter_numerics([args.spec], args.restart)
        from trickbench.plugins import load_spec_plugins
        from trickbench.spec import RunSpec

        raw = spec_mapping(args.spec)
        load_spec_plugins(raw, args.plugin_dir)
        spec = RunSpec.from_dict(raw)
    else:
        from trickbench.workflow import plan_from_config

        plan = plan_from_config(config_from(args))
        run_id = unique_match(args.run_id, plan.runs, "of this config (see `trickbench plan`)")
        if run_id is None:
            raise ConfigError("--run-id", args.run_id, "the id (or a prefix) of a run of this config; `trickbench plan` lists them")
        spec = plan.runs[run_id]
        numerics.enter(spec.numerics, args.restart)  # the config is read: torch is loaded, so this restarts
    from trickbench.run import train_run

    run_dir = args.run_dir or Path("results/runs") / spec.run_id
    if run_dir.name != spec.run_id:
        raise ConfigError("--run-dir", str(run_dir), f"a folder named by the spec's id {spec.run_id}")
    from trickbench.data.cache import read_images

    read_images(spec.data.source, args.data_root, args.download)  # by hand there is no prepare_data rule
    train_run(spec, run_dir, execution_from(args), progress=True)
    return 0


def enter_numerics(spec_texts: list[str], restart: Callable[[dict[str, str]], None] | None) -> None:
    """Put this process into the numerics mode of the specs it trains, before anything imports
    torch (the mode's variables are read when torch loads; see trickbench.numerics). One process
    trains runs of one mode; a spec without `numerics` is native."""
    modes = {numerics.check_mode(raw.get("numerics", numerics.UNNAMED_MODE), "--spec numerics")
             for raw in (spec_mapping(text) for text in spec_texts)}
    if len(modes) > 1:
        raise ConfigError("--spec numerics", ", ".join(sorted(modes)), "one mode for all runs of one process")
    numerics.enter(modes.pop(), restart)


def restart_command(environment: dict[str, str]) -> None:
    """Run this command again in a fresh interpreter with `environment`: how a command enters a
    numerics mode once torch is loaded (`numerics.enter`)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "trickbench", *sys.argv[1:]], environment)


def execution_from(args: argparse.Namespace):
    from trickbench.run import Execution

    return Execution(device=args.device, threads=args.threads, eval_batch_size=args.eval_batch_size,
                     checkpoint_every=args.checkpoint_every, deterministic=args.deterministic,
                     data_root=str(args.data_root), precision=args.precision, compile=args.compile)


def cmd_train_many(args: argparse.Namespace) -> int:
    """Train several runs in one process: what a workflow job does with execution.runs_per_job.

    Imports, the device's start-up and the data are paid once; each run is trained as
    `trickbench train` would (same folder, files and checkpoints), one after another, or as one
    seed group where runs differ only in their seed and --seed-groups allows it. Finished runs
    are skipped, checkpointed ones resume; a failing run does not stop the others (exit status 1
    when any failed). Each run logs to LOGS_DIR/<run_id>.log, the job to stderr. Data sets that
    need preparing (cifar10) are read from their cache only: run `trickbench prepare-data` first."""
    from trickbench.run_files import all_finished, id_of_canonical

    keeps = lambda run_id: "all" in args.keep_weights or run_id in args.keep_weights
    if all_finished([(text, keeps(id_of_canonical(text))) for text in args.spec], args.runs_dir):
        log.info("job: all %d run(s) already finished; nothing to do", len(args.spec))  # and torch never imported
        return 0
    enter_numerics(args.spec, args.restart)
    from trickbench.multirun import JobRun, train_runs
    from trickbench.spec import RunSpec

    from trickbench.plugins import load_spec_plugins

    runs = []
    for text in args.spec:
        raw = spec_mapping(text)
        load_spec_plugins(raw, args.plugin_dir)
        spec = RunSpec.from_dict(raw)
        runs.append(JobRun(spec, keep_weights=keeps(spec.run_id)))
    failed = train_runs(runs, args.runs_dir, args.logs_dir, execution_from(args), args.seed_groups)
    return 1 if failed else 0


def cmd_prepare_data(args: argparse.Namespace) -> int:
    """Fetch (with --download), verify and cache a data set for the training jobs.

    The workflow's prepare_data rule runs this once per data set before any training job (on a
    cluster: on the login node, which can reach the internet). cifar10: torchvision downloads the
    official archive (MD5-checked) or finds it already under --data-root, every file's MD5 is
    checked, and the images are written as uint8 arrays under DATA_ROOT/cache/ that every
    training process memory-maps. Without --source: every prepared data set the config uses."""
    from trickbench.data.cache import is_prepared, prepare_cache, verify_cache
    from trickbench.data.sources import SOURCES

    if args.source is not None:
        sources = [SOURCES.resolve(json_or_name(args.source, "--source"), "--source")]
    else:
        from trickbench.workflow import plan_from_config

        plan = plan_from_config(config_from(args))
        sources = list(dict.fromkeys(spec.data.source for spec in plan.runs.values()))
    for source in sources:
        if not is_prepared(source):
            log.info("data source %s needs no preparing (read in each training process)", source.name)
            continue
        folder = prepare_cache(source, args.data_root, args.download)
        if args.verify:
            verify_cache(source, args.data_root)
        log.info("data source %s ready in %s%s", source.name, folder, " (verified)" if args.verify else "")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """List the runs a config makes, without running anything.

    Says how many runs the grid and each study make, how many are already done under the
    results folder, and lists the first few with their status and what they change."""
    from trickbench.run import describe
    from trickbench.tuning import tuning_seeds
    from trickbench.workflow import plan_from_config

    plan = plan_from_config(config_from(args), tables=args.results / "tables")  # tables: runs chosen by a checkpoint
    if args.ids:
        print("\n".join(plan.runs))
        return 0
    design = plan.config["design"]
    shared = sum(map(len, [*plan.studies.values(), plan.grid, plan.tuning, plan.tuned])) - len(plan.runs)
    tuning = (f"; {len(plan.tuning)} tuning trial runs (each trial on {len(tuning_seeds(plan.config))} tuning seeds), "
              + (f"{len(plan.tuned)} at the tuned values" if plan.tuned else "the tuned runs once the trials are chosen")
              if plan.tuning else "")
    print(f"{len(plan.runs)} run(s): {len(plan.grid)} in the grid (design '{design['kind']}', seeds {design['seeds']})"
          + tuning + "".join(f"; {len(ids)} for study {name}" for name, ids in plan.studies.items())
          + (f" ({shared} shared, trained once)" if shared else ""))
    states = {run_id: run_state(args.results / "runs" / run_id) for run_id in plan.runs}
    done = sum(state not in UNFINISHED for state in states.values())
    per_job = plan.config["execution"]["runs_per_job"]
    print(f"{done} done, {len(plan.runs) - done} to train (under {args.results / 'runs'})"
          + (f"; {len(plan.jobs)} training jobs of up to {per_job} runs each" if plan.jobs else ""))
    for run_id, spec in list(plan.runs.items())[: args.limit]:
        print(f"  {run_id}  seed {spec.seed}  {states[run_id]:<12} {describe(spec)}")
    if len(plan.runs) > args.limit:
        print(f"  … and {len(plan.runs) - args.limit} more (--limit N lists more, --ids lists every id)")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    """Go on after any interruption: the one command after a kill, Ctrl-C or a lost session.

    Runs `snakemake` in this folder with the given options (default: --cores all), first removing
    the lock a killed snakemake left, once no snakemake runs here. It trains exactly the runs that
    `trickbench plan` counts as "to train" — finished runs are never trained again or lost — then
    collects, draws and writes the report. Options after `resume` go to snakemake unchanged."""
    from trickbench.resume import resume

    return resume(Path.cwd(), args.snakemake_args)


def cmd_show(args: argparse.Namespace) -> int:
    """Show one run: its spec, its status, and its metrics once finished.

    The id may be shortened to any unique prefix. A run of the config that has not started yet is
    shown from the config's plan."""
    from trickbench.run import read_summary
    from trickbench.spec import RunSpec

    runs_folder = args.results / "runs"
    run_id = unique_match(args.run_id, (p.name for p in runs_folder.glob("*") if (p / "spec.json").is_file()),
                          f"under {runs_folder}")
    if run_id is not None:
        from trickbench.plugins import load_spec_plugins

        raw = json.loads((runs_folder / run_id / "spec.json").read_text())
        load_spec_plugins(raw, args.plugin_dir)
        spec = RunSpec.from_dict(raw)
    else:
        spec = planned_spec(args)
    if args.json:
        print(json.dumps(spec.to_dict(), indent=2, sort_keys=True))
        return 0
    run_dir = runs_folder / spec.run_id
    print(f"run {spec.run_id}   {run_dir}")
    print(f"  {'status':<14} {run_state(run_dir)}")
    for key, value in spec_lines(spec):
        print(f"  {key:<14} {value}")
    summary = read_summary(run_dir)
    if summary is not None:
        for key, value in summary_lines(summary):
            print(f"  {key:<14} {value}")
    log_file = args.results / "logs" / "train" / f"{spec.run_id}.log"
    if log_file.is_file():
        print(f"  {'log':<14} {log_file}")
    return 0


def planned_spec(args: argparse.Namespace):
    from trickbench.workflow import plan_from_config

    try:
        plan = plan_from_config(config_from(args))
    except ConfigError:
        plan = None
    run_id = unique_match(args.run_id, plan.runs, "of the config") if plan else None
    if run_id is None:
        raise ConfigError("run_id", args.run_id, f"the id (or a prefix) of a run under {args.results / 'runs'} "
                                                 f"or of the config (`trickbench plan` lists them)")
    return plan.runs[run_id]


def spec_lines(spec) -> list[tuple[str, str]]:
    from trickbench.techniques import FAMILIES

    from trickbench.models import MODELS

    model = MODELS.label(spec.model) if spec.model.params else spec.model.name
    return [("data", spec.data.source.name), ("model", model),
            ("training", f"{spec.train.epochs} epochs, batch {spec.train.batch_size}"), ("seed", str(spec.seed)),
            ("numerics", spec.numerics)] + [
        (family, spec.label(family)) for family in FAMILIES]


def summary_lines(summary: dict[str, Any]) -> list[tuple[str, str]]:
    percent = lambda key: "–" if summary.get(key) is None else f"{100 * summary[key]:.1f} %"
    return [
        ("epochs", f"{summary['epochs_completed']} trained" + (" (stopped early)" if summary.get("stopped_early") else "")),
        ("final", f"train {percent('final_train_eval_acc')} (eval mode), validation {percent('final_val_acc')}, "
                  f"test {percent('final_test_acc')}: the weights of epoch {summary.get('returned_epoch')}, returned"),
        ("best epoch", f"{summary.get('best_val_acc_epoch')} (highest validation accuracy): test {percent('best_test_acc')}"),
        ("time", f"{summary['wall_seconds']:.1f} s wall, {summary['train_seconds']:.1f} s training, "
                 f"{summary['images_per_s']:,.0f} images/s on {summary.get('device_name', '?')}"),
    ]


def cmd_techniques(args: argparse.Namespace) -> int:
    """List every registered technique, with its parameters and reference.

    Per family (and for models and data sources): each entry's name, its parameters with their
    defaults, what it does and the paper or reference it follows. With --plugin or --configfile,
    the plugins' techniques too, each marked with its plugin file (a quick check of a plugin)."""
    from trickbench.data.sources import SOURCES
    from trickbench.models import MODELS
    from trickbench.plugins import load_plugins
    from trickbench.techniques import FAMILIES

    from trickbench.techniques.catalogue import markdown, summary_cell

    if args.configfile or args.config:
        config_from(args)  # loads the config's plugins
    load_plugins(args.plugin, Path.cwd())
    registries = {**FAMILIES, "model": MODELS, "data": SOURCES}
    if args.markdown:
        if args.family and args.family not in FAMILIES:
            raise ConfigError("family", args.family, ", ".join(FAMILIES))
        print(markdown({args.family: FAMILIES[args.family]} if args.family else FAMILIES))
        return 0
    chosen = [args.family] if args.family else list(registries)
    for family in chosen:
        if family not in registries:
            raise ConfigError("family", family, ", ".join(registries))
        print(f"{family}:")
        for entry in registries[family]:
            params = ", ".join(f"{k}={v}" for k, v in entry.defaults.items())
            print(f"  {entry.name:<24} {summary_cell(family, entry)}" + (f" [{params}]" if params else "")
                  + (f" — {entry.reference}" if entry.reference else "")
                  + (f" (plugin {entry.plugin.file})" if entry.plugin else ""))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Re-draw every figure and the HTML report from existing tables, without training.

    Reads results/tables/ (what the workflow's collect step wrote); useful after changing a
    figure, a caption or report settings such as the title."""
    from trickbench.report.render import render_all
    from trickbench.report.html import write_report

    config = config_from(args)
    check_tables(args.tables)
    for fig in render_all(args.tables, config, args.figures):
        log.info("drew %s", args.figures / f"{fig.name}.png")
    write_report(args.tables, args.figures, config, args.out)
    log.info("wrote %s (%.1f MB)", args.out, args.out.stat().st_size / 1e6)
    return 0


def cmd_claims(args: argparse.Namespace) -> int:
    """Print the scorecard of the lecture's and the papers' claims, judged from the result tables.

    The setup that ran them (model, data and its size, epochs, seeds, tuned or not), then each claim
    that ran — as its source states it, the lecture's line or the paper it comes from, the
    conditions its source states — with its verdict (reproduced, not reproduced, inconclusive,
    outside this setup), its effect with the corrected interval and n, and what it rests on; one
    line names the claims that did not run and the preset that runs them.
    Judged afresh from the tables under --tables (runs.csv, epochs.csv, the studies' tables), as
    the workflow's `claims` rule does; a claim whose runs are absent says which setting runs them
    (workflow/presets/claims.yaml runs them all). The config (--configfile, as the workflow was
    given it) says which runs failed to train: the data's chance level on validation."""
    from trickbench.claims import Results
    from trickbench.claims.conditions import setup_line
    from trickbench.claims.scorecard import markdown, terminal, use_colour
    from trickbench.claims.verdicts import judge
    from trickbench.report.grid import chance_test

    if not (args.tables / "runs.csv").is_file():
        raise DataError(f"no runs table under {args.tables}: run the workflow first, e.g. "
                        "snakemake --cores 2 --configfile workflow/presets/claims.yaml")
    check_tables(args.tables)
    config = config_from(args)
    setup = setup_line(config)
    scorecard, _ = judge(Results(args.tables, chance_test(config), config))
    print(markdown(scorecard, setup) if args.markdown
          else terminal(scorecard, str(args.tables), colour=use_colour(), setup=setup), end="")
    return 0


# -- the parser ----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trickbench", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, fn: Callable[[argparse.Namespace], int], *examples: str) -> argparse.ArgumentParser:
        doc = inspect.cleandoc(fn.__doc__)
        p = sub.add_parser(name, help=doc.splitlines()[0], description=doc,
                           epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(run=fn)
        return p

    train = command("train", cmd_train,
                    "trickbench train --run-id 3f2a9c                        a run of config.yaml, by id prefix",
                    "trickbench train --run-id 3f2a9c --configfile workflow/presets/smoke.yaml",
                    "trickbench train --spec \"$(cat results/runs/<id>/spec.json)\"   what the workflow's rule runs")
    which = train.add_mutually_exclusive_group(required=True)
    which.add_argument("--spec", help="the run spec as JSON (what a run's spec.json holds)")
    which.add_argument("--run-id", help="the id of a run of the config (a unique prefix will do)")
    add_config_options(train)
    train.add_argument("--run-dir", type=Path, help="the run's folder (default: results/runs/<run_id>)")
    add_execution_options(train)
    train.add_argument("--download", action="store_true",
                       help="let a data set that is not there yet be fetched (cifar10, MD5-checked) and cached")
    add_plugin_dir_option(train)

    many = command("train-many", cmd_train_many,
                   "trickbench train-many --spec \"$(cat a/spec.json)\" --spec \"$(cat b/spec.json)\"   two runs, one process",
                   "trickbench train-many --spec ... --seed-groups always --device cuda   seeds as one batched pass")
    many.add_argument("--spec", action="append", required=True, help="a run spec as JSON (repeat: one per run, in order)")
    many.add_argument("--keep-weights", action="append", default=[], metavar="RUN_ID",
                      help="write model.pt for this run (repeatable; 'all' for every run)")
    many.add_argument("--runs-dir", type=Path, default=Path("results/runs"), help="where run folders go (default: results/runs)")
    many.add_argument("--logs-dir", type=Path, default=Path("results/logs/train"),
                      help="where each run's log goes (default: results/logs/train)")
    many.add_argument("--seed-groups", choices=["auto", "always", "never"], default="auto",
                      help="train runs that differ only in their seed as one batched seed group (auto: on a GPU)")
    add_execution_options(many)
    add_plugin_dir_option(many)

    prepare = command("prepare-data", cmd_prepare_data,
                      "trickbench prepare-data --source cifar10 --download     fetch, verify, cache",
                      "trickbench prepare-data --configfile my-grid.yaml         every data set a config uses",
                      "trickbench prepare-data --source cifar10 --verify        re-hash an existing cache")
    prepare.add_argument("--source", help="a data source name or JSON level (default: those of the config)")
    add_config_options(prepare)
    prepare.add_argument("--data-root", type=Path, default=Path("data"), help="where data sets live (default: data)")
    prepare.add_argument("--download", action="store_true", help="fetch what is not there yet (checksummed)")
    prepare.add_argument("--verify", action="store_true", help="re-hash the cached arrays against their manifest")

    resume = command("resume", cmd_resume,
                     "trickbench resume                                     snakemake --cores all, unlocked if need be",
                     "trickbench resume --cores 2 --configfile workflow/presets/smoke.yaml",
                     "trickbench resume --profile profiles/slurm           on a cluster's login node")
    resume.add_argument("snakemake_args", nargs="*", metavar="SNAKEMAKE_OPTION",
                        help="options for snakemake, as you would give them to it (every word after `resume`)")

    plan = command("plan", cmd_plan,
                   "trickbench plan                                       the default config.yaml",
                   "trickbench plan --configfile workflow/presets/smoke.yaml --limit 50",
                   "trickbench plan --config design='{kind: full, seeds: [0]}'",
                   "trickbench plan --ids | head -3                      ids only, one a line (for scripts)")
    add_config_options(plan)
    plan.add_argument("--limit", type=int, default=10, help="how many runs to list (default 10)")
    plan.add_argument("--ids", action="store_true", help="print every run id, one a line, and nothing else")
    plan.add_argument("--results", type=Path, default=Path("results"), help="where finished runs are (default: results)")

    show = command("show", cmd_show,
                   "trickbench show 3f2a9c1b7d04",
                   "trickbench show 3f2a                                  a unique prefix is enough",
                   "trickbench show 3f2a --json > spec.json               the spec alone, as JSON")
    show.add_argument("run_id", help="a run id, or a unique prefix of one")
    show.add_argument("--results", type=Path, default=Path("results"), help="where run folders are (default: results)")
    show.add_argument("--json", action="store_true", help="print the run's spec as JSON and nothing else")
    add_config_options(show)
    add_plugin_dir_option(show)

    techniques = command("techniques", cmd_techniques,
                         "trickbench techniques                                every family",
                         "trickbench techniques init                           one family",
                         "trickbench techniques optimizer --plugin tricks/lion.py  with a plugin's techniques, marked")
    techniques.add_argument("family", nargs="?", help="one family (activation, init, norm, regularizer, ...)")
    techniques.add_argument("--markdown", action="store_true",
                            help="print the catalogue's tables (docs/catalogue.md: name, what it does, parameters, reference)")
    techniques.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                            help="load a plugin first (a .py file or a module name; repeatable)")
    add_config_options(techniques)

    report = command("report", cmd_report,
                     "trickbench report",
                     "trickbench report --out reports/my-grid.html --config report='{title: My grid}'",
                     "trickbench report --configfile workflow/presets/smoke.yaml")
    add_config_options(report)
    claims = command("claims", cmd_claims,
                     "trickbench claims                                    the scorecard of results/tables",
                     "trickbench claims --markdown                         as a Markdown table (docs/claims.md)",
                     "trickbench claims --tables other/results/tables",
                     "trickbench claims --configfile config.yaml --configfile workflow/presets/claims.yaml")
    add_config_options(claims)
    claims.add_argument("--tables", type=Path, default=Path("results/tables"), help="default: results/tables")
    claims.add_argument("--markdown", action="store_true", help="print a Markdown table (the scorecard of docs/claims.md)")
    report.add_argument("--tables", type=Path, default=Path("results/tables"), help="default: results/tables")
    report.add_argument("--figures", type=Path, default=Path("reports/figures"), help="default: reports/figures")
    report.add_argument("--out", type=Path, default=Path("reports/report.html"), help="default: reports/report.html")
    return parser


def main(argv: list[str] | None = None) -> int:
    whole_command = argv is None  # only a whole command may re-execute itself
    argv = sys.argv[1:] if argv is None else list(argv)
    # `trickbench resume` passes every word after it to snakemake unparsed (argparse would take
    # snakemake's --cores for an option of its own)
    cut = argv.index("resume") + 1 if "resume" in argv[:2] and not {"-h", "--help"} & set(argv) else len(argv)
    args = build_parser().parse_args(argv[:cut])
    args.restart = restart_command if whole_command else None
    if args.command == "resume":
        args.snakemake_args = argv[cut:]
    from trickbench.logs import configure

    configure(args.verbose)
    try:
        return args.run(args)
    except (ConfigError, DataError) as error:
        print(f"trickbench: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader stopped reading (`trickbench plan | head -1`): not an error of ours. Point
        # stdout at /dev/null so that Python's flush at exit does not fail a second time.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
