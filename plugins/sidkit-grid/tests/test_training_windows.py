"""``training_windows(first_target=...)``: a fine-tune's context-only prefix (the continual
runner's) and the user of every window."""

from __future__ import annotations

import numpy as np
from sidkit.types import Ragged
from sidkit_grid.generators.sequences import training_windows


def rows(r: Ragged) -> list[list[int]]:
    return [list(map(int, x)) for x in r]


class TestTrainingWindowsFirstTarget:
    def test_users_align_with_windows(self):
        train = Ragged.from_lists([[1, 2, 3, 4, 5], [6, 7], [8], [9, 10, 11]])
        users = np.array([40, 41, 42, 43])
        first = np.array([3, 0, 0, 5])  # row 0: targets 4, 5; row 1: 7; row 2: none; row 3: none
        w = training_windows(train, max_len=10, users=users, first_target=first)
        assert len(w) == 3
        assert len(w.users) == len(w.targets) == len(w.inputs) == 3
        assert w.users.tolist() == [40, 40, 41]
        assert w.targets.tolist() == [4, 5, 7]
        assert rows(w.inputs) == [[1, 2, 3], [1, 2, 3, 4], [6]]

    def test_without_first_target_unchanged(self):
        train = Ragged.from_lists([[1, 2, 3], [4], [5, 6]])
        w = training_windows(train, max_len=10)
        assert w.users.tolist() == [0, 0, 2]
        assert w.targets.tolist() == [2, 3, 6]

    def test_users_per_window_random(self):
        rng = np.random.default_rng(0)
        lengths = rng.integers(0, 8, size=50)
        train = Ragged.from_lists([rng.integers(0, 100, size=n) for n in lengths])
        first = rng.integers(0, 10, size=50)
        users = rng.permutation(1000)[:50]
        w = training_windows(train, max_len=4, users=users, first_target=first)
        expected = sum(max(0, int(n) - max(int(f), 1)) for n, f in zip(lengths, first, strict=True))
        assert len(w) == expected
        assert len(w.users) == expected
        assert w.users.tolist() == [
            int(u)
            for u, n, f in zip(users, lengths, first, strict=True)
            for _ in range(max(0, int(n) - max(int(f), 1)))
        ]
