"""Encoder hf-text: template rendering, the real MiniLM weights, the cache and errors."""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
import pytest
import transformers
from sidkit.context import Context
from sidkit.data.model import Catalog, Dataset, Interactions
from sidkit.errors import SidkitError
from sidkit.protocols import Encoder
from sidkit_grid.configs import HFTextConfig
from sidkit_grid.encoders.hf_text import HFTextEncoder
from sidkit_grid.encoders.template import field_text, render

LIPSTICK = [
    "Matte liquid lipstick, long-lasting red lip color",
    "Moisturizing lip gloss with shimmer, pink shade",
    "Creamy lipstick in nude beige for everyday makeup",
]
TIRES = [
    "All-season car tires 205/55R16 with good wet grip",
    "Winter snow tire for passenger cars, studdable tread",
    "Performance radial tyre for sedans, low rolling resistance",
]


def make_dataset(fields) -> Dataset:
    empty = np.zeros(0, dtype=np.int64)
    catalog = Catalog([f"i{k}" for k in range(len(fields))], fields)
    return Dataset(catalog, Interactions(empty, empty, empty, []))


# -- templates (no model) -------------------------------------------------------------------------
def test_field_text_lists_missing_and_numbers():
    assert field_text(None) == "" and field_text(float("nan")) == ""
    assert field_text(["Beauty", "Makeup", "", None, "Lips"]) == "Beauty, Makeup, Lips"
    assert field_text([["Beauty", "Makeup"], ["Gift"]]) == "Beauty, Makeup, Gift"
    assert field_text(3.5) == "3.5" and field_text("  padded ") == "padded"


@pytest.mark.parametrize(
    "fields, expected",
    [
        (
            {"title": "Red lipstick", "categories": ["Beauty", "Lips"], "brand": "Acme"},
            "Red lipstick; Beauty, Lips; Acme",
        ),
        ({"title": "Red lipstick", "brand": "Acme"}, "Red lipstick; Acme"),
        ({"categories": ["Beauty"], "brand": "Acme"}, "Beauty; Acme"),
        ({"title": "Red lipstick", "categories": [], "brand": None}, "Red lipstick"),
        ({"brand": "Acme"}, "Acme"),
        ({}, ""),
    ],
)
def test_template_drops_dangling_separators(fields, expected):
    assert render(fields, "{title}; {categories}; {brand}") == expected


def test_template_prefix_suffix_specs_and_default():
    assert render({"title": "Gel", "price": 3.0}, "Item: {title} ({price:.2f} USD)") == "Item: Gel (3.00 USD)"
    assert render({"title": "Gel"}, "Item: {title}  |  {price}") == "Item: Gel"
    fields = {"title": "Gel", "brand": "", "categories": ["Hair", "Styling"], "price": 4}
    assert render(fields) == "Gel; Hair, Styling; 4"  # empty template: every non-empty field, in order


def test_config_validation():
    for bad, field in [
        ({"template": "{title"}, "template"),
        ({"template": "no fields"}, "template"),
        ({"template": "{0}"}, "template"),
        ({"max_length": 0}, "max_length"),
        ({"batch_size": 0}, "batch_size"),
    ]:
        with pytest.raises(ValueError) as info:
            HFTextConfig(**bad)
        assert str(info.value).startswith(f"{field} "), info.value


def test_bad_model_path_is_a_clear_error(tmp_path):
    missing = tmp_path / "no-such-model"
    enc = HFTextEncoder(HFTextConfig(model=str(missing), cache_dir=str(tmp_path / "cache")))
    with pytest.raises(SidkitError, match=f"model path '{missing}' does not exist"):
        enc.encode_texts(["x"])
    (tmp_path / "not-a-model").mkdir()
    enc = HFTextEncoder(HFTextConfig(model=str(tmp_path / "not-a-model")))
    with pytest.raises(SidkitError, match="not a Hugging Face model directory"):
        enc.encode_texts(["x"])


def test_hub_id_not_available_offline_is_a_clear_error(tmp_path):
    enc = HFTextEncoder(HFTextConfig(model="someorg/no-such-model", cache_dir=""))
    with pytest.raises(SidkitError, match="'someorg/no-such-model' is neither a local directory nor a Hugging Face"):
        enc.encode_texts(["x"])


def test_doc_page_lists_every_encoder_option():
    doc = Path(__file__).resolve().parents[3] / "sdk_docs" / "plugins" / "grid.md"
    if not doc.exists():
        pytest.skip(f"{doc} not found (not a source checkout)")
    text = doc.read_text(encoding="utf-8")
    assert not [f.name for f in attrs.fields(HFTextConfig) if f"`{f.name}`" not in text]


# -- the real MiniLM weights ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    """One model load for the module: texts, their vectors, and the cache directory used."""
    cache = tmp_path_factory.mktemp("embcache")
    enc = HFTextEncoder(HFTextConfig(cache_dir=str(cache), batch_size=4))
    texts = [*LIPSTICK, *TIRES, LIPSTICK[0], ""]
    return enc, texts, enc.encode_texts(texts), cache


def test_minilm_vectors(encoded):
    _, texts, vectors, _ = encoded
    assert vectors.shape == (len(texts), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors[0], vectors[6])  # identical texts, identical vectors


def test_minilm_separates_topics(encoded):
    _, _, vectors, _ = encoded
    sim = vectors[:6] @ vectors[:6].T
    lips, tires = slice(0, 3), slice(3, 6)
    within = [sim[lips, lips][np.triu_indices(3, 1)].min(), sim[tires, tires][np.triu_indices(3, 1)].min()]
    across = sim[lips, tires].max()
    assert min(within) > across + 0.1, (within, across)


def test_cache_hit_skips_the_model(encoded, monkeypatch):
    enc, texts, vectors, cache = encoded
    assert len(list(cache.glob("*.safetensors"))) == 1

    def boom(*args, **kwargs):
        raise AssertionError("model loaded on a cache hit")

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", boom)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", boom)
    again = HFTextEncoder(enc.config).encode_texts(texts)
    assert np.array_equal(again, vectors)
    # a different text list is a different key: the model would be needed
    with pytest.raises(AssertionError, match="model loaded"):
        HFTextEncoder(enc.config).encode_texts(texts[:2])


def test_encode_reads_the_catalog_through_the_template(encoded, tmp_path):
    enc, _, vectors, _ = encoded
    fields = [{"title": LIPSTICK[0]}, {"title": TIRES[0], "brand": None}]
    config = HFTextConfig(template="{title}; {brand}", cache_dir=str(tmp_path), normalize=False)
    encoder = HFTextEncoder(config)
    assert isinstance(encoder, Encoder)
    with pytest.warns(UserWarning, match=r"no item has a value for \{brand\}"):
        out = encoder.encode(Context(dataset=make_dataset(fields), progress=False))
    assert out.values.shape == (2, 384)
    raw_norms = np.linalg.norm(out.values, axis=1)
    assert not np.allclose(raw_norms, 1.0)  # normalize = false keeps the pooled vectors as they are
    np.testing.assert_allclose(out.values / raw_norms[:, None], vectors[[0, 3]], atol=1e-5)
