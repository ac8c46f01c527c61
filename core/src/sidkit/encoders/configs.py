"""Config classes of the core's encoders (attrs only: cheap to import)."""

from __future__ import annotations

import attrs


@attrs.frozen(kw_only=True)
class PrecomputedConfig:
    """``path``: a ``.safetensors`` file (tensor ``key``) or a ``.npy`` file with one row per
    item. Rows follow the catalog's item order unless ``ids_file`` (a JSON list of item ids,
    one per row) says which item each row belongs to."""

    path: str
    key: str = "embeddings"
    ids_file: str | None = None
    normalize: bool = False
