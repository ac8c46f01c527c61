"""``--set`` keys with quoted segments (a segment that holds dots, such as DIGER's
``optim.groups."tokenizer."``)."""

import pytest
from sidkit.config import apply_overrides
from sidkit.errors import ConfigError


def test_a_quoted_segment_keeps_its_dots():
    raw = {"generator": {"train": {"optim": {"groups": {"tokenizer.": {"lr": 1e-6}}}}}}
    apply_overrides(raw, ['generator.train.optim.groups."tokenizer.".lr=1e-5', "generator.train.optim.lr=3e-3"])
    optim = raw["generator"]["train"]["optim"]
    assert optim["groups"] == {"tokenizer.": {"lr": 1e-5}} and optim["lr"] == 3e-3
    apply_overrides(raw, ["generator.train.optim.groups.'encoder.'.weight_decay=0.0"])  # literal quotes, a new table
    assert optim["groups"]["encoder."] == {"weight_decay": 0.0}


def test_unquoted_keys_split_at_every_dot_as_before():
    raw = apply_overrides({}, ["a.b.c=x y", "a.d=[1, 2]"])
    assert raw == {"a": {"b": {"c": "x y"}, "d": [1, 2]}}


@pytest.mark.parametrize("bad", ['a."b.c=1', 'a.""=1', "a..b=1", 'a."b"c=1', '"a".=1'])
def test_malformed_keys_are_refused(bad):
    with pytest.raises(ConfigError, match="quote a segment that holds dots"):
        apply_overrides({}, [bad])


def test_a_quoted_segment_through_a_value_names_the_quoted_path():
    with pytest.raises(ConfigError, match=r'a\."b\.c": is 1, not a table; cannot set a\."b\.c"\.d'):
        apply_overrides({"a": {"b.c": 1}}, ['a."b.c".d=2'])
