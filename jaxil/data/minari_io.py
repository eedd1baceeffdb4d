"""Reading and writing Minari datasets (hdf5), with jaxil's metadata beside Minari's.

A dataset lives at ``<root>/<namespace>/<name>-vN/data/{main_data.hdf5,metadata.json}``
(Minari's own layout), so ``minari.load_dataset`` opens what jaxil writes when
``MINARI_DATASETS_PATH=<root>``. jaxil's own fields sit under the ``"jaxil"`` key of
``metadata.json``; the random and expert reference returns use Minari's standard
``ref_min_score`` / ``ref_max_score``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from jaxil.envs.core import EnvSpec
from jaxil.errors import JaxilError


@dataclasses.dataclass
class Episode:
    """One episode as Minari stores it: ``T + 1`` observations for ``T`` steps."""

    observations: np.ndarray  # (T + 1, obs_dim); the last one is the real final s'
    actions: np.ndarray  # (T, act_dim) float or (T,) int
    rewards: np.ndarray  # (T,)
    terminations: np.ndarray  # (T,) bool
    truncations: np.ndarray  # (T,) bool

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def ret(self) -> float:
        return float(np.sum(self.rewards, dtype=np.float64))


@contextlib.contextmanager
def _datasets_root(root: Path) -> Iterator[None]:
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def spaces_for(spec: EnvSpec):
    import gymnasium as gym

    obs_space = gym.spaces.Box(-np.inf, np.inf, (spec.obs_dim,), np.float32)
    if spec.discrete:
        act_space = gym.spaces.Discrete(spec.num_actions)
    else:
        act_space = gym.spaces.Box(
            np.asarray(spec.action_low, np.float32), np.asarray(spec.action_high, np.float32)
        )
    return obs_space, act_space


def write_dataset(
    root: str | Path,
    dataset_id: str,
    episodes: Sequence[Episode],
    spec: EnvSpec,
    *,
    random_return: float,
    expert_return: float,
    jaxil_meta: dict,
    description: str = "",
    algorithm_name: str = "jaxil",
    overwrite: bool = False,
) -> Path:
    """Write ``episodes`` as Minari dataset ``dataset_id`` under ``root``; returns its path."""
    import minari
    from minari.data_collector import EpisodeBuffer

    if not episodes:
        raise JaxilError(f"refusing to write dataset {dataset_id!r} with no episodes.")
    root = Path(root).absolute()  # minari mangles relative roots
    path = root / dataset_id
    if path.exists():
        if not overwrite:
            raise JaxilError(f"dataset {path} already exists; pass overwrite=True (--overwrite) to replace it.")
        shutil.rmtree(path)
    obs_space, act_space = spaces_for(spec)
    buffers = [
        EpisodeBuffer(
            id=i,
            observations=np.asarray(ep.observations, np.float32),
            actions=np.asarray(ep.actions, np.int64 if spec.discrete else np.float32),
            rewards=np.asarray(ep.rewards, np.float32),
            terminations=np.asarray(ep.terminations, bool),
            truncations=np.asarray(ep.truncations, bool),
        )
        for i, ep in enumerate(episodes)
    ]
    with _datasets_root(root), warnings.catch_warnings():
        # jaxil envs are not gymnasium envs: Minari's advice about env specs, eval envs
        # and contact emails does not apply.
        for msg in ("env_spec is None", "`eval_env` is set to None", "`author_email` is set to None"):
            warnings.filterwarnings("ignore", message=msg)
        ds = minari.create_dataset_from_buffers(
            dataset_id=dataset_id,
            buffer=buffers,
            env=None,
            observation_space=obs_space,
            action_space=act_space,
            algorithm_name=algorithm_name,
            author="jaxil",
            code_permalink="https://github.com/jaxil/jaxil",
            description=description or f"{dataset_id}: written by jaxil.",
        )
        # Minari only records reference scores when it can build a gymnasium eval env,
        # which jaxil's JAX envs are not; set them directly (minari.get_normalized_score
        # reads these two keys).
        ds.storage.update_metadata(
            {
                "ref_min_score": float(random_return),
                "ref_max_score": float(expert_return),
                "jaxil": jaxil_meta,
            }
        )
    compress(path / "data" / "main_data.hdf5")
    return path


def compress(hdf5_path: Path) -> None:
    """Rewrite a Minari HDF5 file with gzip + byte-shuffle on every array (Minari writes
    them raw; h5py reads either transparently, so the dataset stays a Minari dataset)."""
    import h5py

    tmp = hdf5_path.with_suffix(".tmp")

    def copy(src: h5py.Group, dst: h5py.Group) -> None:
        dst.attrs.update(src.attrs)
        for name, item in src.items():
            if isinstance(item, h5py.Group):
                copy(item, dst.create_group(name))
            else:
                data = item[()]
                opts = dict(compression="gzip", compression_opts=9, shuffle=True) if data.size > 1 else {}
                dst.create_dataset(name, data=data, **opts).attrs.update(item.attrs)

    with h5py.File(hdf5_path, "r") as src, h5py.File(tmp, "w") as dst:
        copy(src, dst)
    os.replace(tmp, hdf5_path)


def read_dataset(path: str | Path) -> tuple[list[Episode], dict]:
    """All episodes and the metadata of the Minari dataset at ``path``.

    ``path`` is a dataset directory (holding ``data/``) or its ``data/`` directory.
    """
    import minari

    path = Path(path)
    data_path = path / "data" if (path / "data").is_dir() else path
    if not (data_path / "metadata.json").is_file():
        raise JaxilError(
            f"{path} is not a Minari dataset (no data/metadata.json); pass a dataset id from "
            "`jaxil data list` or the directory of a Minari dataset."
        )
    try:
        ds = minari.MinariDataset(data_path)
        meta = dict(ds.storage.metadata)
        episodes = [
            Episode(
                observations=np.asarray(e.observations),
                actions=np.asarray(e.actions),
                rewards=np.asarray(e.rewards),
                terminations=np.asarray(e.terminations, bool),
                truncations=np.asarray(e.truncations, bool),
            )
            for e in ds.iterate_episodes()
        ]
    except JaxilError:
        raise
    except Exception as err:  # h5py/json/minari errors all mean the same to a user
        raise JaxilError(
            f"could not read the Minari dataset at {data_path} (corrupt or incomplete: "
            f"{type(err).__name__}: {err}). Re-create it (for jaxil datasets: "
            "`jaxil data make ...`, see the dataset card) or pass another --dataset."
        ) from err
    if isinstance(meta.get("jaxil"), str):
        meta["jaxil"] = json.loads(meta["jaxil"])
    return episodes, meta
