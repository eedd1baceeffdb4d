"""Preference comparisons: deep RL from preferences (Christiano et al. 2017), imitation's
``PreferenceComparisons`` in one compiled loop.

No demonstrations and no reward: a teacher compares pairs of trajectory fragments of the
agent's own experience, a reward model r_ψ(s, a) learns to explain the answers, and an RL
agent (the generator: SAC or PPO) learns on r_ψ, normalised. Per query round j:

    1. cut fragments of ``fragment_length`` steps from the agent's recent experience (inside
       episodes) and pair them: at random, or actively, the pairs of ``oversampling`` times as
       many on which the reward ensemble's members disagree most (variance of P(a ≻ b));
    2. the teacher labels n_j pairs (``jaxil.il.feedback``: synthetic, from the true reward);
       they join a FIFO dataset of ``dataset_size`` comparisons;
    3. ``reward_updates`` Adam steps (``initial_multiplier`` times as many in round 0) on the
       Bradley–Terry cross-entropy of batches of the dataset, summed over members:
           L(ψ) = −E[y log σ(R̂_a − R̂_b) + (1 − y) log σ(R̂_b − R̂_a)],  R̂ = Σ_t r_ψ(s_t, a_t);
    4. the reward's mean and standard deviation on the recent experience are stored: the agent
       learns on (r̄_ψ − mean)/std, r̄_ψ the members' mean.

Rounds are spread evenly over the run, round 0 on the warm-up's (SAC) or the first rollout's
(PPO) experience; the comparisons per round follow the query schedule (imitation's:
``initial_fraction`` in round 0, the rest over the other rounds by "hyperbolic",
"constant" or "inverse_quadratic"). Everything, the teacher included, runs inside the jit,
vmapped over seeds. ``learned_reward`` is the members' mean, unnormalised.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxil import configs
from jaxil.configs import static
from jaxil.data import replay
from jaxil.data.fragments import Comparison, cut_fragments
from jaxil.envs.core import Env, EnvSpec
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference
from jaxil.il import adversarial, feedback
from jaxil.loop import Train
from jaxil.nets.mlp import ensemble_of
from jaxil.nets.rewards import RewardModel, action_features
from jaxil.rl import offpolicy, onpolicy
from jaxil.types import RewardFn, Transition, example_transition

SELECTIONS = ("random", "active")
PAIR_STREAM = 0x70726566  # "pref": the query rounds' own key stream


@struct.dataclass
class Config(adversarial.GeneratorConfig, feedback.Teacher):
    """Preference comparisons. Float fields may be arrays (a sweep is a vmap over configs).
    The generator's settings are GAIL's (:class:`jaxil.il.adversarial.GeneratorConfig`), the
    synthetic teacher's are :class:`jaxil.il.feedback.Teacher`'s (imitation's
    ``SyntheticGatherer``); the queries' defaults are imitation's where it has them."""

    comparisons: int = static(1000)
    """total comparisons the teacher answers over the run."""
    rounds: int = static(10)
    """query rounds after round 0 (which comes before any agent training)."""
    initial_fraction: float = static(0.1)
    """share of the comparisons asked in round 0."""
    query_schedule: str = static("hyperbolic")
    """how the other comparisons spread over the rounds: "hyperbolic", "constant", "inverse_quadratic"."""
    fragment_length: int = static(25)
    """steps per fragment."""
    selection: str = static("random")
    """"random" pairs, or "active": the most disputed among ``oversampling`` times as many."""
    oversampling: int = static(5)
    """active selection: candidate pairs per pair asked."""
    members: int = static(3)
    """reward models in the ensemble (active selection needs ≥ 2)."""
    reward_hidden: tuple[int, ...] = static((64, 64))
    """hidden widths of each reward model."""
    reward_activation: str = static("relu")
    """activation of the reward models."""
    reward_lr: float = 1e-3
    """Adam learning rate of the reward models."""
    reward_batch: int = static(32)
    """comparisons per reward update."""
    reward_updates: int = static(100)
    """reward updates per query round."""
    initial_multiplier: int = static(10)
    """round 0 takes this many times reward_updates (imitation: initial_epoch_multiplier)."""
    dataset_size: int = static(10_000)
    """capacity of the comparison dataset (FIFO)."""
    recent_steps: int = static(1000)
    """SAC: fragments come from the last this many steps of every env."""
    def __post_init__(self) -> None:
        super().__post_init__()
        if self.selection not in SELECTIONS:
            raise JaxilError(f"selection must be one of {SELECTIONS}, got {self.selection!r}.")
        if self.selection == "active" and self.members < 2:
            raise JaxilError("active selection ranks pairs by the disagreement of ≥ 2 reward models; pass "
                             "--members 2 or more, or --selection random.")
        most = int(self.schedule().max())  # its own checks, then: enough distinct fragments per round
        window = self.recent_steps if self.generator == "sac" else self.rollout_steps
        if self.fragment_length > window:
            raise JaxilError(f"fragment_length ({self.fragment_length}) must fit in the experience a round cuts it from "
                             f"({window} steps: {'recent_steps' if self.generator == 'sac' else 'rollout_steps'}).")
        available = self.num_envs * (window - self.fragment_length + 1)
        if 2 * most > available:
            raise JaxilError(f"a round asks up to {most} comparisons, {2 * most} fragments, but only {available} distinct "
                             f"fragments of {self.fragment_length} steps fit in {self.num_envs} envs × {window} steps; ask "
                             "fewer comparisons, spread them over more --rounds, or use shorter fragments.")

    def schedule(self) -> np.ndarray:
        """Comparisons asked in round 0, 1, …, rounds."""
        return feedback.query_schedule(self.query_schedule, self.comparisons, self.rounds, self.initial_fraction)

    def teacher(self) -> feedback.Teacher:
        return feedback.Teacher(**{f.name: getattr(self, f.name) for f in dataclasses.fields(feedback.Teacher)})


def reward_net(config: Config) -> nn.Module:
    """The ensemble: ``members`` reward models r(s, a) in one batched net; output (members, B)."""
    return ensemble_of(RewardModel, config.members)(hidden=config.reward_hidden, activation=config.reward_activation)


@struct.dataclass
class State:
    generator: Any  # the generator solver's learner
    reward_params: chex.ArrayTree
    reward_opt: optax.OptState
    reward_mean: jax.Array  # normalisation of the agent's reward
    reward_std: jax.Array
    dataset: replay.ReplayBuffer  # of Comparison rows
    asked: jax.Array  # comparisons the teacher answered so far
    round: jax.Array  # query rounds done
    updates: jax.Array  # generator updates done
    round_metrics: dict  # the last round's reward loss and accuracy (reported at every step)
    key: jax.Array
    config: Config
    spec: EnvSpec = struct.field(pytree_node=False)


def example_comparison(spec: EnvSpec, length: int) -> Comparison:
    """One unbatched comparison of ``spec``'s shapes (the dataset's row layout)."""
    frag = jax.tree.map(lambda x: jnp.zeros((length,) + x.shape, x.dtype), example_transition(spec))
    return Comparison(frag, frag, jnp.zeros(()), jnp.zeros((), bool))


def init(key: jax.Array, config: Config, spec: EnvSpec) -> State:
    configs.check_type(config, Config, "preference.init")
    k_gen, k_reward, k_run = jax.random.split(key, 3)
    gen = adversarial.generator(config)
    params = reward_net(config).init(k_reward, jnp.zeros((1, spec.obs_dim)), jnp.zeros((1,) + spec_action_shape(spec)))
    return State(
        gen.init(k_gen, config.generator_config(), spec), params, optax.adam(config.reward_lr).init(params),
        jnp.zeros(()), jnp.ones(()), replay.init(config.dataset_size, example_comparison(spec, config.fragment_length)),
        jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32),
        {"reward_loss": jnp.zeros(()), "reward_accuracy": jnp.zeros(())}, k_run, config, spec,
    )


def spec_action_shape(spec: EnvSpec) -> tuple[int, ...]:
    """What the reward model sees of an action: one-hot for discrete actions."""
    return (spec.num_actions,) if spec.discrete else (spec.action_dim,)


def member_rewards(state: State, params, obs: jax.Array, action: jax.Array) -> jax.Array:
    """r_ψ_k(s, a) of every member: (members, ...) for inputs (..., dim)."""
    a = action_features(action, state.spec.num_actions)
    lead = obs.shape[:-1]
    r = reward_net(state.config).apply(params, obs.reshape((-1, obs.shape[-1])), a.reshape((-1, a.shape[-1])))
    return r.reshape((state.config.members,) + lead)


def learned_reward(state: State) -> RewardFn:
    """r(obs, action, next_obs, terminated) = the members' mean r̄_ψ(s, a) (unnormalised)."""
    return lambda obs, action, next_obs, terminated: jnp.mean(member_rewards(state, state.reward_params, obs, action), 0)


def agent_reward(state: State) -> RewardFn:
    """The generator's reward: r̄_ψ standardised by the statistics of the last query round."""
    r = learned_reward(state)
    return lambda *t: (r(*t) - state.reward_mean) / state.reward_std


def policy(state: State, obs: jax.Array):
    """π(·|s) of the generator, on raw observations."""
    return adversarial.generator(state.config).policy(state.generator, obs)


def fragment_returns(state: State, params, frags: Transition) -> jax.Array:
    """R̂ = Σ_t r_ψ_k(s_t, a_t) of each member and fragment: (members, B)."""
    return jnp.sum(member_rewards(state, params, frags.obs, frags.action), -1)


def reward_loss(params, state: State, batch: Comparison) -> tuple[jax.Array, dict]:
    """The Bradley–Terry cross-entropy of the labels, summed over the members."""
    ra, rb = fragment_returns(state, params, batch.a), fragment_returns(state, params, batch.b)
    losses = jax.vmap(lambda a, b: feedback.preference_loss(a, b, batch.label, batch.valid))(ra, rb)
    agree = ((ra - rb > 0) == (batch.label > 0.5)) | (batch.label == 0.5)
    w = batch.valid.astype(jnp.float32)
    accuracy = jnp.sum(jnp.mean(agree, 0) * w) / jnp.maximum(jnp.sum(w), 1.0)
    return jnp.sum(losses), {"reward_loss": jnp.mean(losses), "reward_accuracy": accuracy}


def update_reward(state: State, batch: Comparison) -> tuple[State, dict]:
    grads, metrics = jax.grad(reward_loss, has_aux=True)(state.reward_params, state, batch)
    updates, opt = optax.adam(state.config.reward_lr).update(grads, state.reward_opt, state.reward_params)
    return state.replace(reward_params=optax.apply_updates(state.reward_params, updates), reward_opt=opt), metrics


def select_pairs(state: State, key: jax.Array, experience: Transition, num: int) -> tuple[Comparison, jax.Array]:
    """``num`` pairs of fragments, unlabelled: random, or the most disputed of
    ``oversampling``·num candidates (variance over members of P(a ≻ b))."""
    cfg = state.config
    candidates = num * (cfg.oversampling if cfg.selection == "active" else 1)
    k_a, k_b = jax.random.split(key)
    a, ok = cut_fragments(k_a, experience, cfg.fragment_length, candidates)
    b, _ = cut_fragments(k_b, experience, cfg.fragment_length, candidates)
    if cfg.selection == "active":
        p = feedback.preference_probability(fragment_returns(state, state.reward_params, a),
                                            fragment_returns(state, state.reward_params, b))
        _, top = jax.lax.top_k(jnp.var(p, 0), num)
        a, b = jax.tree.map(lambda x: x[top], a), jax.tree.map(lambda x: x[top], b)
    return Comparison(a, b, jnp.zeros(num), jnp.ones(num, bool)), ok


def query_round(state: State, experience: Transition) -> State:
    """One round on ``experience`` ((T, n) steps with their true rewards): select pairs, have
    the teacher label this round's share of them, add them to the dataset, train the reward,
    re-standardise the agent's reward on the experience."""
    cfg = state.config
    schedule = cfg.schedule()
    most = int(schedule.max())
    key, k_pairs, k_teach, k_train = jax.random.split(state.key, 4)
    pairs, ok = select_pairs(state, k_pairs, experience, most)
    label, valid = feedback.teach(k_teach, cfg.teacher(), pairs.a.reward, pairs.b.reward)
    asked_now = jnp.asarray(schedule)[jnp.minimum(state.round, len(schedule) - 1)] * ok
    keep = jnp.arange(most) < asked_now
    labelled = Comparison(pairs.a, pairs.b, label, valid).without_rewards()
    dataset = replay.add(state.dataset, labelled, keep=keep)
    state = state.replace(dataset=dataset, asked=state.asked + asked_now, key=key)

    # round 0 fits a fresh model: initial_multiplier times the updates
    state = jax.lax.cond(state.round == 0, lambda s: train_reward(s, k_train, cfg.reward_updates * cfg.initial_multiplier),
                         lambda s: train_reward(s, k_train, cfg.reward_updates), state)
    r = learned_reward(state)(experience.obs, experience.action, experience.next_obs, experience.terminated)
    return state.replace(reward_mean=jnp.mean(r), reward_std=jnp.std(r) + 1e-6, round=state.round + 1)


def train_reward(state: State, key: jax.Array, steps: int) -> State:
    """``steps`` reward updates on batches of the comparison dataset; the last one's loss and
    accuracy become ``round_metrics``."""

    def step(s, k):
        return update_reward(s, replay.sample(k, s.dataset, s.config.reward_batch))

    state, metrics = jax.lax.scan(step, state, jax.random.split(key, steps))
    return state.replace(round_metrics={k: v[-1] for k, v in metrics.items()})


def add_comparisons(state: State, comparisons: Comparison) -> State:
    """Labelled pairs from elsewhere (e.g. a person's, ``jaxil.data.fragments.import_labels``)
    into the dataset; skipped ones are kept but never trained on. Then :func:`train_reward`."""
    return state.replace(dataset=replay.add(state.dataset, comparisons.without_rewards()), asked=state.asked + jnp.sum(comparisons.valid))


def recent_experience(buffer: replay.ReplayBuffer, num_envs: int, steps: int) -> Transition:
    """The last ``steps`` steps of every env from a replay buffer written ``num_envs`` rows per
    step (the off-policy loop's layout): leaves (steps, num_envs, ...), oldest first; steps not
    yet written (early in a run) come out as episode ends, so no fragment crosses them."""
    t = jnp.arange(steps)
    rows = (buffer.pos - (steps - t)[:, None] * num_envs + jnp.arange(num_envs)) % buffer.capacity
    exp = buffer.layout.unpack(buffer.rows[rows.reshape(-1)])
    exp = jax.tree.map(lambda x: x.reshape((steps, num_envs) + x.shape[1:]), exp)
    written = (steps - t)[:, None] * num_envs <= buffer.size
    return exp.replace(truncated=exp.truncated | ~written)


def update(state: State, batch: Transition | onpolicy.Rollout) -> tuple[State, dict[str, jax.Array]]:
    """One generator update on ``batch`` (replay rows for SAC, a rollout for PPO) with its
    rewards relabeled by the standardised learned reward."""
    batch = adversarial.relabel_batch(batch, agent_reward(state))
    generator, metrics = adversarial.generator(state.config).update(state.generator, batch)
    return state.replace(generator=generator, updates=state.updates + 1), metrics


def make_train(config: Config, env: Env, reference: Reference | None = None) -> Train:
    """``train(key) -> (state, metrics)``: ``config.steps`` env steps of the generator on the
    learned reward, with ``config.rounds`` + 1 query rounds spread over them."""
    configs.check_type(config, Config, "preference.make_train")
    spec, gen_config = env.spec, config.generator_config()
    if config.generator == "sac" and spec.discrete:
        raise JaxilError(f"the SAC generator needs continuous actions; env {spec.name!r} is discrete (--generator ppo).")

    def with_round(state: State, due: jax.Array, experience_fn) -> State:
        return jax.lax.cond(due, lambda s: query_round(s, experience_fn()), lambda s: s, state)

    def reported(state: State, metrics: dict) -> dict:
        return metrics | state.round_metrics | {"comparisons": state.asked.astype(jnp.float32)}

    if config.generator == "sac":
        # rounds at updates 0, p, …, rounds·p: all of them inside the run
        period = max(1, config.steps // config.num_envs * config.updates_per_step // (config.rounds + 1))

        def learn(state: State, buffer: replay.ReplayBuffer, key: jax.Array):
            # round 0 on the warm-up's experience, then one round every `period` updates
            due = (state.updates % period == 0) & (state.round <= config.rounds)
            state = with_round(state, due, lambda: recent_experience(buffer, config.num_envs, config.recent_steps))
            state, metrics = update(state, replay.sample(key, buffer, gen_config.batch_size))
            return state, reported(state, metrics)

        return offpolicy.make_train(gen_config, env, init_learner=lambda key: init(key, config, spec), learn=learn,
                                    policy_fn=policy, reference=reference)

    period = max(1, config.steps // (config.num_envs * config.rollout_steps) // (config.rounds + 1))

    def learn_ppo(state: State, rollout: onpolicy.Rollout):
        due = (state.updates % period == 0) & (state.round <= config.rounds)
        state = with_round(state, due, lambda: rollout.transition)
        state, metrics = update(state, rollout)
        return state, reported(state, metrics)

    return onpolicy.make_train(gen_config, env, init_learner=lambda key: init(key, config, spec), learn=learn_ppo,
                               policy_fn=policy, reference=reference)
