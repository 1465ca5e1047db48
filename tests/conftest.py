"""Shared fixtures."""

from __future__ import annotations

from typing import Iterator

import pytest


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Run a module's models on one thread: many tiny convolutions oversubscribe small shared
    machines, and one thread keeps CPU results bitwise repeatable."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
