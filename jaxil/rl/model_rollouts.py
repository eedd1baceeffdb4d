"""Imagined rollouts in a learned model (MBPO, MOPO, RAMBO and the model-based IRL
family), with fixed shapes inside jit: rows are never dropped, a ``live`` mask says which
to write (``replay.add(buffer, rows, keep=live)``).

From N start states, ``horizon`` steps: a ~ π(·|s); (s′, r) from one elite per row
(:func:`jaxil.rl.dynamics.step`, or every member with ``penalty=True`` for MOPO's
uncertainty u); ``terminated`` = the env's rule on s′, sticky (a terminal row stays
terminal). A row stops being live:

- ``prune="terminated"`` (MBPO, MOPO): after its terminal step (that step is written);
- ``prune="bound"`` (RAMBO, OMLIRL, RMIRL): from the first step whose s′ leaves
  |ŝ′| < ``bound`` in standardised units (that step is not written); terminated rows keep
  rolling, written with their sticky flag.

Under both rules a step whose prediction is not finite is not written and its row dies;
the count comes back so a caller can stop a diverging model with a clear error
(:func:`nonfinite_problem`, which the driver calls on every chunk's metrics).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxil.errors import JaxilError
from jaxil.rl import dynamics
from jaxil.types import Transition

PRUNING = ("terminated", "bound")
NONFINITE_LIMIT = 0.01
"""The share of a rollout's rows whose prediction may turn non-finite before a run stops."""


def nonfinite_problem(metrics: dict) -> str | None:
    """What to tell the user when more than :data:`NONFINITE_LIMIT` of the rollout rows
    met a non-finite prediction (metric ``rollout_nonfinite``, a share per rollout,
    averaged over the chunk), else None."""
    share = np.asarray(metrics.get("rollout_nonfinite", 0.0), np.float64).reshape(-1)
    if not np.any(share > NONFINITE_LIMIT):
        return None
    return (f"the dynamics model predicted non-finite states for {100 * share.max():.1f}% of the imagined rows "
            f"(the limit is {100 * NONFINITE_LIMIT:g}%; per seed: {np.round(100 * share, 2).tolist()}%): it "
            "diverges where the policy takes it. Refit the model (more data, more weight decay) or shorten the "
            "imagined horizon")


def rollout(
    key: jax.Array,
    m: dynamics.Model,
    act: Callable[[jax.Array, jax.Array], jax.Array],
    start_obs: jax.Array,
    horizon: int,
    terminated_fn: Callable[[jax.Array], jax.Array],
    prune: str = "terminated",
    bound: float = 30.0,
    penalty: bool = False,
) -> tuple[Transition, jax.Array, dict[str, jax.Array]]:
    """(transitions (horizon, N), live (horizon, N), info) from ``start_obs`` (N, obs).

    ``act(key, obs) -> action`` samples the policy. info: ``nonfinite`` (steps whose
    prediction was not finite), ``stepped`` (horizon, N): the rows that took the step with
    a finite prediction, written or not (a row leaving the bound is not written), and with
    ``penalty`` ``uncertainty`` (horizon, N), MOPO's u(s, a). A model without a reward head
    gives reward 0 (the caller relabels).
    """
    if prune not in PRUNING:
        raise JaxilError(f"prune must be one of {PRUNING}, got {prune!r}.")
    n = start_obs.shape[0]
    obs_mean, obs_std = m.scaler.mean[: m.spec.obs_dim], m.scaler.std[: m.spec.obs_dim]

    def one_step(carry, key):
        obs, alive, terminated, nonfinite = carry
        k_act, k_model = jax.random.split(key)
        action = act(k_act, obs)
        if penalty:
            next_obs, reward, u = dynamics.step_with_uncertainty(m, k_model, obs, action)
        else:
            (next_obs, reward), u = dynamics.step(m, k_model, obs, action), None
        reward = jnp.zeros(n) if reward is None else reward
        finite = jnp.all(jnp.isfinite(next_obs), -1) & jnp.isfinite(reward)
        now_terminal = terminated | terminated_fn(next_obs)
        if prune == "bound":
            inside = jnp.all(jnp.abs((next_obs - obs_mean) / obs_std) < bound, -1)
            written = alive & finite & inside
            still = written
        else:
            written = alive & finite
            still = written & ~now_terminal
        t = Transition(obs, action, reward, next_obs, now_terminal, jnp.zeros(n, bool))
        # a dead row keeps a finite state so later steps stay finite
        next_obs = jnp.where(finite[:, None], next_obs, obs)
        out = (t, written, alive & finite) + ((u,) if penalty else ())
        return (next_obs, still, now_terminal & finite, nonfinite + jnp.sum(alive & ~finite)), out

    init = (start_obs, jnp.ones(n, bool), jnp.zeros(n, bool), jnp.zeros((), jnp.int32))
    (_, _, _, nonfinite), outs = jax.lax.scan(one_step, init, jax.random.split(key, horizon))
    info = {"nonfinite": nonfinite, "stepped": outs[2]}
    if penalty:
        info["uncertainty"] = outs[3]
    return outs[0], outs[1], info
