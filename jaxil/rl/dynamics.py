"""Learned dynamics: a Gaussian ensemble fitted to transitions (Chua et al. 2018, as
MBPO, MOPO and CleanIL use it), and what model-based algorithms ask of it.

Each of K members models y = [(s′ − s)/σ_s, r] (or the state part alone) as
N(μ_k(s, a), diag e^{lv_k(s, a)}), its inputs [s, a] standardised by a scaler fitted on the
training rows, σ_s the scaler's observation std (the change in the state is learned in
standardised units, the reward raw). The loss of one step, member k on its own minibatch:

    L = mean_k mean_b mean_d [(μ − y)² e^{−lv} + lv]             (Gaussian NLL, no constant)
        + w_b mean_k Σ_d (max_lv_k − min_lv_k)                   (keeps the soft bounds tight)
        + Σ_l c_l ‖W_l‖² / 2                                     (per-layer weight decay)

Training (one ``step`` = one epoch): a hold-out set of min(20%, 1000) random rows is set
aside; every epoch each member sees its own permutation of the training rows in
minibatches (the last partial one dropped). After each epoch a member's weights are kept
as its best when its hold-out MSE improves by more than ``improvement`` (relative);
training stops when no member has improved for more than ``patience`` epochs. The model
(:func:`model`) is every member at its best weights, elites = the ``elites`` members with
the lowest hold-out MSE of those weights.

Where CleanIL differs (§8 of the reference notes), on purpose: elites are ranked by the
hold-out error of the weights actually used (CleanIL ranks by the last epoch's); each
member's log-variance bounds are its own and restored with it (CleanIL shares them and
does not restore them); expert rows keep their rewards (CleanIL zeroes them before
fitting, so its reward head learns r = 0 there); hold-out by MSE, as MBPO (CleanIL: MAE).

``update(state, batch)`` takes a batch with a leading member axis, (members, B).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxil import configs
from jaxil.configs import static
from jaxil.envs.core import EnvSpec
from jaxil.errors import JaxilError
from jaxil.loop import Train, chunking
from jaxil.nets.dynamics import GaussianEnsemble, ensemble_kernels
from jaxil.types import Transition, check_batch


@struct.dataclass
class Config(configs.Config):
    """The ensemble and its training. CleanIL's defaults (7 members, 5 elites, 3×200
    SiLU, lr 3e-4, batch 256, up to 500 epochs, patience 10)."""

    members: int = static(7)
    """ensemble members."""
    elites: int = static(5)
    """members a rollout samples from: the lowest hold-out MSE."""
    hidden: tuple[int, ...] = static((200, 200, 200))
    """hidden widths of each member."""
    activation: str = static("silu")
    """activation of each member."""
    predict_reward: bool = static(True)
    """model the reward too (y = [Δs, r]); IL algorithms learn their own reward."""
    min_std: float = static(0.04)
    """initial lower bound of the predicted std (standardised units)."""
    max_std: float = static(1.6)
    """initial upper bound of the predicted std."""
    lr: float = 3e-4
    """Adam learning rate."""
    weight_decay: tuple[float, ...] = static((2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4))
    """decay c_l per layer, input layer first (the first len(hidden) + 1 are used)."""
    bound_weight: float = 0.001
    """weight w_b of the log-variance bound term."""
    max_grad_norm: float = 1000.0
    """global gradient-norm clip."""
    batch_size: int = static(256)
    """rows per member per update."""
    holdout_ratio: float = static(0.2)
    """share of the rows held out (at most ``max_holdout``)."""
    max_holdout: int = static(1000)
    """most rows held out."""
    improvement: float = 0.01
    """relative hold-out improvement that counts as better."""
    patience: int = static(10)
    """epochs without any member improving after which training stops."""
    steps: int = static(500)
    """most epochs."""
    eval_every: int = static(10)
    """epochs per chunk (the driver's checkpoint and log interval)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.elites > self.members:
            raise JaxilError(f"elites ({self.elites}) cannot exceed members ({self.members}); pass --elites ≤ --members.")
        if not 0.0 < self.min_std < self.max_std:
            raise JaxilError(f"need 0 < min_std < max_std, got {self.min_std} and {self.max_std}.")
        if len(self.weight_decay) < len(self.hidden) + 1:
            raise JaxilError(f"weight_decay needs one value per layer ({len(self.hidden) + 1}), got {self.weight_decay}.")
        if not 0.0 < self.holdout_ratio < 1.0:
            raise JaxilError(f"holdout_ratio must be in (0, 1), got {self.holdout_ratio}.")


@struct.dataclass
class Scaler:
    """Standardisation of the model's inputs [s, a]."""

    mean: jax.Array
    std: jax.Array

    def __call__(self, x: jax.Array) -> jax.Array:
        return (x - self.mean) / self.std


@struct.dataclass
class State:
    params: chex.ArrayTree
    opt: optax.OptState
    scaler: Scaler
    best_params: chex.ArrayTree
    best_mse: jax.Array  # (members,) hold-out MSE of each member's best weights
    since_improved: jax.Array  # epochs since any member improved
    epochs: jax.Array  # epochs trained
    stopped: jax.Array
    config: Config
    spec: EnvSpec = struct.field(pytree_node=False)


def net(config: Config, spec: EnvSpec, members: int | None = None, per_member_input: bool = False) -> GaussianEnsemble:
    out_dim = spec.obs_dim + int(config.predict_reward)
    return GaussianEnsemble(members or config.members, tuple(config.hidden), out_dim, config.activation,
                            config.min_std, config.max_std, per_member_input)


def fit_scaler(obs: jax.Array, action: jax.Array, weight: jax.Array | None = None) -> Scaler:
    """Mean and std of the inputs [s, a], over the rows where ``weight`` (0 or 1) is set."""
    x = jnp.concatenate([obs, action], -1)
    if weight is None:
        return Scaler(x.mean(0), jnp.maximum(x.std(0), 1e-6))
    w = (weight / jnp.maximum(weight.sum(), 1))[:, None]
    mean = jnp.sum(w * x, 0)
    return Scaler(mean, jnp.maximum(jnp.sqrt(jnp.sum(w * jnp.square(x - mean), 0)), 1e-6))


def init(key: jax.Array, config: Config, spec: EnvSpec, scaler: Scaler) -> State:
    configs.check_type(config, Config, "dynamics.init")
    if spec.discrete:
        raise JaxilError(f"dynamics models continuous actions; env {spec.name!r} has discrete ones.")
    if jnp.shape(scaler.mean) != (spec.obs_dim + spec.action_dim,):
        raise JaxilError(f"the scaler covers {jnp.shape(scaler.mean)} inputs; env {spec.name!r} has "
                         f"obs {spec.obs_dim} + action {spec.action_dim}.")
    params = net(config, spec).init(key, jnp.zeros((1, spec.obs_dim + spec.action_dim)))
    members = config.members
    return State(params, optimizer(config).init(params), scaler, params, jnp.full(members, jnp.inf),
                 jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32), jnp.zeros((), bool), config, spec)


def optimizer(config: Config) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.lr))


def targets(state: State, batch: Transition) -> jax.Array:
    """y = [(s′ − s)/σ_s, r] (or the state part alone), what the members predict."""
    delta = (batch.next_obs - batch.obs) / state.scaler.std[: state.spec.obs_dim]
    return jnp.concatenate([delta, batch.reward[..., None]], -1) if state.config.predict_reward else delta


def gaussian_nll(mean: jax.Array, logvar: jax.Array, y: jax.Array) -> jax.Array:
    """mean over everything of (μ − y)² e^{−lv} + lv: the Gaussian negative log-likelihood
    without its constant, doubled."""
    return jnp.mean(jnp.square(mean - y) * jnp.exp(-logvar) + logvar)


def bound_penalty(params) -> jax.Array:
    """mean_k Σ_d (max_lv_k − min_lv_k): pulls the soft log-variance bounds together."""
    layers = params["params"]["VmapGaussianMember_0"]
    return jnp.mean(jnp.sum(layers["max_logvar"] - layers["min_logvar"], -1))


def decay_penalty(params, decays: tuple[float, ...]) -> jax.Array:
    """Σ_l c_l ‖W_l‖²/2 over every member's weight matrices (not the biases)."""
    return sum(c * 0.5 * jnp.sum(jnp.square(w)) for c, w in zip(decays, ensemble_kernels(params)))


def model_loss(params, state: State, batch: Transition) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The training loss above on a (members, B) batch: member k reads rows ``batch[k]``."""
    cfg = state.config
    x = state.scaler(jnp.concatenate([batch.obs, batch.action], -1))
    mean, logvar = net(cfg, state.spec, per_member_input=True).apply(params, x)
    y = targets(state, batch)
    nll = gaussian_nll(mean, logvar, y)
    loss = nll + cfg.bound_weight * bound_penalty(params) + decay_penalty(params, cfg.weight_decay)
    return loss, {"model_nll": nll, "model_mse": jnp.mean(jnp.square(mean - y))}


def update(state: State, batch: Transition) -> tuple[State, dict[str, jax.Array]]:
    """One gradient step of every member on its own rows of a (members, B) batch."""
    check_batch(batch, state.spec)
    if jnp.shape(batch.obs)[0] != state.config.members or jnp.ndim(batch.reward) != 2:
        raise JaxilError(f"dynamics.update takes a (members, B) batch, one row set per member "
                         f"({state.config.members}); got obs of shape {jnp.shape(batch.obs)}.")
    (loss, metrics), grads = jax.value_and_grad(model_loss, has_aux=True)(state.params, state, batch)
    updates, opt = optimizer(state.config).update(grads, state.opt, state.params)
    return state.replace(params=optax.apply_updates(state.params, updates), opt=opt), metrics | {"model_loss": loss}


def holdout_mse(params, state: State, rows: Transition, mask: jax.Array | None = None) -> jax.Array:
    """(members,) mean squared error of each member's mean prediction on ``rows`` (those
    where ``mask`` is set)."""
    x = state.scaler(jnp.concatenate([rows.obs, rows.action], -1))
    mean, _ = net(state.config, state.spec).apply(params, x)
    err = jnp.square(mean - targets(state, rows)[None])
    if mask is None:
        return jnp.mean(err, axis=(1, 2))
    return jnp.sum(jnp.where(mask[None, :, None], err, 0.0), (1, 2)) / (jnp.maximum(mask.sum(), 1) * err.shape[-1])


def keep_best(state: State, mse: jax.Array) -> State:
    """Keep each member's weights where its hold-out MSE improved by > ``improvement``
    (relative); count the epochs since any member improved; stop past ``patience``."""
    improved = (state.best_mse - mse) / state.best_mse > state.config.improvement
    improved = improved | ~jnp.isfinite(state.best_mse)

    def pick(new, old):  # every parameter carries the member axis first
        return jnp.where(improved.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)

    since = jnp.where(improved.any(), 0, state.since_improved + 1)
    return state.replace(best_params=jax.tree.map(pick, state.params, state.best_params),
                         best_mse=jnp.where(improved, mse, state.best_mse), since_improved=since,
                         stopped=since > state.config.patience)


def elites(state: State) -> jax.Array:
    """Indices of the ``elites`` members with the lowest hold-out MSE, best first."""
    return jnp.argsort(state.best_mse)[: state.config.elites]


def refit(state: State, key: jax.Array, rows: Transition, count: jax.Array) -> tuple[State, dict[str, jax.Array]]:
    """Fit inside jit to the first ``count`` of ``rows`` (a fixed number R of rows, of
    which ``count`` are real: e.g. a replay buffer's rows in random order), continuing from
    the state's weights, as MBPO refits its model: the first min(⌊ratio·count⌋,
    ``max_holdout``) rows held out, the scaler refitted on the rest, per-member shuffles,
    up to ``config.steps`` epochs with early stopping, every member back at its best
    weights. Epochs and minibatches are loops of traced length, so R stays the only shape."""
    cfg = state.config
    r = rows.obs.shape[0]
    n_hold = jnp.minimum((cfg.holdout_ratio * count).astype(jnp.int32), cfg.max_holdout)
    pos = jnp.arange(r)
    train = (pos >= n_hold) & (pos < count)
    held_rows = min(cfg.max_holdout, r)
    held = jax.tree.map(lambda x: x[:held_rows], rows)
    held_mask = jnp.arange(held_rows) < n_hold
    state = state.replace(scaler=fit_scaler(rows.obs, rows.action, train.astype(jnp.float32)),
                          best_params=state.params, best_mse=jnp.full(cfg.members, jnp.inf),
                          since_improved=jnp.zeros((), jnp.int32), epochs=jnp.zeros((), jnp.int32),
                          stopped=jnp.zeros((), bool))
    batches = (count - n_hold) // cfg.batch_size

    def epoch(carry):
        learner, key = carry
        key, k = jax.random.split(key)
        # each member its own shuffle of the training rows: the others sort last
        order = jnp.argsort(jnp.where(train, jax.random.uniform(k, (cfg.members, r)), 2.0), axis=1)

        def minibatch(b, learner):
            idx = jax.lax.dynamic_slice_in_dim(order, b * cfg.batch_size, cfg.batch_size, axis=1)
            return update(learner, jax.tree.map(lambda x: x[idx], rows))[0]

        learner = jax.lax.fori_loop(0, batches, minibatch, learner)
        mse = holdout_mse(learner.params, learner, held, held_mask)
        return keep_best(learner.replace(epochs=learner.epochs + 1), mse), key

    def running(carry):
        return ~carry[0].stopped & (carry[0].epochs < cfg.steps)

    state, _ = jax.lax.while_loop(running, epoch, (state, key))
    state = state.replace(params=state.best_params)
    return state, {"model_epochs": state.epochs, "holdout_mse": jnp.mean(state.best_mse[elites(state)])}


# --------------------------------------------------------------------------------------
# The model as algorithms use it


@struct.dataclass
class Model:
    """A fitted ensemble at its best weights: what rollouts and penalties take."""

    params: chex.ArrayTree
    scaler: Scaler
    elites: jax.Array  # (elites,) member indices
    config: Config
    spec: EnvSpec = struct.field(pytree_node=False)


def model(state: State) -> Model:
    """The fitted model of a training state (best weights, elites)."""
    return Model(state.best_params, state.scaler, elites(state), state.config, state.spec)


def elites_only(m: Model) -> Model:
    """The model reduced to its elites (what RAMBO and RMIRL train and sample)."""
    e = int(m.elites.shape[0])
    params = jax.tree.map(lambda p: p[m.elites], m.params)
    return Model(params, m.scaler, jnp.arange(e), m.config.replace(members=e, elites=e), m.spec)


def without_reward(m: Model) -> Model:
    """The model with its reward head sliced off (what imitation learners sample: they
    learn the reward themselves, CleanIL's ``remove_reward_head``); unchanged if it has none."""
    if not m.config.predict_reward:
        return m
    d = m.spec.obs_dim  # outputs are [Δs (d), r] means, then the same for log-variances
    keep = jnp.concatenate([jnp.arange(d), d + 1 + jnp.arange(d)])
    layers = dict(m.params["params"]["VmapGaussianMember_0"])
    last = f"Dense_{len(m.config.hidden)}"
    layers[last] = {"kernel": layers[last]["kernel"][..., keep], "bias": layers[last]["bias"][..., keep]}
    layers["min_logvar"], layers["max_logvar"] = layers["min_logvar"][..., :d], layers["max_logvar"][..., :d]
    params = {"params": {"VmapGaussianMember_0": layers}}
    return Model(params, m.scaler, m.elites, m.config.replace(predict_reward=False), m.spec)


def _split(m: Model, sample: jax.Array, obs: jax.Array) -> tuple[jax.Array, jax.Array | None]:
    next_obs = obs + sample[..., : m.spec.obs_dim] * m.scaler.std[: m.spec.obs_dim]
    return next_obs, (sample[..., -1] if m.config.predict_reward else None)


@jax.jit  # one program when called from plain Python, not an ensemble's ops one by one
def step(m: Model, key: jax.Array, obs: jax.Array, action: jax.Array) -> tuple[jax.Array, jax.Array | None]:
    """(next_obs, reward or None) for rows (B, ·), each row from one elite drawn uniformly,
    computing only that member: a random permutation splits the rows evenly among the
    elites (B padded up to a multiple of their number), so shapes stay fixed and each row
    costs one member's forward pass."""
    n, e = obs.shape[0], m.elites.shape[0]
    k_perm, k_noise = jax.random.split(key)
    perm = jax.random.permutation(k_perm, n)
    per = -(-n // e)
    idx = jnp.concatenate([perm, perm[: per * e - n]]).reshape(e, per)
    x = m.scaler(jnp.concatenate([obs, action], -1))[idx]
    params = jax.tree.map(lambda p: p[m.elites], m.params)
    mean, logvar = net(m.config, m.spec, members=e, per_member_input=True).apply(params, x)
    sample = (mean + jnp.exp(0.5 * logvar) * jax.random.normal(k_noise, mean.shape)).reshape(per * e, -1)
    return _split(m, sample[:n][jnp.argsort(perm)], obs)


@jax.jit  # one program when called from plain Python, not an ensemble's ops one by one
def step_with_uncertainty(m: Model, key: jax.Array, obs: jax.Array, action: jax.Array):
    """(next_obs, reward or None, u) with every member computed: the row's sample from one
    uniformly drawn elite, and MOPO's penalty u(s, a) = mean_d sqrt(mean_k σ²_{k,d} +
    var_k μ_{k,d}) over all members (unbiased variance), in the model's output units."""
    k_member, k_noise = jax.random.split(key)
    x = m.scaler(jnp.concatenate([obs, action], -1))
    mean, logvar = net(m.config, m.spec).apply(m.params, x)
    u = jnp.mean(jnp.sqrt(jnp.mean(jnp.exp(logvar), 0) + jnp.var(mean, 0, ddof=1)), -1)
    member = m.elites[jax.random.randint(k_member, (obs.shape[0],), 0, m.elites.shape[0])]
    rows = jnp.arange(obs.shape[0])
    chosen_mean, chosen_logvar = mean[member, rows], logvar[member, rows]
    sample = chosen_mean + jnp.exp(0.5 * chosen_logvar) * jax.random.normal(k_noise, chosen_mean.shape)
    return (*_split(m, sample, obs), u)


@jax.jit  # one program when called from plain Python, not an ensemble's ops one by one
def log_likelihood(m: Model, obs: jax.Array, action: jax.Array, next_obs: jax.Array,
                   reward: jax.Array | None = None) -> jax.Array:
    """log p(s′, r | s, a) under the mixture of the elites with equal weights,
    logsumexp_k(log N(y; μ_k, σ_k) summed over dims) − log E, in the model's output units."""
    x = m.scaler(jnp.concatenate([obs, action], -1))
    mean, logvar = net(m.config, m.spec).apply(m.params, x)
    delta = (next_obs - obs) / m.scaler.std[: m.spec.obs_dim]
    y = jnp.concatenate([delta, reward[..., None]], -1) if m.config.predict_reward else delta
    per_member = -0.5 * jnp.sum(jnp.square(mean - y) * jnp.exp(-logvar) + logvar + jnp.log(2 * jnp.pi), -1)
    return jax.nn.logsumexp(per_member[m.elites], 0) - jnp.log(m.elites.shape[0])


# --------------------------------------------------------------------------------------
# Training loop


@struct.dataclass
class TrainState:
    learner: State
    train_idx: jax.Array  # rows the members fit
    holdout_idx: jax.Array  # rows that rank them
    key: jax.Array


def holdout_size(config: Config, n: int) -> int:
    return min(int(config.holdout_ratio * n), config.max_holdout)


def make_train(config: Config, data: Transition, spec: EnvSpec) -> Train:
    """``train(key) -> (state, metrics)``: up to ``config.steps`` epochs on ``data`` (rows
    of transitions), early-stopped on the hold-out; one chunk is ``eval_every`` epochs."""
    configs.check_type(config, Config, "dynamics.make_train")
    check_batch(data, spec, "data")
    data = jax.tree.map(jnp.asarray, data)  # numpy rows cannot be indexed by traced indices
    n = int(data.size)
    n_hold = holdout_size(config, n)
    n_train = n - n_hold
    if n_hold < 1 or n_train < config.batch_size:
        raise JaxilError(
            f"{n} transitions are too few to fit a dynamics model: the hold-out takes {n_hold} and the "
            f"rest ({n_train}) must fill one batch of {config.batch_size}; use more data or a smaller --batch-size."
        )
    batches = n_train // config.batch_size
    num_chunks, per_chunk = chunking(config.steps, config.eval_every)

    def init_fn(key: jax.Array) -> TrainState:
        k_split, k_init, k_loop = jax.random.split(key, 3)
        perm = jax.random.permutation(k_split, n)
        train_idx, holdout_idx = perm[n_hold:], perm[:n_hold]
        rows = jax.tree.map(lambda x: x[train_idx], data)
        learner = init(k_init, config, spec, fit_scaler(rows.obs, rows.action))
        return TrainState(learner, train_idx, holdout_idx, k_loop)

    def epoch(ts: TrainState) -> tuple[TrainState, dict[str, jax.Array]]:
        key, k_perm = jax.random.split(ts.key)
        # each member its own shuffle of the training rows; the last partial batch dropped
        order = jax.vmap(lambda k: jax.random.permutation(k, n_train))(jax.random.split(k_perm, config.members))
        order = ts.train_idx[order[:, : batches * config.batch_size]]
        order = order.reshape(config.members, batches, config.batch_size).swapaxes(0, 1)

        def minibatch(learner, idx):
            return update(learner, jax.tree.map(lambda x: x[idx], data))

        learner, metrics = jax.lax.scan(minibatch, ts.learner, order)
        mse = holdout_mse(learner.params, learner, jax.tree.map(lambda x: x[ts.holdout_idx], data))
        learner = keep_best(learner.replace(epochs=learner.epochs + 1), mse)
        return ts.replace(learner=learner, key=key), {k: v.mean() for k, v in metrics.items()}

    def step_fn(ts: TrainState) -> tuple[TrainState, dict[str, jax.Array]]:
        # once stopped, an epoch changes nothing (shapes stay fixed under vmap and scan)
        zeros = {k: jnp.zeros(()) for k in ("model_loss", "model_nll", "model_mse")}
        return jax.lax.cond(ts.learner.stopped, lambda t: (t, zeros), epoch, ts)

    def evaluate(ts: TrainState, key: jax.Array) -> dict[str, jax.Array]:
        s = ts.learner
        return {"holdout_mse": jnp.mean(s.best_mse[elites(s)]), "holdout_mse_best": jnp.min(s.best_mse),
                "epochs": s.epochs, "stopped": s.stopped.astype(jnp.int32)}

    return Train(init_fn, step_fn, evaluate, num_chunks, per_chunk, learner=lambda ts: ts.learner)
