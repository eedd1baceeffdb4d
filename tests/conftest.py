"""Shared test setup: a persistent XLA compilation cache, an isolated Minari store,
and session-scoped fixtures so each expensive program compiles once per run."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
# Compiles dominate the suite on 2 CPU cores; a warm cache cuts them several-fold.
CACHE = Path(os.environ.get("JAX_COMPILATION_CACHE_DIR", ROOT / ".cache" / "jax"))
CACHE.mkdir(parents=True, exist_ok=True)
jax.config.update("jax_compilation_cache_dir", str(CACHE))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.fixture(autouse=True, scope="session")
def isolated_minari_store(tmp_path_factory):
    """Tests never read or write the user's ~/.minari, and never download."""
    store = tmp_path_factory.mktemp("minari_store")
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(store)
    yield store
    if old is None:
        os.environ.pop("MINARI_DATASETS_PATH", None)
    else:
        os.environ["MINARI_DATASETS_PATH"] = old


def _typed_key(x) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _host(x):
    """A leaf on the host (numpy compares and slices without compiling an XLA program per shape)."""
    return np.asarray(jax.random.key_data(x) if _typed_key(x) else x)


def tree_equal(a, b) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return jax.tree.structure(a) == jax.tree.structure(b) and all(
        x.shape == y.shape and np.array_equal(x, y) for x, y in ((_host(x), _host(y)) for x, y in zip(la, lb)))


def seed_slice(tree, i: int):
    return jax.tree.map(lambda x: x[i] if _typed_key(x) else np.asarray(x)[i], tree)


@pytest.fixture(scope="session")
def cartpole_expert():
    """(env, expert data of the online learners' size, reference) from the shipped data."""
    from jaxil import cli, data, envs
    from jaxil.evaluation import Reference

    env = envs.make("cartpole")
    eps, info = data.load(data.default_dataset_id("cartpole"), env)
    expert = data.expert_data(data.first_episodes(eps, cli.ONLINE_EXPERT_TRAJS, info.dataset_id))
    return env, expert, Reference(info.random_return, info.expert_return)


def read_events(directory):
    """Scalars {tag: {step: value}} and hyperparameter names from a directory of TensorBoard
    event files (TFRecord frames of Event protos), honouring purge markers as TensorBoard does:
    a session START at step p drops what was written earlier at steps ≥ p."""
    import struct

    from tensorboardX.proto import event_pb2, plugin_hparams_pb2

    scalars, hparams = {}, set()
    for f in sorted(directory.rglob("events.out.tfevents.*")):
        data, i = f.read_bytes(), 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i:i + 8])
            event = event_pb2.Event.FromString(data[i + 12:i + 12 + n])
            i += 12 + n + 4  # length, its CRC, the record, its CRC
            if event.HasField("session_log") and event.session_log.status == event_pb2.SessionLog.START:
                for steps in scalars.values():
                    for step in [s for s in steps if s >= event.step]:
                        del steps[step]
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    steps = scalars.setdefault(value.tag, {})
                    assert event.step not in steps, f"{value.tag} at step {event.step} twice, the first not purged"
                    steps[event.step] = value.simple_value
                elif value.metadata.plugin_data.plugin_name == "hparams":
                    content = plugin_hparams_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                    hparams |= set(content.session_start_info.hparams)
    return scalars, hparams
