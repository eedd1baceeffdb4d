"""Environments: ``make(name)`` gives a pure env (see ``jaxil.envs.core``)."""

from __future__ import annotations

import ctypes.util
import functools
import os
import sys

from jaxil.envs.core import Env, EnvSpec, Step, random_action, select_tree
from jaxil.errors import JaxilError

# MuJoCo picks its OpenGL platform when it is imported; without a display only EGL (or
# OSMesa) can draw, so headless machines render (``BraxEnv.render``) only if this is set
# first. Only where libEGL exists: elsewhere the setting would break mujoco's import.
if sys.platform == "linux" and "DISPLAY" not in os.environ and ctypes.util.find_library("EGL"):
    os.environ.setdefault("MUJOCO_GL", "egl")

GYMNAX_IDS = {
    "pendulum": "Pendulum-v1",
    "cartpole": "CartPole-v1",
    "mountaincar": "MountainCar-v0",
    "mountaincar-continuous": "MountainCarContinuous-v0",
    "acrobot": "Acrobot-v1",
}
BRAX_ENVS = ("hopper", "halfcheetah", "walker2d", "ant")
# gymnasium's own MuJoCo locomotion envs on MJX, step for step (jaxil.envs.gym_mujoco.TASKS)
GYM_MUJOCO_ENVS = ("gym-hopper-v5", "gym-halfcheetah-v5", "gym-walker2d-v5", "gym-ant-v5", "gym-hopper-v4",
                   "gym-halfcheetah-v4", "gym-walker2d-v4", "gym-ant-v4")
GYM_MUJOCO_BACKENDS = ("mjx", "mjx-fast")  # the model's solver settings, or 1 iteration / 4 line-search steps
TABULAR_ENVS = ("cliffworld", "random-mdp")  # jaxil.envs.tabular.NAMED
ENV_NAMES = tuple(GYMNAX_IDS) + BRAX_ENVS + GYM_MUJOCO_ENVS + TABULAR_ENVS


@functools.cache
def make(name: str, backend: str | None = None, max_episode_steps: int | None = None) -> Env:
    """The env called ``name`` (one of ``ENV_NAMES``); ``backend`` picks Brax physics;
    ``max_episode_steps`` replaces the env's own episode step limit (classic control and
    MuJoCo)."""
    horizon = max_episode_steps
    if horizon is not None and (isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1):
        raise JaxilError(f"max_episode_steps must be a whole number ≥ 1 (--max-episode-steps), got {horizon!r}.")
    if horizon is not None and name in TABULAR_ENVS:
        raise JaxilError(f"env {name!r} is a tabular MDP whose horizon is part of the MDP (TabularMDP.horizon, "
                         "which its exact occupancies use); it takes no --max-episode-steps.")
    if name in GYMNAX_IDS:
        if backend not in (None, "gymnax"):
            raise JaxilError(
                f"env {name!r} is a gymnax classic-control env and has no backend "
                f"{backend!r}; leave --backend unset."
            )
        from jaxil.envs.gymnax_envs import GymnaxEnv

        return GymnaxEnv(name, GYMNAX_IDS[name], horizon)
    if name in BRAX_ENVS:
        from jaxil.envs.brax_envs import BACKENDS, BraxEnv

        if backend is not None and backend not in BACKENDS:
            raise JaxilError(
                f"unknown Brax backend {backend!r} for env {name!r}; choose one of {BACKENDS}."
            )
        return BraxEnv(name, backend, horizon)
    if name in GYM_MUJOCO_ENVS:
        from jaxil.envs.gym_mujoco import GymMujocoEnv

        if backend not in (None, *GYM_MUJOCO_BACKENDS):
            raise JaxilError(f"env {name!r} is gymnasium's model on MJX; its backends are {GYM_MUJOCO_BACKENDS} "
                             f"(mjx-fast: 1 solver iteration, 4 line-search steps), not {backend!r}.")
        return GymMujocoEnv(name, horizon, fast=backend == "mjx-fast")
    if name in TABULAR_ENVS:
        from jaxil.envs.tabular import TabularEnv, named_mdp

        if backend not in (None, "tabular"):
            raise JaxilError(f"env {name!r} is a tabular MDP and has no backend {backend!r}; leave --backend unset.")
        return TabularEnv(named_mdp(name), name)
    raise JaxilError(f"unknown env {name!r}; choose one of: {', '.join(ENV_NAMES)}.")


__all__ = ["ENV_NAMES", "GYM_MUJOCO_ENVS", "TABULAR_ENVS", "Env", "EnvSpec", "Step", "make", "random_action", "select_tree"]
