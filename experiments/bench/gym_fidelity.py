"""jaxil's gymnasium MuJoCo envs (MJX, float32 or with --x64 float64) against gymnasium's own (C MuJoCo, float64):
step-for-step differences, whole-episode returns of a fixed policy, and throughput.

    python experiments/bench/gym_fidelity.py [--envs gym-hopper-v5,...] [--episodes 10] [--steps 100] [--x64]
                                             [--policy expert]
                                             [--tolerance 1e-14]

Per env: from gymnasium's reset(seed) state, the same actions (uniform in the action box)
in both; the largest observation difference after 1, 10 and ``--steps`` steps (or the
step the episode ends), the largest reward difference, and whether every termination flag
agrees. Then ``--episodes`` whole episodes of a fixed linear policy a = tanh(W·obs) (W drawn
once), or with ``--policy expert`` the trained expert shipped with ``jaxil/<env>/expert-v0``
(its mode, each side acting on its own observations), from the same start states: both
returns and their relative difference. Then env steps/s: gymnasium's ``env.step`` in a
Python loop, and MJX ``step`` under ``lax.scan`` at 1 and 128 parallel envs (first call,
i.e. compile, reported apart). Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np

from jaxil import data, envs
from jaxil.experts import load_expert
from jaxil.envs.gym_mujoco import TASKS, GymMujocoEnv


def gym_episode(name: str, seed: int, act, limit: int, tolerance: float | None = None):
    env = gymnasium.make(TASKS[name].gym_id)
    if tolerance is not None:
        env.unwrapped.model.opt.tolerance = tolerance
    obs, _ = env.reset(seed=seed)
    start = (env.unwrapped.data.qpos.copy(), env.unwrapped.data.qvel.copy())
    rows = []
    for _ in range(limit):
        a = act(obs)
        nobs, reward, terminated, truncated, _ = env.step(a)
        rows.append((obs, a, nobs, reward, terminated))
        obs = nobs
        if terminated or truncated:
            break
    return start, rows


def step_for_step(env, name: str, steps: int, seed: int, tolerance: float | None = None) -> dict:
    actions = np.random.default_rng(seed).uniform(env.spec.action_low, env.spec.action_high,
                                                  (steps, env.spec.action_dim)).astype(np.float32)
    it = iter(actions)
    (qpos, qvel), rows = gym_episode(name, seed, lambda obs: next(it), steps, tolerance)
    state = env.state_from(qpos, qvel)

    def one(s, a):
        s, r, term = env.physics_step(s, a)
        return s, (env.observe(s.data), r, term)

    n = len(rows)
    obs, r, term = (np.asarray(x) for x in jax.jit(lambda s, a: jax.lax.scan(one, s, a)[1])(state, actions[:n]))
    err = np.abs(obs - np.array([x[2] for x in rows])).max(1)
    return {"steps": n, "obs_err_1": float(err[0]), "obs_err_10": float(err[min(9, n - 1)]),
            "obs_err_last": float(err[-1]), "reward_err_max": float(np.abs(r - np.array([x[3] for x in rows])).max()),
            "terminations_equal": bool((term == np.array([x[4] for x in rows])).all())}


def episodes(env, name: str, count: int, tolerance: float | None = None, policy: str = "linear") -> dict:
    dtype = jnp.zeros(()).dtype  # the policy computes in MJX's float type on both sides
    if policy == "expert":  # the trained policy shipped with jaxil/<env>/expert-v0, acting with its mode
        dist_fn, _ = load_expert(data.load(f"jaxil/{name}/expert-v0", env)[1].path)
        act_mjx = lambda o: dist_fn(o.astype(jnp.float32)).mode().astype(o.dtype)  # noqa: E731
        act_gym = jax.jit(act_mjx)
        act_np = lambda o: np.asarray(act_gym(jnp.asarray(o, dtype)), np.float64)  # noqa: E731
    else:
        w = np.random.default_rng(0).normal(0, 0.3, (env.spec.action_dim, env.spec.obs_dim)).astype(np.float32)
        act_mjx = lambda o: jnp.tanh(jnp.asarray(w) @ o)  # noqa: E731
        act_np = lambda o: np.tanh(w @ o.astype(dtype))  # noqa: E731
    returns_gym, returns_mjx = [], []
    run = jax.jit(lambda s, T: _policy_episode(env, s, act_mjx, T), static_argnums=1)
    for seed in range(count):
        (qpos, qvel), rows = gym_episode(name, 100 + seed, act_np, env.spec.max_episode_steps, tolerance)
        returns_gym.append(float(sum(x[3] for x in rows)))
        returns_mjx.append(float(run(env.state_from(qpos, qvel), env.spec.max_episode_steps)))
    rel = [abs(a - b) / max(abs(b), 1e-9) for a, b in zip(returns_mjx, returns_gym)]
    return {"policy": policy, "returns_gym": returns_gym, "returns_mjx": returns_mjx, "max_relative_difference": max(rel)}


def _policy_episode(env, state, act, limit: int):
    def one(carry, _):
        s, total, alive = carry
        s, r, term = env.physics_step(s, act(env.observe(s.data)))
        return (s, total + jnp.where(alive, r, 0.0), alive & ~term), None

    (_, total, _), _ = jax.lax.scan(one, (state, jnp.zeros(()), jnp.array(True)), None, length=limit)
    return total


def throughput(env, name: str, steps: int = 200) -> dict:
    g = gymnasium.make(TASKS[name].gym_id)
    g.reset(seed=0)
    t0 = time.perf_counter()
    for _ in range(steps):
        _, _, term, trunc, _ = g.step(g.action_space.sample())
        if term or trunc:
            g.reset()
    out = {"gymnasium_steps_per_s": steps / (time.perf_counter() - t0)}
    for batch in (1, 128):
        keys = jax.random.split(jax.random.PRNGKey(0), batch)
        states, _ = jax.vmap(env.reset)(keys)

        @jax.jit
        def run(states, key):
            def one(carry, k):
                a = jax.random.uniform(k, (batch, env.spec.action_dim), minval=-1.0, maxval=1.0)
                s, _ = jax.vmap(env.step)(jax.random.split(k, batch), carry, a)
                return s, None
            return jax.lax.scan(one, states, jax.random.split(key, 20))[0]

        t0 = time.perf_counter()
        jax.block_until_ready(run(states, jax.random.PRNGKey(1)))
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        jax.block_until_ready(run(states, jax.random.PRNGKey(2)))
        out[f"mjx_{batch}_steps_per_s"] = 20 * batch / (time.perf_counter() - t0)
        out[f"mjx_{batch}_first_call_s"] = first
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--envs", default="gym-hopper-v5,gym-halfcheetah-v5,gym-walker2d-v5,gym-ant-v5")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--policy", choices=("linear", "expert"), default="linear",
                   help="the episodes' policy: a fixed linear one, or the trained expert shipped with jaxil/<env>/expert-v0")
    p.add_argument("--no-throughput", action="store_true")
    p.add_argument("--tolerance", type=float, default=None,
                   help="both sides' constraint-solver tolerance (default: the model's 1e-8, where C's and MJX's solvers "
                        "can stop at different iterates; 1e-14 solves both to near float64 rounding)")
    p.add_argument("--x64", action="store_true", help="MJX in float64 (C MuJoCo's type); default float32, what training uses")
    a = p.parse_args()
    jax.config.update("jax_enable_x64", a.x64)
    rows = []
    for name in a.envs.split(","):
        env = envs.make(name) if a.tolerance is None else GymMujocoEnv(name, tolerance=a.tolerance)
        row = {"env": name, **step_for_step(env, name, a.steps, 0, a.tolerance),
               **episodes(env, name, a.episodes, a.tolerance, a.policy)}
        if not a.no_throughput:
            row |= throughput(env, name)
        rows.append(row)
        print(f"| {name} | {row['steps']} | {row['obs_err_1']:.1e} | {row['obs_err_10']:.1e} | {row['obs_err_last']:.1e} "
              f"| {row['reward_err_max']:.1e} | {row['terminations_equal']} | {row['max_relative_difference']:.2%} |"
              + ("" if a.no_throughput else f" {row['gymnasium_steps_per_s']:.0f} | {row['mjx_1_steps_per_s']:.0f} | "
                 f"{row['mjx_128_steps_per_s']:.0f} |"), flush=True)
    print(json.dumps({"backend": jax.default_backend(), "dtype": "float64" if a.x64 else "float32",
                      "solver_tolerance": a.tolerance or "the model's", "rows": rows}))


if __name__ == "__main__":
    main()
