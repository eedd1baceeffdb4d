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


def accelerator() -> str:
    import jax

    return "no GPU" if jax.default_backend() == "cpu" else ", ".join(d.device_kind for d in jax.devices())


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
    t0 = time.perf_counter()
    proc = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stdout, end="")
        print(f"record: the command failed (exit {proc.returncode}); nothing written.", file=sys.stderr)
        return proc.returncode
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout
    record = {
        "command": shlex.join(command),
        "what": args.what,
        "seeds": summary.get("seeds"),
        "budget": args.budget,
        "wall_s_command": round(wall, 2),
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {accelerator()}",
        "jaxil_commit": commit + ("-dirty" if dirty else ""),
        "summary": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
