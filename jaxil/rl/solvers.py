"""jaxil's RL solvers by name: the one table that imitation learners (GAIL's and AIRL's
generator, SQIL's solver) and experts pick a solver from.

Each solver module provides ``Config``, ``init(key, config, spec)``, ``update(state,
batch)``, ``policy(state, obs)``, ``make_train(config, env, reference, reward_fn)``,
``acting_params(state)`` / ``with_acting_params(state, params)`` (what acting reads, as a
saved policy stores it) and ``MAXIMUM_ENTROPY`` (whether its objective adds α·H[π]
itself, so a reward needs no −log π term of its own).
"""

from __future__ import annotations

from types import ModuleType

from jaxil.errors import JaxilError
from jaxil.rl import a2c, dqn, ppo, sac

SOLVERS: dict[str, ModuleType] = {"sac": sac, "ppo": ppo, "a2c": a2c, "dqn": dqn}


def solver(name: str, among: tuple[str, ...] = tuple(SOLVERS)) -> ModuleType:
    """The solver module called ``name``, one of ``among``."""
    if name not in among:
        raise JaxilError(f"unknown solver {name!r}; choose one of: {', '.join(among)}.")
    return SOLVERS[name]
