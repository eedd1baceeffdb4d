"""Seeds spread over devices: BC's update throughput with the seed axis sharded over 1, 2
and 4 devices (host CPU devices here, forced with XLA_FLAGS in one subprocess per count;
GPUs of one machine on an accelerator host), and the ratio to one device.

Each count runs the same work: ``--seeds`` seeds of BC (hopper sizes, 3×256 SiLU, batch
256) vmapped in one program, the seed axis laid over the devices as ``jaxil train
--devices`` lays it (:class:`jaxil.driver.SeedRunner`), timed over ``--updates`` updates
per seed after a compile-and-run call (best of ``--rounds``); as a fraction of the 1024³
matmul peak timed in the same process (XLA's FLOP count of one update). On 2 CPU cores expect at most about 2× (the cores,
not the devices, are the limit); the point is that the program scales, which the
accelerator check then measures. Prints a table, then one JSON line.

    python experiments/bench/bench_scale.py [--seeds 8] [--updates 200] [--devices 1,2,4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path


def child(seeds: int, updates: int, rounds: int) -> dict:
    import jax

    from jaxil.driver import SeedRunner, seed_devices, seed_keys
    from jaxil.il import bc

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_updates import HOPPER, flops_of, matmul_chain, synthetic_data

    devices = seed_devices(seeds, None, vectorize=True)
    runner = SeedRunner(True, devices)
    cfg = bc.Config(hidden=(256, 256, 256), activation="silu", batch_size=256, steps=updates, eval_every=updates,
                    eval_episodes=1)
    data = synthetic_data(20_000)
    mean, std = data.obs.mean(0), data.obs.std(0)
    init = runner.jit(jax.vmap(lambda k: bc.init(k, cfg, HOPPER, mean, std)))

    def run(state, key):
        def one(s, k):
            idx = jax.random.randint(k, (cfg.batch_size,), 0, data.size)
            return bc.update(s, jax.tree.map(lambda x: x[idx], data))[0], None

        return jax.lax.scan(one, state, jax.random.split(key, updates))[0]

    many = runner.jit(jax.vmap(run))
    states = init(seed_keys(range(seeds)))
    keys = seed_keys(range(100, 100 + seeds))
    jax.block_until_ready(many(states, keys))  # compile and run once
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        jax.block_until_ready(many(states, keys))
        best = min(best, time.perf_counter() - t)
    peak_fn, x, flops = matmul_chain(1024, 1024, 20)
    jax.block_until_ready(peak_fn(x))
    t = time.perf_counter()
    jax.block_until_ready(peak_fn(x))
    peak = flops / (time.perf_counter() - t)
    one = bc.init(jax.random.PRNGKey(0), cfg, HOPPER, mean, std)
    update_flops = flops_of(lambda s, b: bc.update(s, b)[0], one, jax.tree.map(lambda x: x[:cfg.batch_size], data))
    return {"devices": len(devices) if devices else 1, "platform": jax.devices()[0].platform, "seeds": seeds,
            "updates": updates, "seconds": best, "seed_updates_per_s": seeds * updates / best,
            "matmul_peak_flops_1024": peak, "flops_per_update": update_flops,
            "fraction_of_peak": seeds * updates / best * update_flops / peak}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=8, help="seeds (a multiple of every device count)")
    p.add_argument("--updates", type=int, default=200, help="BC updates per seed in the timed call")
    p.add_argument("--rounds", type=int, default=3, help="timed calls; the best is kept")
    p.add_argument("--devices", default="1,2,4", help="device counts, comma-separated")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(child(a.seeds, a.updates, a.rounds)))
        return
    t0 = time.perf_counter()
    rows = []
    for n in (int(x) for x in a.devices.split(",")):
        if a.seeds % n:
            raise SystemExit(f"--seeds ({a.seeds}) must be a multiple of every device count ({n}).")
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}")
        proc = subprocess.run([sys.executable, __file__, "--child", "--seeds", str(a.seeds), "--updates",
                               str(a.updates), "--rounds", str(a.rounds)], env=env, capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(proc.stderr[-2000:])
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    base = rows[0]["seed_updates_per_s"]
    print(f"{'devices':>8} {'seeds':>6} {'seconds':>8} {'seed-updates/s':>15} {'of peak':>8} {'vs 1 device':>12}")
    for r in rows:
        r["ratio_to_one_device"] = r["seed_updates_per_s"] / base
        print(f"{r['devices']:>8} {r['seeds']:>6} {r['seconds']:>8.3f} {r['seed_updates_per_s']:>15.0f} "
              f"{r['fraction_of_peak']:>8.0%} {r['ratio_to_one_device']:>11.2f}×")
    print(json.dumps({"bench": "scale", "command": " ".join(["python", "experiments/bench/bench_scale.py",
                                                             *sys.argv[1:]]),
                      "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", "rows": rows,
                      "wall_s": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
