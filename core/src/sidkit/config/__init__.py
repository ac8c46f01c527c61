"""Pipeline configs: TOML in, attrs instances out, every problem reported at once."""

from .schema import (
    SECTIONS,
    ComponentChoice,
    DataChoice,
    PipelineConfig,
    RunSection,
    SplitSection,
    ValidationSection,
    component_choice,
    data_choice,
    load_config,
    resolve_config,
    resolve_data,
    resolve_paths,
)
from .structure import converter, non_default, structure, unstructure
from .toml_io import apply_overrides, dump_toml, read_toml

__all__ = [
    "SECTIONS",
    "component_choice",
    "data_choice",
    "ComponentChoice",
    "DataChoice",
    "PipelineConfig",
    "RunSection",
    "SplitSection",
    "ValidationSection",
    "load_config",
    "resolve_config",
    "resolve_data",
    "resolve_paths",
    "converter",
    "structure",
    "unstructure",
    "non_default",
    "apply_overrides",
    "dump_toml",
    "read_toml",
]
