"""The `trickbench` command line: the steps the workflow's rules call, and a user's everyday helpers.

Every subcommand turns bad input into one line on stderr (exit status 2), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable

import yaml

from trickbench.errors import ConfigError, DataError

log = logging.getLogger("trickbench.cli")

EPILOG = """examples:
  trickbench plan                                  runs the default config.yaml would make
  trickbench plan --configfile workflow/presets/smoke.yaml
  trickbench show 3f2a9c1b7d04                     one run's spec and status
  trickbench techniques optimizer                  every optimizer, its parameters and reference
  trickbench report                                re-render figures and report from results/tables
  snakemake --cores 2                              the whole workflow (see README.md)
"""


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--configfile", action="append", type=Path,
                        help="YAML config (repeatable, later ones win; default: config.yaml)")
    parser.add_argument("--config", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override top-level keys with YAML values, as snakemake --config does")


def config_from(args: argparse.Namespace) -> dict[str, Any]:
    from trickbench.config import load_config

    overrides = {}
    for item in args.config:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError("--config", item, "KEY=VALUE pairs")
        overrides[key] = yaml.safe_load(value)
    return load_config(*(args.configfile or [Path("config.yaml")]), overrides=overrides)


def cmd_train(args: argparse.Namespace) -> int:
    """Train one run from its spec into its folder (resuming from a checkpoint if there is one)."""
    from trickbench.run import Execution, train_run
    from trickbench.spec import RunSpec

    try:
        raw = json.loads(args.spec)
    except json.JSONDecodeError as error:
        raise ConfigError("--spec", args.spec[:80], f"a JSON run spec ({error.msg})") from None
    spec = RunSpec.from_dict(raw)
    if Path(args.run_dir).name != spec.run_id:
        raise ConfigError("--run-dir", str(args.run_dir), f"a folder named by the spec's id {spec.run_id}")
    execution = Execution(device=args.device, threads=args.threads, eval_batch_size=args.eval_batch_size,
                          checkpoint_every=args.checkpoint_every, deterministic=args.deterministic,
                          data_root=str(args.data_root), download=args.download, precision=args.precision,
                          compile=args.compile)
    summary = train_run(spec, args.run_dir, execution, progress=True)
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """List the runs a config makes, without running anything."""
    from trickbench.workflow import plan_from_config

    plan = plan_from_config(config_from(args))
    from trickbench.run import describe

    print(f"{len(plan.runs)} run(s): {len(plan.grid)} in the grid (design '{plan.config['design']['kind']}', "
          f"seeds {plan.config['design']['seeds']})" + "".join(
              f"; {len(ids)} for study {name}" for name, ids in plan.studies.items()) + " (shared runs count once)")
    for run_id, spec in list(plan.runs.items())[: args.limit]:
        print(f"  {run_id}  seed {spec.seed}  {describe(spec)}")
    if len(plan.runs) > args.limit:
        print(f"  … and {len(plan.runs) - args.limit} more (--limit N to see more)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Print one run's spec and status from its folder."""
    from trickbench.run import read_summary

    run_dir = Path(args.results) / "runs" / args.run_id
    if not (run_dir / "spec.json").is_file():
        raise ConfigError("run_id", args.run_id, f"a run folder under {Path(args.results) / 'runs'} (none has this id yet)")
    summary = read_summary(run_dir)
    spec = json.loads((run_dir / "spec.json").read_text())
    print(json.dumps(spec, indent=2, sort_keys=True))
    if summary is None:
        state = "checkpointed (resumable)" if (run_dir / "checkpoint.pt").exists() else "started, no checkpoint yet"
        print(f"status: unfinished — {state}")
    else:
        print(f"status: {summary['status']}; epochs {summary['epochs_completed']}; final test acc "
              f"{summary['final_test_acc']}; val-selected test acc {summary['best_test_acc']} "
              f"(epoch {summary['best_epoch']}); {summary['wall_seconds']:.1f} s on {summary['device_name']}")
    return 0


def cmd_techniques(args: argparse.Namespace) -> int:
    """List every registered technique: name, parameters with defaults, what it does, reference."""
    from trickbench.data.sources import SOURCES
    from trickbench.models import MODELS
    from trickbench.techniques import FAMILIES

    registries = {**FAMILIES, "model": MODELS, "data": SOURCES}
    chosen = [args.family] if args.family else list(registries)
    for family in chosen:
        if family not in registries:
            raise ConfigError("family", family, ", ".join(registries))
        print(f"{family}:")
        for entry in registries[family]:
            params = ", ".join(f"{k}={v}" for k, v in entry.defaults.items())
            print(f"  {entry.name:<24} {entry.summary}" + (f" [{params}]" if params else "")
                  + (f" — {entry.reference}" if entry.reference else ""))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Re-draw every figure and the HTML report from existing tables, without training."""
    from trickbench.report.figures import enabled_figures, render
    from trickbench.report.html import write_report

    config = config_from(args)
    for fig in enabled_figures(config):
        missing = [t for t in fig.tables if not (args.tables / f"{t}.csv").is_file()]
        if missing:
            raise DataError(f"table(s) {', '.join(missing)} missing under {args.tables}: run snakemake first")
        render(fig.name, args.tables, config, args.figures / f"{fig.name}.png", args.figures / f"{fig.name}.csv")
        log.info("drew %s", args.figures / f"{fig.name}.png")
    write_report(args.tables, args.figures, config, args.out)
    log.info("wrote %s", args.out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trickbench", description=__doc__.splitlines()[0], epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, fn: Callable[[argparse.Namespace], int], example: str) -> argparse.ArgumentParser:
        doc = fn.__doc__.strip()
        p = sub.add_parser(name, help=doc.splitlines()[0], description=doc, epilog=f"example:\n  {example}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(run=fn)
        return p

    train = command("train", cmd_train, "trickbench train --spec \"$(cat results/runs/<id>/spec.json)\" --run-dir results/runs/<id>")
    train.add_argument("--spec", required=True, help="the run spec as JSON (what spec.json holds)")
    train.add_argument("--run-dir", required=True, type=Path, help="results/runs/<run_id>")
    train.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    train.add_argument("--threads", type=int, default=1, help="torch threads")
    train.add_argument("--eval-batch-size", type=int, default=1024)
    train.add_argument("--checkpoint-every", type=int, default=1, help="epochs between checkpoints")
    train.add_argument("--data-root", type=Path, default=Path("data"), help="where the cifar10 source keeps its files")
    train.add_argument("--download", action="store_true", help="let the cifar10 source download (MD5-checked)")
    train.add_argument("--deterministic", action="store_true", help="torch.use_deterministic_algorithms(True)")
    train.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                       help="autocast precision (auto: bf16 on CUDA, fp32 on CPU)")
    train.add_argument("--compile", action="store_true", help="torch.compile the model")

    plan = command("plan", cmd_plan, "trickbench plan --config design='{kind: full, seeds: [0]}'")
    add_config_options(plan)
    plan.add_argument("--limit", type=int, default=10, help="how many runs to list (default 10)")

    show = command("show", cmd_show, "trickbench show 3f2a9c1b7d04")
    show.add_argument("run_id")
    show.add_argument("--results", type=Path, default=Path("results"))

    techniques = command("techniques", cmd_techniques, "trickbench techniques init")
    techniques.add_argument("family", nargs="?", help="one family (activation, init, norm, regularizer, ...)")

    report = command("report", cmd_report, "trickbench report --out /tmp/report.html")
    add_config_options(report)
    report.add_argument("--tables", type=Path, default=Path("results/tables"))
    report.add_argument("--figures", type=Path, default=Path("reports/figures"))
    report.add_argument("--out", type=Path, default=Path("reports/report.html"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from trickbench.logs import configure

    configure(args.verbose)
    try:
        return args.run(args)
    except (ConfigError, DataError) as error:
        print(f"trickbench: error: {error}", file=sys.stderr)
        return 2
