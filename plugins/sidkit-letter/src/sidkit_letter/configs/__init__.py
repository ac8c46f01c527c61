"""Config classes of every sidkit-letter component (attrs only: importing them never imports torch)."""

from .decoders import ItemScoresConfig
from .encoders import ContentCollabConfig, EncoderChoice, SASRecConfig
from .generators import SASRecGeneratorConfig
from .sasrec import SASRecModelConfig, SASRecTrainConfig
from .tokenizers import LetterConfig

__all__ = [
    "SASRecModelConfig",
    "SASRecTrainConfig",
    "SASRecConfig",
    "SASRecGeneratorConfig",
    "EncoderChoice",
    "ContentCollabConfig",
    "ItemScoresConfig",
    "LetterConfig",
]
