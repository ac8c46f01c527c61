"""Config classes of every sidkit-grid component (attrs only: importing them never imports torch)."""

from .decoders import BeamConfig
from .encoders import HFTextConfig
from .generators import DecoderOnlyConfig, TigerConfig
from .tokenizers import RKMeansConfig, RQVAEConfig, RVQConfig, TokenizerConfig

__all__ = [
    "HFTextConfig",
    "TokenizerConfig",
    "RKMeansConfig",
    "RVQConfig",
    "RQVAEConfig",
    "TigerConfig",
    "DecoderOnlyConfig",
    "BeamConfig",
]
