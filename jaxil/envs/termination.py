"""Termination rules of the MuJoCo envs, read off jaxil's observations, for learned
models: a model predicts the next observation, and these say whether it is terminal.

They restate Brax's own health checks (``brax/envs/<env>.py``) on the observation
(Brax's observation replaces ``q[1]`` by the torso's world height ``x.pos[0, 2]``, the
height those checks use, and drops the x position):

- hopper: height ``o[0] > 0.7``, torso angle ``−0.2 < o[1] < 0.2``, every other entry
  ``|o[1:]| < 100`` (Brax checks the unclipped joint velocities; the observation clips
  them to ±10, so only a velocity past 100 is invisible here);
- walker2d: ``0.8 < o[0] < 2.0`` and ``−1 < o[1] < 1``;
- ant: ``0.2 ≤ o[0] ≤ 1.0``. Brax checks the torso's kinematic height ``x.pos[0, 2]``,
  which on MJX trails the joint position ``q[2]`` the observation shows by a physics
  substep, so the two disagree within a hair of the bounds (10 of the shipped 48,526
  transitions, all with ``o[0]`` within 0.02 of a bound);
- halfcheetah (and gymnax's pendulum): never.

gymnasium's envs (``gym-*``, :mod:`jaxil.envs.gym_mujoco`, v5 and v4) check the same
bounds, and their observations start the same way (hopper and walker2d: ``qpos[1:]``, so
``o[0]`` is the height and ``o[1]`` the angle; ant: ``qpos[2:]``, so ``o[0]`` is the
height), so the same rules hold. gymnasium's hopper checks ``state_vector()[2:]``, whose
velocities are unclipped, as Brax's does; its ant also asks for a finite state.

``guard`` adds CleanIL's stability guards for imagined states (a model can drift where no
env goes): also terminal when any ``|o| ≥ 100`` or any normalised ``|ô| ≥ 30``. CleanIL's
walker2d guard denormalises with the std where the variance is expected (ô·√σ + μ, its
bug); here every env normalises the same way, ô = (o − μ)/σ.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from jaxil.errors import JaxilError

TerminationFn = Callable[[jax.Array], jax.Array]


def _hopper(o: jax.Array) -> jax.Array:
    healthy = jnp.all(jnp.abs(o[..., 1:]) < 100.0, axis=-1) & (o[..., 0] > 0.7)
    return ~(healthy & (o[..., 1] > -0.2) & (o[..., 1] < 0.2))


def _walker2d(o: jax.Array) -> jax.Array:
    healthy = (o[..., 0] > 0.8) & (o[..., 0] < 2.0) & (o[..., 1] > -1.0) & (o[..., 1] < 1.0)
    return ~healthy


def _ant(o: jax.Array) -> jax.Array:
    return (o[..., 0] < 0.2) | (o[..., 0] > 1.0)


def _never(o: jax.Array) -> jax.Array:
    return jnp.zeros(o.shape[:-1], bool)


def _gym_ant(o: jax.Array) -> jax.Array:
    return _ant(o) | ~jnp.all(jnp.isfinite(o), axis=-1)


RULES: dict[str, TerminationFn] = {"hopper": _hopper, "walker2d": _walker2d, "ant": _ant, "halfcheetah": _never,
                                   "pendulum": _never}  # pendulum episodes only time out
for _v in ("v5", "v4"):
    RULES |= {f"gym-hopper-{_v}": _hopper, f"gym-walker2d-{_v}": _walker2d, f"gym-ant-{_v}": _gym_ant,
              f"gym-halfcheetah-{_v}": _never}


def termination_fn(env_name: str, guard: tuple[jax.Array, jax.Array] | None = None) -> TerminationFn:
    """``terminated(next_obs) -> bool[...]`` for ``env_name``'s observations (any leading
    axes). With ``guard=(obs_mean, obs_std)`` the stability guards are added."""
    if env_name not in RULES:
        raise JaxilError(f"no termination rule for env {env_name!r}; model rollouts support: {', '.join(RULES)}.")
    rule = RULES[env_name]
    if guard is None:
        return rule
    mean, std = (jnp.asarray(x) for x in guard)

    def guarded(o: jax.Array) -> jax.Array:
        unstable = jnp.any(jnp.abs(o) >= 100.0, axis=-1) | jnp.any(jnp.abs((o - mean) / std) >= 30.0, axis=-1)
        return rule(o) | unstable

    return guarded
