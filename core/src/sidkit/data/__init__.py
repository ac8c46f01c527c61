"""Datasets: loading the supported formats, summaries, splits and training sequences.

Light to import (numpy, attrs): no torch.
"""

from .formats import FORMATS, FormatSpec, LoadOptions, load_dataset, load_from_config
from .info import dataset_info, format_info
from .loaders import AmazonConfig, DelimitedConfig, MovieLensConfig, RecBoleConfig, SyntheticConfig
from .model import TIES, Catalog, Dataset, Interactions
from .ordering import order_interactions
from .sequences import (
    CausalWindowIndex,
    SlidingWindows,
    causal_windows,
    last_only,
    ragged_slices,
    sliding_windows,
    trim_left_padding,
)
from .splits import (
    block_eval_set,
    blocks_split,
    chronological_blocks,
    leave_one_out,
    period_split,
    period_stream,
    time_order,
    user_sequences,
)

__all__ = [
    "Catalog",
    "Interactions",
    "Dataset",
    "TIES",
    "FORMATS",
    "FormatSpec",
    "LoadOptions",
    "MovieLensConfig",
    "AmazonConfig",
    "RecBoleConfig",
    "DelimitedConfig",
    "SyntheticConfig",
    "load_dataset",
    "load_from_config",
    "dataset_info",
    "format_info",
    "order_interactions",
    "leave_one_out",
    "chronological_blocks",
    "block_eval_set",
    "user_sequences",
    "blocks_split",
    "period_stream",
    "period_split",
    "time_order",
    "sliding_windows",
    "SlidingWindows",
    "CausalWindowIndex",
    "causal_windows",
    "last_only",
    "ragged_slices",
    "trim_left_padding",
]
