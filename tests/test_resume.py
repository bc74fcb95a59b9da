"""A run interrupted after epoch k and resumed from its checkpoint ends exactly
(bitwise) where the uninterrupted run does.

Everything that decides the trajectory is in the checkpoint: the weights, the
optimizer's state, the scheduler's, and the random state that drives the
DataLoader's shuffling and the dropout masks (the global stream, and the
loader's own Generator when it has one). The resumed run is rebuilt from
fresh objects, initialised differently, after the global stream has moved on,
so nothing but the checkpoint can carry the state across.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import plaingrad as pg
from plaingrad.utils.data import DataLoader, TensorDataset

EPOCHS = 4


def _data() -> TensorDataset:
    x = np.sin(np.arange(40 * 3, dtype=np.float32)).reshape(40, 3)
    y = (x.sum(axis=1) > 0).astype(np.int64)
    return TensorDataset(pg.tensor(x), pg.tensor(y))


def _run(seed: int, optimizer_name: str, own_generator: bool) -> dict:
    """Fresh model, optimizer, scheduler and loader, from ``seed``."""
    pg.manual_seed(seed)
    nn = pg.nn
    model = nn.Sequential(
        nn.Linear(3, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2)
    )
    if optimizer_name == "sgd":
        optimizer = pg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        optimizer = pg.optim.Adam(model.parameters(), lr=0.01)
    scheduler = pg.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    generator = pg.Generator().manual_seed(seed + 1) if own_generator else None
    loader = DataLoader(_data(), batch_size=8, shuffle=True, generator=generator)
    return {
        "model": model,
        "optimizer": optimizer,
        "scheduler": scheduler,
        "generator": generator,
        "loader": loader,
    }


def _train(run: dict, epochs: range) -> None:
    model, optimizer = run["model"], run["optimizer"]
    model.train()
    for _ in epochs:
        for x, y in run["loader"]:
            optimizer.zero_grad()
            pg.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        run["scheduler"].step()


def _checkpoint(run: dict, epoch: int) -> dict:
    checkpoint = {
        "epoch": epoch,
        "model": run["model"].state_dict(),
        "optimizer": run["optimizer"].state_dict(),
        "scheduler": run["scheduler"].state_dict(),
        "rng": pg.get_rng_state(),
    }
    if run["generator"] is not None:
        checkpoint["generator"] = run["generator"].get_state()
    return checkpoint


def _restore(run: dict, checkpoint: dict) -> int:
    run["model"].load_state_dict(checkpoint["model"])
    run["optimizer"].load_state_dict(checkpoint["optimizer"])
    run["scheduler"].load_state_dict(checkpoint["scheduler"])
    pg.set_rng_state(checkpoint["rng"])
    if run["generator"] is not None:
        run["generator"].set_state(checkpoint["generator"])
    return checkpoint["epoch"]


def _weights(run: dict) -> dict[str, bytes]:
    return {k: v.numpy().tobytes() for k, v in run["model"].state_dict().items()}


@pytest.mark.parametrize("own_generator", [False, True], ids=["global", "generator"])
@pytest.mark.parametrize("optimizer_name", ["sgd", "adam"])
@pytest.mark.parametrize("k", [1, 2])
def test_a_resumed_run_ends_bitwise_where_the_uninterrupted_one_does(
    tmp_path: Path, k: int, optimizer_name: str, own_generator: bool
):
    uninterrupted = _run(0, optimizer_name, own_generator)
    _train(uninterrupted, range(EPOCHS))

    interrupted = _run(0, optimizer_name, own_generator)
    _train(interrupted, range(k))
    pg.save(_checkpoint(interrupted, k), tmp_path / "checkpoint.pt")
    del interrupted  # the crash
    pg.manual_seed(12345)
    pg.rand(17)  # the global stream moves on before the restart
    resumed = _run(7, optimizer_name, own_generator)
    start = _restore(resumed, pg.load(tmp_path / "checkpoint.pt"))
    _train(resumed, range(start, EPOCHS))

    assert _weights(resumed) == _weights(uninterrupted)
    assert (
        resumed["scheduler"].get_last_lr() == uninterrupted["scheduler"].get_last_lr()
    )


def test_without_the_random_state_the_run_differs(tmp_path: Path):
    # The control: dropout and shuffling really do depend on the saved state.
    uninterrupted = _run(0, "sgd", False)
    _train(uninterrupted, range(EPOCHS))
    interrupted = _run(0, "sgd", False)
    _train(interrupted, range(1))
    checkpoint = _checkpoint(interrupted, 1)
    pg.save(checkpoint, tmp_path / "checkpoint.pt")
    pg.manual_seed(12345)

    resumed = _run(7, "sgd", False)
    loaded = pg.load(tmp_path / "checkpoint.pt")
    loaded["rng"] = pg.get_rng_state()  # keep the stream as it is now
    _train(resumed, range(_restore(resumed, loaded), EPOCHS))

    assert _weights(resumed) != _weights(uninterrupted)
