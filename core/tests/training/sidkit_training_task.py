"""A tiny deterministic task for the training tests (also imported by the subprocess script)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

N_FEATURES, N_CLASSES = 8, 3


def make_data(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian features; the class is the argmax of a fixed random projection."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, N_FEATURES, generator=g)
    w = torch.randn(N_FEATURES, N_CLASSES, generator=torch.Generator().manual_seed(1234))
    return x, (x @ w).argmax(dim=1)


class MLP(torch.nn.Module):
    def __init__(self, hidden: int = 16, dropout: float = 0.2):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(N_FEATURES, hidden),
            torch.nn.ReLU(),
            torch.nn.Dropout(dropout),
            torch.nn.Linear(hidden, N_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def make_model(hidden: int = 16, dropout: float = 0.2, seed: int = 0) -> MLP:
    torch.manual_seed(seed)
    return MLP(hidden, dropout)


def loss_fn(model, batch) -> torch.Tensor:
    x, y = batch
    return F.cross_entropy(model(x), y)


def batch_maker(x: torch.Tensor, y: torch.Tensor):
    return lambda idx: (x[idx], y[idx])


def accuracy_on(x: torch.Tensor, y: torch.Tensor):
    def validate(model) -> float:
        return float((model(x).argmax(dim=1) == y).float().mean())

    return validate
