"""D4RL-format HDF5 files (what CleanIL and most offline-RL code read) into Minari datasets.

A D4RL file holds flat rows: ``observations`` (N, obs), ``actions`` (N, act), ``rewards``
(N,), ``terminals`` (N,) and ``timeouts`` (N,), and usually ``next_observations``. An
episode ends at a row whose ``terminals`` (a true terminal state: the successor is worth
nothing) or ``timeouts`` (the time limit cut it: the successor still has a value) is set;
the two stay apart, as Minari's ``terminations`` and ``truncations``. Where the file has
no ``next_observations``, a row's successor is the next row's observation; the last row of
an episode has no recorded successor then, and is dropped if the time limit ended it (its
predecessor becomes the truncated end), or kept with its own observation as the successor
if it is terminal (a terminal successor's value is never used). The dataset records D4RL's
reference scores (``D4RL_REFERENCES``, from D4RL's ``infos.py``), so normalized scores are
D4RL's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxil.data.minari_io import Episode
from jaxil.errors import JaxilError

REQUIRED = ("observations", "actions", "rewards", "terminals", "timeouts")
# D4RL's REF_MIN_SCORE (its random policy) and REF_MAX_SCORE (its expert), per locomotion task
D4RL_REFERENCES = {
    "hopper": (-20.272305, 3234.3),
    "halfcheetah": (-280.178953, 12135.0),
    "walker2d": (1.629008, 4592.3),
    "ant": (-325.6, 3879.7),
}


def read_d4rl(path: str | Path) -> tuple[list[Episode], dict]:
    """The episodes of a D4RL-format HDF5 file, and what the conversion did."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise JaxilError(f"{path} does not exist; pass a D4RL-format .hdf5 file.")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in REQUIRED if k not in f]
            if missing:
                raise JaxilError(f"{path} lacks the D4RL keys {', '.join(missing)} (it has: {', '.join(sorted(f))}); "
                                 "a D4RL file holds observations, actions, rewards, terminals and timeouts.")
            rows = {k: np.asarray(f[k]) for k in (*REQUIRED, "next_observations") if k in f}
    except OSError as err:
        raise JaxilError(f"could not read {path} as HDF5 ({err}); pass a D4RL-format .hdf5 file.") from err
    n = len(rows["observations"])
    for k, v in rows.items():
        v = v.reshape(n, -1) if k in ("observations", "actions", "next_observations") else v.reshape(-1)
        if len(v) != n:
            raise JaxilError(f"{path}: {k} has {len(v)} rows, observations {n}; every D4RL key has one row per step.")
        rows[k] = v
    obs, act, rew = rows["observations"].astype(np.float32), rows["actions"].astype(np.float32), rows["rewards"]
    term, timeout = rows["terminals"].astype(bool), rows["timeouts"].astype(bool)
    if not np.isfinite(obs).all() or not np.isfinite(act).all() or not np.isfinite(rew).all():
        raise JaxilError(f"{path} holds non-finite observations, actions or rewards; jaxil will not train on them.")
    ends = np.flatnonzero(term | timeout)
    if len(ends) == 0 or ends[-1] != n - 1:  # the file stops mid-episode: the time cut it there
        ends = np.append(ends, n - 1)
        timeout = timeout.copy()
        timeout[n - 1] = True
    has_next = "next_observations" in rows
    episodes, dropped, start = [], 0, 0
    for end in ends:
        idx = np.arange(start, end + 1)
        start = end + 1
        if has_next:
            successor = rows["next_observations"][end].astype(np.float32)
        elif term[end]:
            successor = obs[end]  # a terminal successor's value is never used
        else:  # the time limit's successor was not recorded: drop that row
            idx, dropped = idx[:-1], dropped + 1
            if len(idx) == 0:
                continue
            successor = obs[idx[-1] + 1]
        terminations = term[idx] & (idx == idx[-1])
        truncations = ~terminations & (idx == idx[-1])
        episodes.append(Episode(observations=np.concatenate([obs[idx], successor[None]]), actions=act[idx],
                                rewards=rew[idx].astype(np.float32), terminations=terminations,
                                truncations=truncations))
    how = {"source": str(path), "rows": n, "episodes": len(episodes),
           "terminal_episodes": int(sum(e.terminations[-1] for e in episodes)),
           "successors": "next_observations" if has_next else "the next row's observations",
           "dropped_time_limit_rows": dropped}
    return episodes, how


def references(env_name: str) -> tuple[float, float]:
    """D4RL's (random, expert) reference returns of the task an env name is (hopper for
    ``gym-hopper-v4``)."""
    from jaxil.data.datasets import env_base_name

    task = env_base_name(env_name.removeprefix("gym-"))
    if task not in D4RL_REFERENCES:
        raise JaxilError(f"D4RL has reference scores for {', '.join(D4RL_REFERENCES)}, not {env_name!r}; pass "
                         "--ref-min and --ref-max.")
    return D4RL_REFERENCES[task]
