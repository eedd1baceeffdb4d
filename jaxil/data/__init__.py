"""Offline data (Minari), jaxil's shipped datasets and replay buffers."""

from jaxil.data.datasets import (
    DEFAULT_EXPERT_TRAJS,
    DatasetInfo,
    ExpertData,
    at_horizon,
    default_dataset_id,
    expert_data,
    first_episodes,
    load,
    recorded_backend,
    resolve,
    sample,
    to_transitions,
)
from jaxil.data.minari_io import Episode, read_dataset, write_dataset

__all__ = [
    "DEFAULT_EXPERT_TRAJS",
    "DatasetInfo",
    "Episode",
    "ExpertData",
    "at_horizon",
    "default_dataset_id",
    "expert_data",
    "first_episodes",
    "load",
    "recorded_backend",
    "read_dataset",
    "resolve",
    "sample",
    "to_transitions",
    "write_dataset",
]
