"""Updates per second of BC, SAC and the offline IL updates, against a matmul peak.

Hopper sizes (obs 11, act 3), 3×256 SiLU networks, batch 256 — the sizes of CleanIL's
MuJoCo benchmark. For each, K updates run inside one jitted ``lax.scan`` (as in
training), for 1 seed and for 8 vmapped seeds. FLOPs per update come from XLA's cost
analysis of the compiled update; achieved FLOP/s is compared with the matmul peak
measured in the same run, both at the networks' own layer shape (256×256 @ 256×256)
and at a large shape (1024³). Prints a table, then one JSON line.

    python experiments/bench/bench_updates.py [--updates 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import jax.numpy as jnp

from jaxil.envs.core import EnvSpec
from jaxil.il import bc, ibc, iqlearn, recoil
from jaxil.rl import sac
from jaxil.types import Transition

HOPPER = EnvSpec("hopper-sized", "synthetic", "none", 11, 3, None, (-1.0,) * 3, (1.0,) * 3, 1000)
HIDDEN, ACT, BATCH = (256, 256, 256), "silu", 256


class Timer:
    """Times registered programs in interleaved rounds and keeps each one's best time,
    so a slow stretch of the machine hits all of them alike and ratios stay fair."""

    def __init__(self):
        self.jobs: dict[str, tuple] = {}
        self.best: dict[str, float] = {}

    def add(self, name: str, fn, *args) -> None:
        jax.block_until_ready(fn(*args))  # compile + warm up
        self.jobs[name] = (fn, args)

    def run(self, rounds: int) -> dict[str, float]:
        for _ in range(rounds):
            for name, (fn, args) in self.jobs.items():
                t = time.perf_counter()
                jax.block_until_ready(fn(*args))
                self.best[name] = min(self.best.get(name, float("inf")), time.perf_counter() - t)
        return self.best


def matmul_chain(n: int, m: int, iters: int):
    """A chain of (n×m) @ (m×m) products inside one jit, and its FLOP count."""
    w = jax.random.orthogonal(jax.random.PRNGKey(0), m)
    x = jax.random.normal(jax.random.PRNGKey(1), (n, m))
    return jax.jit(lambda x: jax.lax.fori_loop(0, iters, lambda i, y: y @ w, x)), x, 2.0 * n * m * m * iters


def flops_of(fn, *args) -> float:
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost["flops"])


def synthetic_data(n: int = 100_000) -> Transition:
    k = jax.random.split(jax.random.PRNGKey(2), 3)
    obs = jax.random.normal(k[0], (n, 11))
    return Transition(obs, jnp.tanh(jax.random.normal(k[1], (n, 3))), jax.random.normal(k[2], (n,)),
                      obs + 0.01, jnp.zeros(n, bool), jnp.zeros(n, bool))


def uniform_batch(data: Transition, size: int):
    def sample(key):
        idx = jax.random.randint(key, (size,), 0, data.size)
        return jax.tree.map(lambda x: x[idx], data)

    return sample


def add_update_bench(timer: Timer, name: str, init, update, sample, updates: int,
                     seed_counts: tuple[int, ...] = (1, 8)) -> float:
    """Register runs of ``updates`` updates on batches drawn by ``sample(key)`` as
    ``name/N`` for each seed count N (1: unvmapped; N > 1: N vmapped states sharing the
    batches); return FLOPs/update."""

    def run(state, key):
        def body(s, k):
            return update(s, sample(k))[0], None

        return jax.lax.scan(body, state, jax.random.split(key, updates))[0]

    key = jax.random.PRNGKey(0)
    state1 = jax.jit(init)(key)  # jitted: op by op, an init takes seconds on a CPU
    for n in seed_counts:
        if n == 1:
            timer.add(f"{name}/1", jax.jit(run), state1, key)
        else:
            states = jax.jit(jax.vmap(init))(jax.random.split(key, n))
            timer.add(f"{name}/{n}", jax.jit(jax.vmap(run, in_axes=(0, None))), states, key)
    return flops_of(lambda s, b: update(s, b), state1, sample(key))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--updates", type=int, default=2000, help="BC updates per timed call (SAC: a quarter)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds; the best of each is kept")
    p.add_argument("--algos", default="bc,sac,iqlearn,recoil,ibc", help="comma-separated updates to time")
    a = p.parse_args()
    algos = a.algos.split(",")
    t0 = time.perf_counter()
    timer = Timer()
    chains = {"layer": matmul_chain(BATCH, 256, 2000), "1024": matmul_chain(1024, 1024, 50)}
    for name, (fn, x, _) in chains.items():
        timer.add(f"matmul/{name}", fn, x)
    data = synthetic_data()
    bc_cfg = bc.Config(hidden=HIDDEN, activation=ACT, batch_size=BATCH)
    sac_cfg = sac.Config(hidden=HIDDEN, activation=ACT, batch_size=BATCH)
    iq_cfg = iqlearn.Config(hidden=HIDDEN, activation=ACT, batch_size=BATCH)
    recoil_cfg = recoil.Config(hidden=HIDDEN, activation=ACT, expert_batch=BATCH // 2, offline_batch=BATCH // 2)
    ibc_cfg = ibc.Config(hidden=HIDDEN, activation=ACT, batch_size=BATCH)
    stats = (jnp.zeros(11), jnp.ones(11))
    batch = uniform_batch(data, BATCH)
    half = uniform_batch(data, BATCH // 2)
    # name: (init, update, batch sampler, divisor of --updates for its timed call)
    inits = {
        "bc": (lambda k: bc.init(k, bc_cfg, HOPPER, *stats), bc.update, batch, 1),
        "sac": (lambda k: sac.init(k, sac_cfg, HOPPER), sac.update, batch, 4),
        # critic with gradient penalty, AWR actor, polyak
        "iqlearn": (lambda k: iqlearn.init(k, iq_cfg, HOPPER, *stats), iqlearn.update, batch, 4),
        # 128 expert + 128 offline rows: critic (absorbing input, penalty), AWR actor, polyak
        "recoil": (lambda k: recoil.init(k, recoil_cfg, HOPPER, *stats), recoil.update,
                   lambda k: (half(jax.random.fold_in(k, 0)), half(jax.random.fold_in(k, 1))), 4),
        # actor + temperature on the energy, InfoNCE energy with 1 + 3 negatives and penalty
        "ibc": (lambda k: ibc.init(k, ibc_cfg, HOPPER, *stats), ibc.update, batch, 4),
    }
    unknown = set(algos) - set(inits)
    if unknown:
        p.error(f"unknown --algos {sorted(unknown)}; choose from {sorted(inits)}")
    n_updates = {name: a.updates // inits[name][3] for name in algos}
    flops = {name: add_update_bench(timer, name, *inits[name][:3], n_updates[name]) for name in algos}
    best = timer.run(a.rounds)
    peak = {name: f / best[f"matmul/{name}"] for name, (_, _, f) in chains.items()}
    rows = []
    for name in algos:
        n = n_updates[name]
        per_s = n / best[f"{name}/1"]
        rows.append({
            "name": name,
            "flops_per_update": flops[name],
            "updates_per_s_1seed": per_s,
            "updates_per_s_8seeds_total": 8 * n / best[f"{name}/8"],
            "updates_per_s_8seeds_per_seed": n / best[f"{name}/8"],
            "flops_per_s_1seed": flops[name] * per_s,
            "fraction_of_layer_matmul_peak": flops[name] * per_s / peak["layer"],
            "fraction_of_large_matmul_peak": flops[name] * per_s / peak["1024"],
        })
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, jax {jax.__version__} on {jax.default_backend()}")
    print(f"matmul peak: {peak['layer'] / 1e9:.1f} GFLOP/s at 256x256@256x256, {peak['1024'] / 1e9:.1f} GFLOP/s at 1024^3")
    print(f"{'update':8s} {'MFLOP/upd':>10s} {'upd/s 1 seed':>13s} {'upd/s 8 seeds':>14s} {'per seed':>9s} "
          f"{'GFLOP/s':>8s} {'% layer peak':>13s} {'% 1024 peak':>12s}")
    for r in rows:
        print(f"{r['name']:8s} {r['flops_per_update'] / 1e6:10.1f} {r['updates_per_s_1seed']:13.1f} "
              f"{r['updates_per_s_8seeds_total']:14.1f} {r['updates_per_s_8seeds_per_seed']:9.1f} "
              f"{r['flops_per_s_1seed'] / 1e9:8.1f} {100 * r['fraction_of_layer_matmul_peak']:12.1f}% "
              f"{100 * r['fraction_of_large_matmul_peak']:11.1f}%")
    print(json.dumps({
        "bench": "updates", "sizes": {"obs": 11, "act": 3, "hidden": list(HIDDEN), "activation": ACT, "batch": BATCH},
        "updates_per_call": n_updates, "rounds": a.rounds,
        "matmul_peak_flops_layer": peak["layer"], "matmul_peak_flops_1024": peak["1024"],
        "results": rows, "cpus": os.cpu_count(), "backend": jax.default_backend(),
        "wall_s": round(time.perf_counter() - t0, 1),
    }))


if __name__ == "__main__":
    main()
