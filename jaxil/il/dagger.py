"""DAgger, dataset aggregation (Ross, Gordon & Bagnell 2011).

Behavioral cloning trains on the expert's states only, so a small mistake leads the
learner to states the expert never showed it, where its mistakes compound. DAgger lets the
expert label the states the *learner* visits: in round i, every env step acts with the
expert with probability β_i and with the learner otherwise; the expert labels every visited
state; the labels join one aggregated dataset, on which BC trains before the next round.

    round i:  a_t = a_E(s_t) w.p. β_i, else a_t ~ π_θ(·|s_t);   D ← D ∪ {(s_t, a_E(s_t))}
              θ ← BC on D (``updates_per_round`` steps of BC's loss, ``jaxil.il.bc``)

β schedules as imitation's: "linear", β_i = min(1, max(0, (R − i)/R)) with R =
``rampdown_rounds``; "exponential", β_i = ``beta_decay``^i. The expert is any pure function
``obs -> action`` (deterministic; e.g. the mode of a shipped expert's policy), queried
inside the compiled loop, so rounds, labelling and learning are one ``lax.scan``, vmapped
over seeds. The aggregated dataset is a FIFO buffer of ``buffer_size`` labelled states (by
default it holds the whole run). Every env step uses one expert label: the metrics report
``expert_labels``, the labels used so far.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from flax import struct

from jaxil import configs
from jaxil.configs import static
from jaxil.data import replay
from jaxil.data.datasets import ExpertData
from jaxil.envs.core import Env, EnvSpec
from jaxil.envs.rollout import step_envs
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference
from jaxil.il import bc
from jaxil.loop import Train, chunking
from jaxil.rl import offpolicy
from jaxil.types import Transition, check_obs_stats, example_transition

SCHEDULES = ("linear", "exponential")
ExpertPolicy = Callable[[jax.Array], jax.Array]  # obs (B, obs_dim) -> expert actions (B, ...)


@struct.dataclass
class Config(configs.Config):
    """DAgger. Float fields may be arrays (a sweep is a vmap over configs). The β schedule's
    default is imitation's (linear over 15 rounds); BC's settings are BC's defaults."""

    beta_schedule: str = static("linear")
    """"linear" (β from 1 to 0 over ``rampdown_rounds``) or "exponential" (β = beta_decay^round)."""
    rampdown_rounds: int = static(15)
    """linear schedule: rounds until the learner acts alone."""
    beta_decay: float = 0.5
    """exponential schedule: β of round i is beta_decay^i."""
    num_envs: int = static(4)
    """parallel environments."""
    round_steps: int = static(250)
    """env steps per env per round: a round labels num_envs · round_steps states."""
    updates_per_round: int = static(1000)
    """BC updates on the aggregated dataset after each round."""
    steps: int = static(100_000)
    """total env steps, i.e. expert labels (a multiple of num_envs · round_steps)."""
    eval_every: int = static(10_000)
    """env steps between evaluations (a multiple of num_envs · round_steps)."""
    eval_episodes: int = static(20)
    """evaluation episodes per evaluation, run in parallel."""
    buffer_size: int = static(1_000_000)
    """capacity of the aggregated dataset (FIFO; the default holds any usual run)."""
    # BC
    lr: float = 1e-3
    """BC's Adam learning rate (constant: the dataset grows between rounds)."""
    l2_weight: float = 0.0
    """BC's weight of ‖θ‖²/2."""
    ent_weight: float = 0.0
    """BC's entropy bonus."""
    batch_size: int = static(64)
    """labelled states per BC update (sampled with replacement)."""
    hidden: tuple[int, ...] = static((256, 256))
    """hidden widths of the policy."""
    activation: str = static("relu")
    """activation of the policy."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.beta_schedule not in SCHEDULES:
            raise JaxilError(f"beta_schedule must be one of {SCHEDULES}, got {self.beta_schedule!r}.")
        per_round = self.num_envs * self.round_steps
        for name in ("steps", "eval_every"):
            if getattr(self, name) % per_round:
                raise JaxilError(f"{name} ({getattr(self, name)}) must be a multiple of num_envs · round_steps "
                                 f"({per_round}): whole rounds.")
        chunking(self.steps, self.eval_every)
        if self.buffer_size < per_round:
            raise JaxilError(f"buffer_size ({self.buffer_size}) must hold at least one round ({per_round} states).")

    @property
    def rounds(self) -> int:
        return self.steps // (self.num_envs * self.round_steps)

    def bc_config(self) -> bc.Config:
        """The BC learner inside: its loss and optimizer (its own loop sizes are not used)."""
        updates = self.rounds * self.updates_per_round
        return bc.Config(lr=self.lr, l2_weight=self.l2_weight, ent_weight=self.ent_weight, lr_schedule="constant",
                         batch_size=self.batch_size, hidden=self.hidden, activation=self.activation,
                         steps=updates, eval_every=updates)


def beta(config: Config, round_index: jax.Array) -> jax.Array:
    """β of round ``round_index`` (0-based): the probability that the expert acts."""
    i = jnp.asarray(round_index, jnp.float32)
    if config.beta_schedule == "linear":
        r = config.rampdown_rounds
        return jnp.clip((r - i) / r, 0.0, 1.0)
    return jnp.power(config.beta_decay, i)


@struct.dataclass
class State:
    learner: bc.State
    round: jax.Array  # rounds completed
    config: Config


def init(key: jax.Array, config: Config, spec: EnvSpec, obs_mean: jax.Array, obs_std: jax.Array) -> State:
    configs.check_type(config, Config, "dagger.init")
    return State(bc.init(key, config.bc_config(), spec, obs_mean, obs_std), jnp.zeros((), jnp.int32), config)


def policy(state: State, obs: jax.Array):
    """π_θ(·|s), the cloned policy, on raw observations."""
    return bc.policy(state.learner, obs)


def update(state: State, batch: Transition) -> tuple[State, dict[str, jax.Array]]:
    """One BC update on expert-labelled states."""
    learner, metrics = bc.update(state.learner, batch)
    return state.replace(learner=learner), metrics


def check_expert(expert: ExpertPolicy, spec: EnvSpec) -> None:
    """The expert must map a batch of observations to a batch of this env's actions."""
    try:
        out = jax.eval_shape(expert, jax.ShapeDtypeStruct((2, spec.obs_dim), jnp.float32))
    except Exception as err:  # any failure here means the function does not fit the env
        raise JaxilError(f"the expert policy fails on a batch of {spec.name!r} observations (2, {spec.obs_dim}): "
                         f"{err}") from err
    want = (2,) + spec.action_shape
    if getattr(out, "shape", None) != want:
        raise JaxilError(f"the expert policy returns actions of shape {getattr(out, 'shape', out)} for 2 observations; "
                         f"env {spec.name!r} needs {want}. Pass obs (B, {spec.obs_dim}) -> actions {want[1:] or 'ints'}.")


def make_train(config: Config, expert: ExpertPolicy, env: Env, reference: Reference | None = None,
               data: ExpertData | None = None) -> Train:
    """``train(key) -> (state, metrics)``: ``config.steps`` expert-labelled env steps of
    DAgger, in rounds, evaluated every ``config.eval_every``. ``data``, if given, only
    supplies observation statistics and held-out expert transitions for the metrics (none of
    its labels are used)."""
    configs.check_type(config, Config, "dagger.make_train")
    spec, n = env.spec, config.num_envs
    check_expert(expert, spec)
    if data is not None:
        check_obs_stats(spec, data.obs_mean, data.obs_std)
        obs_mean, obs_std, heldout = data.obs_mean, data.obs_std, data.heldout
    else:
        obs_mean, obs_std, heldout = jnp.zeros(spec.obs_dim), jnp.ones(spec.obs_dim), None
    label = lambda obs: expert(obs).astype(spec.action_dtype)  # noqa: E731

    def init_fn(key: jax.Array) -> offpolicy.TrainState:
        k_agent, k_env, k_run = jax.random.split(key, 3)
        env_state, obs = jax.vmap(env.reset)(jax.random.split(k_env, n))
        return offpolicy.TrainState(
            init(k_agent, config, spec, obs_mean, obs_std), replay.init(config.buffer_size, example_transition(spec)),
            env_state, obs, jnp.zeros(n), jnp.zeros(()), jnp.zeros((), jnp.int32), k_run,
        )

    def env_step(ts: offpolicy.TrainState, b: jax.Array):
        """Every env steps once, the expert acting w.p. β; the visited states join D with the expert's labels."""
        key, k_coin, k_act, k_env = jax.random.split(ts.key, 4)
        expert_action = label(ts.obs)
        learner_action = policy(ts.agent, ts.obs).sample(seed=k_act)
        use_expert = jax.random.uniform(k_coin, (n,)) < b
        choose = use_expert.reshape((n,) + (1,) * (expert_action.ndim - 1))
        ts, t = step_envs(env, ts, jnp.where(choose, expert_action, learner_action), k_env)
        buffer = replay.add(ts.buffer, t.replace(action=expert_action))
        return ts.replace(buffer=buffer, key=key), jnp.mean(use_expert.astype(jnp.float32))

    def learn_once(carry, k):
        agent, buffer = carry
        agent, metrics = update(agent, replay.sample(k, buffer, config.batch_size))
        return (agent, buffer), metrics

    def step(ts: offpolicy.TrainState):
        """One round: roll out with the β-mixture, label, then BC on everything labelled so far."""
        b = beta(config, ts.agent.round)
        ts, expert_share = jax.lax.scan(lambda s, _: env_step(s, b), ts, None, config.round_steps)
        key, k_learn = jax.random.split(ts.key)
        (agent, _), metrics = jax.lax.scan(learn_once, (ts.agent, ts.buffer), jax.random.split(k_learn, config.updates_per_round))
        agent = agent.replace(round=agent.round + 1)
        ts = ts.replace(agent=agent, key=key, iteration=ts.iteration + config.round_steps)
        return ts, jax.tree.map(jnp.mean, metrics) | {
            "beta": b, "expert_share": jnp.mean(expert_share), "train_return": ts.last_return}

    evaluator = offpolicy.evaluator(config, env, policy, reference, heldout)

    def evaluate(ts: offpolicy.TrainState, key: jax.Array) -> dict[str, jax.Array]:
        m = evaluator(ts, key)
        return m | {"expert_labels": m["env_steps"]}  # every visited state was labelled
    per_round = n * config.round_steps
    num_chunks, steps_per_chunk = chunking(config.steps // per_round, config.eval_every // per_round)
    return Train(init=init_fn, step=step, evaluate=evaluate, num_chunks=num_chunks, steps_per_chunk=steps_per_chunk,
                 learner=lambda ts: ts.agent)
