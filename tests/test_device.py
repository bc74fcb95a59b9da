"""Devices as tutorials write them: the CPU works, a GPU is refused clearly."""

from __future__ import annotations

import pytest

import plaingrad as pg

GPU_MESSAGE = "device 'cuda.*' is not available: plaingrad has no GPU backend"


def test_cpu_device_everywhere() -> None:
    cpu = pg.device("cpu")
    assert repr(cpu) == "device(type='cpu')" and str(cpu) == "cpu"
    assert cpu == "cpu" and cpu == pg.device(cpu)
    x = pg.zeros(2, 3, device=cpu)
    assert x.device == cpu
    assert pg.ones(2, device="cpu").device.type == "cpu"
    assert x.to(cpu) is x and x.to("cpu") is x and x.cpu() is x
    model = pg.nn.Linear(2, 3).to(cpu)
    assert all(p.device == cpu for p in model.parameters())
    assert pg.device("cpu", 0) == pg.device("cpu:0")


def test_the_tutorial_idiom_picks_the_cpu() -> None:
    assert pg.cuda.is_available() is False
    assert pg.cuda.device_count() == 0
    device = pg.device("cuda" if pg.cuda.is_available() else "cpu")
    x = pg.randn(4, 2).to(device)
    assert pg.nn.Linear(2, 1).to(device)(x).shape == (4, 1)


@pytest.mark.parametrize(
    "make",
    [
        lambda: pg.zeros(2, device="cuda"),
        lambda: pg.tensor([1.0], device="cuda:0"),
        lambda: pg.randn(2, device=pg.device("cuda")),
        lambda: pg.ones(2).to("cuda"),
        lambda: pg.ones(2).cuda(),
        lambda: pg.nn.Linear(2, 3).to("cuda"),
        lambda: pg.nn.Linear(2, 3).cuda(),
    ],
)
def test_asking_for_a_gpu_raises_a_clear_error(make) -> None:
    with pytest.raises(RuntimeError, match=GPU_MESSAGE):
        make()


def test_a_failed_move_leaves_the_model_where_it_was() -> None:
    model = pg.nn.Linear(2, 3)
    before = model.weight
    with pytest.raises(RuntimeError, match="no GPU backend"):
        model.to("cuda")
    assert model.weight is before and model.weight.device == pg.device("cpu")


def test_unknown_device_strings() -> None:
    with pytest.raises(RuntimeError, match="Expected one of cpu, cuda"):
        pg.device("gpu")
    with pytest.raises(RuntimeError, match="Invalid device string: 'cuda:x'"):
        pg.device("cuda:x")
    with pytest.raises(TypeError, match="device: expected a string"):
        pg.device(3.5)
