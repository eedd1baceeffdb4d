"""Accelerator check: one command that measures jaxil on whatever device JAX sees and
writes ``device-<device>-<date>.json``.

- updates/s of BC, SAC and IQ-Learn at CleanIL's hopper sizes (obs 11, act 3, 3×256 SiLU,
  batch 256), for 1, 16, 64 and 256 vmapped seeds: one ``lax.scan`` of updates per timed
  call, as in training;
- env steps/s of off-policy GAIL with the env in the loop (Brax hopper on the data's MJX
  backend; one discriminator and one SAC update per env step, CleanIL's sizes) for the
  same seed counts;
- a 16-seed GAIL hopper run of a fixed short budget (``make_train``'s whole program,
  evaluation included): compile time, run time and the normalized scores;
- the matmul peak at the networks' layer shape and at a large shape, the device's name,
  jax's version.

Each timed program is compiled and run once before its best of ``--rounds`` timed calls.
The JSON file is rewritten after every measurement, so a run cut short keeps what it
measured; past ``--time-limit`` seconds the remaining measurements are skipped and named.
``--small`` runs CPU-sized versions of the same programs (what the tests run).

    python experiments/bench/device_check.py                    # ≤ 8 min on one accelerator
    python experiments/bench/device_check.py --small --env pendulum --out-dir /tmp
    python experiments/bench/device_check.py --table            # the results README's table
    python experiments/bench/device_check.py --parts gail-run --run-steps 10000   # one part

On GPUs the "layer" peak (a chain of dependent 256×256 products) is bound by kernel
latency, not arithmetic, and jaxil's updates exceed it; the fraction quoted there is of the
large-shape peak. On a lent machine with its own jax and no package registry, carry jaxil's
other pinned dependencies as wheels: ``experiments/bench/device_wheels.sh`` (it says how).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxil import data, envs
from jaxil.data.datasets import SHIPPED_ROOT
from jaxil.evaluation import Reference
from jaxil.il import bc, gail, iqlearn
from jaxil.provenance import source_commit
from jaxil.rl import sac
from jaxil.stats import aggregate

sys.path.insert(0, str(Path(__file__).parent))
from bench_gail import loop_runner  # noqa: E402
from bench_updates import ACT, BATCH, HIDDEN, HOPPER, Timer, add_update_bench, matmul_chain, synthetic_data, uniform_batch  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "results"
# (seed counts, updates per timed call, GAIL env steps per timed call, fixed-budget run's
# env steps, its seeds, replay capacity per seed, timing rounds, hidden sizes, large matmul,
# rows of the synthetic data the updates sample: a jit constant, which small sizes keep
# small for a fast compile)
SIZES = {
    "full": dict(seeds=(1, 16, 64, 256), updates=200, gail_steps=100, run_steps=20_000, run_seeds=16,
                 buffer=100_000, rounds=3, hidden=HIDDEN, large=4096, rows=100_000),
    "small": dict(seeds=(2,), updates=20, gail_steps=10, run_steps=300, run_seeds=2,
                  buffer=2_000, rounds=1, hidden=(32, 32), large=512, rows=2_000),
}


def device_name() -> str:
    """A file-name slug of the first device's kind, e.g. ``nvidia-h200`` or ``cpu``."""
    kind = jax.devices()[0].device_kind if jax.default_backend() != "cpu" else "cpu"
    return re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-")


class Report:
    """The result file, rewritten after each measurement."""

    def __init__(self, path: Path, head: dict):
        self.path, self.doc = path, head | {"updates": [], "gail_env_loop": [], "skipped": []}
        self.write()

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.doc, indent=2) + "\n")


def update_benches(size: dict, rep: Report, deadline: float) -> None:
    """updates/s of BC, SAC and IQ-Learn, one row per (algo, seeds)."""
    hidden = size["hidden"]
    stats = (jnp.zeros(11), jnp.ones(11))
    batch = uniform_batch(synthetic_data(size["rows"]), BATCH)
    algos = {
        "bc": (lambda k: bc.init(k, bc.Config(hidden=hidden, activation=ACT, batch_size=BATCH), HOPPER, *stats),
               bc.update),
        "sac": (lambda k: sac.init(k, sac.Config(hidden=hidden, activation=ACT, batch_size=BATCH), HOPPER), sac.update),
        "iqlearn": (lambda k: iqlearn.init(k, iqlearn.Config(hidden=hidden, activation=ACT, batch_size=BATCH),
                                           HOPPER, *stats), iqlearn.update),
    }
    for name, (init, update) in algos.items():
        for n in size["seeds"]:
            if time.perf_counter() > deadline:
                rep.doc["skipped"].append(f"updates {name}/{n}: past --time-limit")
                continue
            timer, t = Timer(), time.perf_counter()
            flops = add_update_bench(timer, name, init, update, batch, size["updates"], (n,))
            first_s = time.perf_counter() - t
            secs = timer.run(size["rounds"])[f"{name}/{n}"]
            rep.doc["updates"].append({
                "algo": name, "seeds": n, "updates_per_s_per_seed": size["updates"] / secs,
                "updates_per_s_total": n * size["updates"] / secs, "flops_per_update_per_seed": flops,
                "fraction_of_layer_peak": n * flops * size["updates"] / secs / rep.doc["matmul_peak_flops"]["layer"],
                "fraction_of_large_peak": n * flops * size["updates"] / secs / rep.doc["matmul_peak_flops"]["large"],
                "compile_and_first_call_s": first_s,
            })
            rep.write()


def gail_benches(size: dict, env_name: str, rep: Report, deadline: float, parts: set[str]) -> None:
    """GAIL env steps/s with the env in the loop, then the fixed-budget multi-seed run."""
    env = envs.make(env_name, data.recorded_backend(data.default_dataset_id(env_name)))
    episodes, info = data.load(data.default_dataset_id(env_name), env)
    expert = data.expert_data(data.first_episodes(episodes, 10, info.dataset_id))
    nets = dict(hidden=size["hidden"], disc_hidden=size["hidden"])
    rep.doc["gail_env"] = {"env": env_name, "backend": env.spec.backend}
    for n in size["seeds"] if "gail-loop" in parts else ():
        if time.perf_counter() > deadline:
            rep.doc["skipped"].append(f"gail env loop /{n}: past --time-limit")
            continue
        # warm-up of one batch in init: the timed loop is the learning loop, not the random phase
        cfg = gail.Config(**nets, buffer_size=size["buffer"], warmup_steps=256, steps=size["gail_steps"],
                          eval_every=size["gail_steps"])
        train = gail.make_train(cfg, expert, env)
        carry = jax.block_until_ready(jax.jit(jax.vmap(train.init))(jax.random.split(jax.random.PRNGKey(0), n)))
        timer, t = Timer(), time.perf_counter()
        timer.add("gail", jax.jit(jax.vmap(loop_runner(train, size["gail_steps"]))), carry)
        first_s = time.perf_counter() - t
        secs = timer.run(size["rounds"])["gail"]
        rep.doc["gail_env_loop"].append({
            "seeds": n, "env_steps_per_s_per_seed": size["gail_steps"] / secs,
            "env_steps_per_s_total": n * size["gail_steps"] / secs, "compile_and_first_call_s": first_s,
        })
        del carry
        rep.write()
    if "gail-run" not in parts:
        return
    if time.perf_counter() > deadline:
        rep.doc["skipped"].append("gail fixed-budget run: past --time-limit")
        return
    steps, seeds = size["run_steps"], size["run_seeds"]
    cfg = gail.Config(**nets, steps=steps, eval_every=steps, warmup_steps=min(5_000, steps // 2), eval_episodes=10,
                      buffer_size=min(steps, size["buffer"]))
    train = gail.make_train(cfg, expert, env, Reference(info.random_return, info.expert_return))
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    t = time.perf_counter()
    compiled = jax.jit(jax.vmap(train)).lower(keys).compile()
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    _, metrics = jax.block_until_ready(compiled(keys))
    run_s = time.perf_counter() - t
    final = np.asarray(metrics["normalized_score"])[:, -1]
    agg = aggregate(final)
    rep.doc["gail_run"] = {
        "env": env_name, "seeds": seeds, "env_steps_per_seed": steps, "warmup_steps": cfg.warmup_steps,
        "config": "CleanIL's GAIL (3x256 SiLU, batch 256, lr 3e-4)" if size["hidden"] == HIDDEN else f"hidden {size['hidden']}",
        "compile_s": compile_s, "run_s": run_s, "env_steps_per_s_total": seeds * steps / run_s,
        "normalized_score_per_seed": [round(float(x), 2) for x in final],
        "iqm": agg["iqm"], "ci95": [float(x) for x in agg["ci95"]],
    }
    rep.write()


def table(results: Path) -> str:
    """The results README's table: one row per device file."""
    lines = ["| device | jax | date | BC upd/s (1 / 256 seeds, total) | SAC upd/s | IQ-Learn upd/s | "
             "GAIL env steps/s (1 / 256 seeds, total) | 16-seed GAIL run: s, IQM | file |",
             "|---|---|---|---|---|---|---|---|---|"]
    for f in sorted(results.glob("device-*.json")):
        d = json.loads(f.read_text())
        ups = {(r["algo"], r["seeds"]): r["updates_per_s_total"] for r in d["updates"]}
        top = max((r["seeds"] for r in d["updates"]), default=None)
        cell = lambda a: " / ".join(f"{ups[(a, s)]:,.0f}" for s in (1, top) if (a, s) in ups) or "—"  # noqa: E731
        loop = {r["seeds"]: r["env_steps_per_s_total"] for r in d["gail_env_loop"]}
        gail_cell = " / ".join(f"{loop[s]:,.0f}" for s in (1, max(loop, default=1)) if s in loop) or "—"
        run = d.get("gail_run")
        run_cell = f"{run['run_s']:.0f} s, {run['iqm']:.1f} ({run['seeds']} seeds × {run['env_steps_per_seed']:,})" if run else "—"
        size = "" if d["size"] == "full" else f" ({d['size']} sizes, max {top} seeds)"
        lines.append(f"| {d['device']}{size} | {d['jax']} | {d['date']} | {cell('bc')} | {cell('sac')} | "
                     f"{cell('iqlearn')} | {gail_cell} | {run_cell} | {f.name} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--small", action="store_true", help="CPU sizes (2 seeds, tiny nets, short loops): what the tests run")
    p.add_argument("--env", default="hopper", help="the env of the GAIL measurements (a shipped dataset's env)")
    p.add_argument("--out-dir", default=str(RESULTS), help="where device-<device>-<date>.json is written")
    p.add_argument("--time-limit", type=float, default=420.0, help="seconds after which remaining measurements are skipped")
    p.add_argument("--parts", default="updates,gail-loop,gail-run",
                   help="comma-separated measurements to take: updates, gail-loop, gail-run")
    p.add_argument("--run-steps", type=int, default=None, help="env steps per seed of the GAIL run (default: the size's)")
    p.add_argument("--table", action="store_true", help="print the table of every device-*.json in --out-dir and exit")
    a = p.parse_args()
    if a.table:
        print(table(Path(a.out_dir)))
        return
    shipped = sorted(d.parent.name for d in SHIPPED_ROOT.glob("jaxil/*/expert-v0"))
    if a.env not in shipped:
        p.error(f"--env {a.env!r} has no shipped expert data; choose one of {', '.join(shipped)}")
    parts = set(a.parts.split(","))
    if not parts <= {"updates", "gail-loop", "gail-run"}:
        p.error(f"--parts {a.parts!r}: choose among updates, gail-loop, gail-run")
    size = SIZES["small" if a.small else "full"] | ({"run_steps": a.run_steps} if a.run_steps else {})
    t0 = time.perf_counter()
    deadline = t0 + a.time_limit
    date = datetime.date.today().isoformat()
    out = Path(a.out_dir) / f"device-{device_name()}-{date}{'-small' if a.small else ''}.json"
    devices = jax.devices()
    rep = Report(out, {
        "bench": "device_check", "command": "python experiments/bench/device_check.py " + " ".join(sys.argv[1:]),
        "device": devices[0].device_kind if jax.default_backend() != "cpu" else f"cpu ({os.cpu_count()} cores)",
        "backend": jax.default_backend(), "num_devices": len(devices), "jax": jax.__version__,
        "platform": platform.platform(), "date": date, "jaxil_commit": source_commit(),
        "size": "small" if a.small else "full",
        "parts": sorted(parts),
        "sizes": {k: list(v) if isinstance(v, tuple) else v for k, v in size.items()},
    })
    timer = Timer()
    chains = {"layer": matmul_chain(BATCH, 256, 2000), "large": matmul_chain(size["large"], size["large"], 20)}
    for name, (fn, x, _) in chains.items():
        timer.add(name, fn, x)
    best = timer.run(max(size["rounds"], 3))
    rep.doc["matmul_peak_flops"] = {name: f / best[name] for name, (_, _, f) in chains.items()}
    rep.doc["matmul_shapes"] = {"layer": f"{BATCH}x256 @ 256x256", "large": f"{size['large']}^3"}
    rep.write()
    if "updates" in parts:
        update_benches(size, rep, deadline)
    if parts & {"gail-loop", "gail-run"}:
        gail_benches(size, a.env, rep, deadline, parts)
    rep.doc["wall_s"] = time.perf_counter() - t0
    rep.write()
    peak = rep.doc["matmul_peak_flops"]
    print(f"{rep.doc['device']}, jax {jax.__version__}: matmul peak {peak['layer'] / 1e9:.1f} GFLOP/s (layer), "
          f"{peak['large'] / 1e9:.1f} GFLOP/s ({size['large']}^3)")
    print(f"{'program':<10}{'seeds':>7}{'per seed /s':>13}{'total /s':>12}{'of peak':>9}{'compile s':>11}")
    of_peak = "fraction_of_layer_peak" if jax.default_backend() == "cpu" else "fraction_of_large_peak"
    for r in rep.doc["updates"]:
        print(f"{r['algo']:<10}{r['seeds']:>7}{r['updates_per_s_per_seed']:>13.1f}{r['updates_per_s_total']:>12.1f}"
              f"{r[of_peak]:>9.1%}{r['compile_and_first_call_s']:>11.1f}")
    for r in rep.doc["gail_env_loop"]:
        print(f"{'gail+env':<10}{r['seeds']:>7}{r['env_steps_per_s_per_seed']:>13.1f}{r['env_steps_per_s_total']:>12.1f}"
              f"{'':>9}{r['compile_and_first_call_s']:>11.1f}")
    if "gail_run" in rep.doc:
        run = rep.doc["gail_run"]
        print(f"GAIL {run['env']}: {run['seeds']} seeds x {run['env_steps_per_seed']} env steps in {run['run_s']:.1f} s "
              f"(compile {run['compile_s']:.1f} s), normalized IQM {run['iqm']:.1f} {np.round(run['ci95'], 1)}")
    for s in rep.doc["skipped"]:
        print("skipped:", s)
    print(f"written: {out}")
    print(json.dumps(rep.doc))


if __name__ == "__main__":
    main()
