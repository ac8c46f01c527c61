"""Capabilities: what one component needs from another, declared when it is registered.

A decoder lists the capabilities it ``requires`` of the generator; a generator lists the
ones it ``provides`` (``register(..., requires=(...))`` / ``provides=(...)``). The config
check compares the two names lists before any work, so an incompatible pair exits with
code 2 naming both components and what is missing, instead of failing after training.

The capabilities the core knows have a runtime-checkable protocol each
(:data:`CAPABILITIES`), which decoders use to check the objects they get; a plugin may
declare its own capability names too (matched by name only).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = [
    "StepwiseGeneration",
    "ItemScoring",
    "CollisionOrder",
    "CAPABILITIES",
    "missing_capability",
    "collision_order",
    "excludes_history",
]


@runtime_checkable
class StepwiseGeneration(Protocol):
    """A generator beam search can drive token by token: its SID ``vocab``, the ``device``
    of its model, ``encode`` (histories to a decoding state) and ``step`` (the next-token
    log-probabilities of a state)."""

    vocab: Any
    device: Any

    def encode(self, *args: Any, **kwargs: Any) -> Any: ...

    def step(self, *args: Any, **kwargs: Any) -> Any: ...


@runtime_checkable
class ItemScoring(Protocol):
    """A generator that scores every catalog item for a batch of histories:
    ``score_items(histories[, sids]) -> [n, n_items]``."""

    def score_items(self, *args: Any, **kwargs: Any) -> Any: ...


@runtime_checkable
class CollisionOrder(Protocol):
    """A tokenizer that says how the items sharing one SID are ordered when decoded
    (``"index"`` or ``"random"``, seeded by the run)."""

    collision_order: str


CAPABILITIES: dict[str, type] = {
    "stepwise-generation": StepwiseGeneration,
    "item-scores": ItemScoring,
    "collision-order": CollisionOrder,
}


def missing_capability(obj: Any, name: str) -> bool:
    """Whether ``obj`` lacks the core capability ``name`` (plugin-defined names: never)."""
    proto = CAPABILITIES.get(name)
    return proto is not None and not isinstance(obj, proto)


def collision_order(tokenizer: Any) -> str:
    """The tokenizer's collision order, ``"index"`` when it declares none (or is None)."""
    return tokenizer.collision_order if isinstance(tokenizer, CollisionOrder) else "index"


def excludes_history(decoder: Any) -> bool:
    """Whether ``decoder`` leaves a history's own items out of its ranking: its config has
    ``exclude_history = true`` (grid's ``beam``, letter's ``item-scores``). The pipeline then
    ranks ``markov/`` and ``mostpop/`` the same way."""
    return bool(getattr(getattr(decoder, "config", None), "exclude_history", False))
