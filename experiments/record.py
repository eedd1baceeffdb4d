"""Run one jaxil command and record its result with everything needed to reproduce it.

    python experiments/record.py experiments/results/bc-hopper.json \
        --what "BC, 20 expert trajectories" --budget "20,000 updates (default)" \
        -- jaxil train bc --env hopper --num-expert-trajs 20 --seeds 5

Writes the command, seeds, budget, wall time, date, machine and commit next to the
command's own summary (its last stdout line). Nothing is edited by hand.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

from jaxil.provenance import source_commit


def accelerator() -> str:
    import jax

    return "no GPU" if jax.default_backend() == "cpu" else ", ".join(d.device_kind for d in jax.devices())


def learning_curve(run_dir: Path) -> dict | None:
    """Per-seed evaluation curves from the run's metrics.csv (x: env steps for online
    algorithms, updates for offline ones), with mean evaluation episode lengths."""
    from jaxil.driver import read_metrics

    if not (run_dir / "metrics.csv").is_file():
        return None
    rows = read_metrics(run_dir)
    metric = next((m for m in ("normalized_score", "eval_return") if m in rows[0]), None)
    if metric is None:  # no policy to evaluate (a dynamics model: its hold-out error is in the summary)
        return None
    x_key = "env_steps" if "env_steps" in rows[0] else "step"
    seeds = sorted({int(r["seed"]) for r in rows})
    per_seed = {s: sorted((r for r in rows if int(r["seed"]) == s), key=lambda r: r["chunk"]) for s in seeds}
    curve = {
        "x": x_key,
        "metric": metric,
        "points": [int(r[x_key]) for r in per_seed[seeds[0]]],
        "per_seed": {str(s): [round(float(r[metric]), 2) for r in per_seed[s]] for s in seeds},
    }
    if "eval_length" in rows[0]:  # where episodes can end early, how long the policy lasts
        curve["eval_length_per_seed"] = {str(s): [round(float(r["eval_length"]), 1) for r in per_seed[s]] for s in seeds}
    return curve


def protocol_parser(doc: str, algos: str, envs: str, unit: str, runs_dir: str) -> argparse.ArgumentParser:
    """The flags every protocol script (offline_table, online_table) takes."""
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("--algos", default=algos, help="comma-separated algorithms")
    p.add_argument("--envs", default=envs, help="comma-separated envs")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1")
    p.add_argument("--steps", type=int, default=None, help=f"{unit} per seed (default: the protocol's; less is labelled reduced)")
    p.add_argument("--runs-dir", type=Path, default=Path(runs_dir), help="where run directories go")
    p.add_argument("--dry-run", action="store_true", help="print the commands only")
    return p


def check_steps(parser: argparse.ArgumentParser, steps: int) -> int:
    """``steps``, if it is a whole number of the protocols' 10,000-step evaluation intervals."""
    if steps % min(10_000, steps):
        parser.error(f"--steps must be a multiple of 10,000 (the evaluation interval), got {steps}")
    return steps


def budget_label(steps: int, full: int, unit: str) -> str:
    """"N unit per seed", saying whether that is the protocol's budget or a reduced one."""
    which = f" (reduced: the protocol's is {full:,})" if steps < full else " (the protocol's full budget)"
    return f"{steps:,} {unit} per seed{which}"


def run_recorded(out: Path, what: str, budget: str, command: list[str], dry_run: bool = False) -> bool:
    """Run ``command`` through this script (a fresh process), recording into ``out``;
    with ``dry_run`` only print it. True on success."""
    run = [sys.executable, str(Path(__file__).resolve()), str(out), "--what", what, "--budget", budget, "--", *command]
    print("+", shlex.join(run), flush=True)
    return dry_run or subprocess.run(run).returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="results JSON to write")
    parser.add_argument("--what", required=True, help="what the run measures")
    parser.add_argument("--budget", required=True, help="the budget, and whether it is reduced")
    argv = sys.argv[1:]
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        parser.error("give the command after --")
    split = argv.index("--")
    args, command = parser.parse_args(argv[:split]), argv[split + 1 :]
    run_dir = Path(command[command.index("--out") + 1]) if "--out" in command[:-1] else None
    if run_dir is not None and run_dir.exists() and any(run_dir.iterdir()):
        # jaxil would resume (or just re-evaluate) that run: its wall time would not be the run's
        parser.error(f"{run_dir} already holds a run; remove it (or pick another --runs-dir) to record a fresh one")
    commit = source_commit()  # the code that runs: taken before the tree can change under it
    t0 = time.perf_counter()
    proc = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stdout, end="")
        print(f"record: the command failed (exit {proc.returncode}); nothing written.", file=sys.stderr)
        return proc.returncode
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    record = {
        "command": shlex.join(command),
        "what": args.what,
        "seeds": summary.get("seeds"),
        "budget": args.budget,
        "wall_s_command": round(wall, 2),
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {accelerator()}",
        "jaxil_commit": commit,
        "summary": summary,
    }
    if (after := source_commit()) != commit:
        record["jaxil_commit_at_end"] = after
        print(f"record: the checkout changed during the run ({commit} -> {after}); both are recorded.", file=sys.stderr)
    if "out" in summary:
        record["learning_curve"] = learning_curve(Path(summary["out"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
