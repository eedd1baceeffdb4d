"""Updates per second of BC and of one full SAC update, against a matmul peak.

Hopper sizes (obs 11, act 3), 3×256 SiLU networks, batch 256 — the sizes of CleanIL's
MuJoCo benchmark. For each, K updates run inside one jitted ``lax.scan`` (as in
training), for 1 seed and for 8 vmapped seeds. FLOPs per update come from XLA's cost
analysis of the compiled update; achieved FLOP/s is compared with the matmul peak
measured in the same run, both at the networks' own layer shape (256×256 @ 256×256)
and at a large shape (1024³). Prints a table, then one JSON line.

    python experiments/bench/bench_updates.py [--updates 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxil.envs.core import EnvSpec
from jaxil.il import bc
from jaxil.rl import sac
from jaxil.types import Transition

HOPPER = EnvSpec("hopper-sized", "synthetic", "none", 11, 3, None, (-1.0,) * 3, (1.0,) * 3, 1000)
HIDDEN, ACT, BATCH = (256, 256, 256), "silu", 256


def best_time(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))  # compile + warm up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
    return min(times)


def matmul_peak(n: int, m: int, iters: int, repeats: int) -> float:
    """FLOP/s of a chain of (n×m) @ (m×m) products inside one jit."""
    w = jax.random.orthogonal(jax.random.PRNGKey(0), m)
    x = jax.random.normal(jax.random.PRNGKey(1), (n, m))
    f = jax.jit(lambda x: jax.lax.fori_loop(0, iters, lambda i, y: y @ w, x))
    return 2.0 * n * m * m * iters / best_time(f, x, repeats=repeats)


def flops_of(fn, *args) -> float:
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost["flops"])


def synthetic_data(n: int = 100_000) -> Transition:
    k = jax.random.split(jax.random.PRNGKey(2), 3)
    obs = jax.random.normal(k[0], (n, 11))
    return Transition(obs, jnp.tanh(jax.random.normal(k[1], (n, 3))), jax.random.normal(k[2], (n,)),
                      obs + 0.01, jnp.zeros(n, bool), jnp.zeros(n, bool))


def bench(name: str, init, update, data: Transition, updates: int, repeats: int) -> dict:
    def sample(key):
        idx = jax.random.randint(key, (BATCH,), 0, data.size)
        return jax.tree.map(lambda x: x[idx], data)

    def run(state, key):
        def body(s, k):
            return update(s, sample(k))[0], None

        return jax.lax.scan(body, state, jax.random.split(key, updates))[0]

    key = jax.random.PRNGKey(0)
    state1 = init(key)
    flops = flops_of(lambda s, b: update(s, b), state1, sample(key))
    t1 = best_time(jax.jit(run), state1, key, repeats=repeats)
    states8 = jax.vmap(init)(jax.random.split(key, 8))
    t8 = best_time(jax.jit(jax.vmap(run, in_axes=(0, None))), states8, key, repeats=repeats)
    return {
        "name": name,
        "flops_per_update": flops,
        "updates_per_s_1seed": updates / t1,
        "updates_per_s_8seeds_total": 8 * updates / t8,
        "updates_per_s_8seeds_per_seed": updates / t8,
        "flops_per_s_1seed": flops * updates / t1,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--updates", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    t0 = time.perf_counter()
    peak_layer = matmul_peak(BATCH, 256, 2000, a.repeats)
    peak_large = matmul_peak(1024, 1024, 50, a.repeats)
    data = synthetic_data()
    bc_cfg = bc.Config(hidden=HIDDEN, activation=ACT, batch_size=BATCH)
    sac_cfg = sac.Config(hidden=HIDDEN, activation=ACT, batch_size=BATCH)
    rows = [
        bench("bc", lambda k: bc.init(k, bc_cfg, HOPPER, jnp.zeros(11), jnp.ones(11)), bc.update, data, a.updates, a.repeats),
        bench("sac", lambda k: sac.init(k, sac_cfg, HOPPER), sac.update, data, a.updates // 4, a.repeats),
    ]
    for r in rows:
        r["fraction_of_layer_matmul_peak"] = r["flops_per_s_1seed"] / peak_layer
        r["fraction_of_large_matmul_peak"] = r["flops_per_s_1seed"] / peak_large
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, jax {jax.__version__} on {jax.default_backend()}")
    print(f"matmul peak: {peak_layer / 1e9:.1f} GFLOP/s at 256x256@256x256, {peak_large / 1e9:.1f} GFLOP/s at 1024^3")
    hdr = f"{'update':6s} {'MFLOP/upd':>10s} {'upd/s 1 seed':>13s} {'upd/s 8 seeds':>14s} {'per seed':>9s} {'GFLOP/s':>8s} {'% layer peak':>13s} {'% 1024 peak':>12s}"
    print(hdr)
    for r in rows:
        print(f"{r['name']:6s} {r['flops_per_update'] / 1e6:10.1f} {r['updates_per_s_1seed']:13.1f} "
              f"{r['updates_per_s_8seeds_total']:14.1f} {r['updates_per_s_8seeds_per_seed']:9.1f} "
              f"{r['flops_per_s_1seed'] / 1e9:8.1f} {100 * r['fraction_of_layer_matmul_peak']:12.1f}% "
              f"{100 * r['fraction_of_large_matmul_peak']:11.1f}%")
    print(json.dumps({
        "bench": "updates", "sizes": {"obs": 11, "act": 3, "hidden": list(HIDDEN), "activation": ACT, "batch": BATCH},
        "updates_per_run": {"bc": a.updates, "sac": a.updates // 4}, "repeats": a.repeats,
        "matmul_peak_flops_layer": peak_layer, "matmul_peak_flops_1024": peak_large,
        "results": rows, "cpus": os.cpu_count(), "backend": jax.default_backend(),
        "wall_s": round(time.perf_counter() - t0, 1),
    }))


if __name__ == "__main__":
    main()
