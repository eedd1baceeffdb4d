"""Soft Q imitation learning (Reddy, Dragan & Levine 2020).

No reward model at all: every batch is half expert transitions with reward 1 and half
the agent's own transitions with reward 0, and an off-policy RL update does the rest.
The constant rewards make the agent return to expert states and stay there.

    batch = {(s, a, 1, s') from the expert} ∪ {(s, a, 0, s') from the replay buffer}

The solver is SAC for continuous actions and double DQN for discrete ones (imitation's
default), picked from the env unless ``solver`` names one; the state holds the solver's
learner, and ``update`` is the solver's update on the SQIL batch. Terminations still stop the
bootstrap, as in the paper; the env's own rewards stay in the buffer, unused.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxil.data import replay
from jaxil.data.datasets import ExpertData, sample
from jaxil.envs.core import Env, EnvSpec
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference
from jaxil.il.offline import check_expert_data
from jaxil import configs
from jaxil.configs import static
from jaxil.loop import Train
from jaxil.rl import dqn, offpolicy, sac, solvers
from jaxil.types import Transition, check_pair, concat

SOLVERS = ("auto", "sac", "dqn")


@struct.dataclass
class Config(offpolicy.LoopConfig):
    """SQIL. Float fields may be arrays (a sweep is a vmap over configs). The loop's sizes
    come from :class:`offpolicy.LoopConfig`."""

    solver: str = static("auto")
    """"sac", "dqn", or "auto" (SAC for continuous actions, DQN for discrete)."""
    gamma: float = 0.99
    """discount."""
    lr: float = 3e-4
    """learning rate of every network (SAC actor, critic, temperature; the Q-network)."""
    init_alpha: float = 1.0
    """SAC: initial temperature (learned towards entropy −act_dim)."""
    tau: float = 0.005
    """SAC: polyak rate of the target critic."""
    eps_end: float = 0.05
    """DQN: final exploration rate (from 1, over the first quarter of the run)."""
    target_update_every: int = static(500)
    """DQN: updates between target-network copies."""
    hidden: tuple[int, ...] = static((256, 256, 256))
    """hidden widths of the networks."""
    activation: str = static("silu")
    """activation of the networks."""
    batch_size: int = static(256)
    """rows per update, ``expert_fraction`` of them expert rows."""
    expert_fraction: float = static(0.5)
    """share of expert rows (reward 1) in each batch."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.solver not in SOLVERS:
            raise JaxilError(f"solver must be one of {SOLVERS}, got {self.solver!r}.")
        if not 0.0 < self.expert_fraction < 1.0:
            raise JaxilError(f"expert_fraction must be in (0, 1), got {self.expert_fraction}.")
        offpolicy.check_config(self, self.batch_size)

    def solver_config(self, discrete: bool) -> sac.Config | dqn.Config:
        loop = dict(gamma=self.gamma, hidden=self.hidden, activation=self.activation, batch_size=self.batch_size,
                    **self.loop_fields())
        if self.solver == "dqn" or (self.solver == "auto" and discrete):
            return dqn.Config(lr=self.lr, eps_end=self.eps_end, target_update_every=self.target_update_every, **loop)
        return sac.Config(actor_lr=self.lr, critic_lr=self.lr, alpha_lr=self.lr, init_alpha=self.init_alpha,
                          tau=self.tau, **loop)


def sqil_batch(expert: Transition, agent: Transition) -> Transition:
    """The expert rows with reward 1, the agent's rows with reward 0, in one batch."""
    return concat(expert.replace(reward=jnp.ones_like(expert.reward)),
                  agent.replace(reward=jnp.zeros_like(agent.reward)))


def solver_name(config: Config, spec: EnvSpec) -> str:
    """The solver ``config.solver`` picks for ``spec`` ("auto": DQN for discrete actions)."""
    return "dqn" if config.solver == "dqn" or (config.solver == "auto" and spec.discrete) else "sac"


@struct.dataclass
class State:
    learner: Any  # the solver's learner: sac.State or dqn.State
    config: Config
    solver: str = struct.field(pytree_node=False, default="sac")


def init(key: jax.Array, config: Config, spec: EnvSpec) -> State:
    configs.check_type(config, Config, "sqil.init")
    name = solver_name(config, spec)
    solver_config = config.solver_config(spec.discrete)
    return State(solvers.solver(name).init(key, solver_config, spec), config, name)


def policy(state: State, obs: jax.Array):
    """π(·|s) of the solver (SAC's tanh-Gaussian, or DQN's ε-greedy whose mode is greedy)."""
    return solvers.solver(state.solver).policy(state.learner, obs)


def update(state: State, batch: tuple[Transition, Transition]) -> tuple[State, dict[str, jax.Array]]:
    """One solver update on ``batch = (expert rows, agent rows)`` relabeled by :func:`sqil_batch`."""
    expert, agent = check_pair(batch, state.learner.spec, ("expert", "agent"))
    learner, metrics = solvers.solver(state.solver).update(state.learner, sqil_batch(expert, agent))
    return state.replace(learner=learner), metrics


def make_train(config: Config, data: ExpertData, env: Env, reference: Reference | None = None) -> Train:
    """``train(key) -> (state, metrics)``: ``config.steps`` env steps of SQIL on ``env``."""
    configs.check_type(config, Config, "sqil.make_train")
    spec = env.spec
    if solver_name(config, spec) == "sac":
        check_expert_data(data, env, "SQIL with SAC", continuous=True)
    else:
        check_expert_data(data, env, "SQIL")
        if not spec.discrete:
            raise JaxilError(f"SQIL's DQN solver needs discrete actions; env {spec.name!r} is continuous (use solver sac).")
    n_expert = round(config.expert_fraction * config.batch_size)

    def learn(state: State, buffer: replay.ReplayBuffer, key: jax.Array):
        k_e, k_r = jax.random.split(key)
        return update(state, (sample(k_e, data.train, n_expert), replay.sample(k_r, buffer, config.batch_size - n_expert)))

    return offpolicy.make_train(
        config.solver_config(spec.discrete), env, init_learner=lambda key: init(key, config, spec), learn=learn,
        policy_fn=policy, reference=reference, heldout=data.heldout,
    )
