"""The algorithm contract's outer loop, shared by every algorithm.

``make_train(config, ...)`` in each algorithm returns a :class:`Train`. Calling it,
``train(key) -> (state, metrics)``, runs the whole run in one jit-able function: a
``lax.scan`` over *chunks*, each chunk a ``lax.scan`` of ``steps_per_chunk`` iterations
followed by one evaluation. The driver (``jaxil.driver``) calls the very same
``chunk`` function from a host loop to add progress, CSV logs and checkpoints, so the
two paths compute the same thing.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import struct

Metrics = dict[str, jax.Array]


@struct.dataclass
class Carry:
    """What the outer scan carries: the algorithm's state plus evaluation bookkeeping."""

    state: Any
    eval_key: jax.Array
    chunk: jax.Array  # chunks completed


@dataclasses.dataclass(frozen=True)
class Train:
    """``train(key) -> (state, metrics)``; metrics are stacked per chunk.

    init: key -> the loop's state.
    step: state -> (state, metrics); one iteration (an update, or env steps + updates).
    evaluate: (state, key) -> metrics; run once at the end of every chunk.
    learner: the loop's state -> the learner in it, what the algorithm's ``init`` returns
        and its ``update``, ``policy`` and ``learned_reward`` take. Offline loops carry the
        learner alone (the identity); online loops carry it with envs and buffers.
    problem: chunk metrics (host arrays, one value per seed) -> what went wrong, or None;
        the driver stops a run with this message (e.g. a model whose rollouts diverge).
    """

    init: Callable[[jax.Array], Any]
    step: Callable[[Any], tuple[Any, Metrics]]
    evaluate: Callable[[Any, jax.Array], Metrics]
    num_chunks: int
    steps_per_chunk: int
    learner: Callable[[Any], Any] = lambda state: state
    problem: Callable[[Metrics], str | None] | None = None

    @property
    def num_steps(self) -> int:
        return self.num_chunks * self.steps_per_chunk

    def init_carry(self, key: jax.Array) -> Carry:
        init_key, eval_key = jax.random.split(key)
        return Carry(self.init(init_key), eval_key, jnp.zeros((), jnp.int32))

    def chunk(self, carry: Carry) -> tuple[Carry, Metrics]:
        """``steps_per_chunk`` iterations, then one evaluation; metrics are chunk means."""
        state, step_metrics = jax.lax.scan(
            lambda s, _: self.step(s), carry.state, None, length=self.steps_per_chunk
        )
        metrics = {k: jnp.mean(v, axis=0) for k, v in step_metrics.items()}
        metrics.update(self.evaluate(state, jax.random.fold_in(carry.eval_key, carry.chunk)))
        chunk = carry.chunk + 1
        metrics["step"] = chunk * self.steps_per_chunk
        return Carry(state, carry.eval_key, chunk), metrics

    def run_chunks(self, carry: Carry, num_chunks: int) -> tuple[Carry, Metrics]:
        return jax.lax.scan(lambda c, _: self.chunk(c), carry, None, length=num_chunks)

    def __call__(self, key: jax.Array) -> tuple[Any, Metrics]:
        # The barrier keeps XLA from specializing the loop on the freshly initialized
        # values, so this one-jit run computes bit for bit what the chunked driver does.
        carry = jax.lax.optimization_barrier(self.init_carry(key))
        carry, metrics = self.run_chunks(carry, self.num_chunks)
        return carry.state, metrics


def chunking(num_steps: int, eval_every: int) -> tuple[int, int]:
    """(num_chunks, steps_per_chunk) for a budget: a multiple of ``eval_every``, or less
    than it (one chunk, evaluated at the end)."""
    from jaxil.errors import JaxilError

    if num_steps <= 0 or eval_every <= 0:
        raise JaxilError(f"steps ({num_steps}) and eval_every ({eval_every}) must be positive.")
    if num_steps < eval_every:
        return 1, num_steps
    if num_steps % eval_every:
        raise JaxilError(
            f"steps ({num_steps}) must be a multiple of eval_every ({eval_every}); "
            f"e.g. use --steps {max(eval_every, num_steps // eval_every * eval_every)}."
        )
    return num_steps // eval_every, eval_every
