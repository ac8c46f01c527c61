"""Entry point of sidkit-toy: registers its four components (imports only attrs configs)."""

from sidkit.registry import hookimpl

from .configs import ToyExhaustiveConfig, ToyMLPConfig, ToyRKMeansConfig, ToyTextConfig

# capabilities: toy-exhaustive ranks with the generator's item_log_probs (a plugin-defined name)
CAPABILITIES = {"toy-mlp": {"provides": ("item-log-probs",)}, "toy-exhaustive": {"requires": ("item-log-probs",)}}
COMPONENTS = [
    ("encoder", "toy-text", "sidkit_toy.text:ToyTextEncoder", ToyTextConfig,
     "TF-IDF over catalog text + seeded random projection, L2-normalised"),
    ("tokenizer", "toy-rkmeans", "sidkit_toy.rkmeans:ToyRKMeans", ToyRKMeansConfig,
     "Residual k-means in numpy with a de-dup level"),
    ("generator", "toy-mlp", "sidkit_toy.mlp:ToyMLPGenerator", ToyMLPConfig,
     "History of SID-code embeddings -> MLP -> one softmax per SID level (torch)"),
    ("decoder", "toy-exhaustive", "sidkit_toy.exhaustive:ToyExhaustiveDecoder", ToyExhaustiveConfig,
     "Batched top-k over a generator's item_log_probs"),
]


@hookimpl
def sidkit_register_components(register):
    for kind, name, factory, config, description in COMPONENTS:
        register(kind=kind, name=name, factory=factory, config=config, description=description, **CAPABILITIES.get(name, {}))
