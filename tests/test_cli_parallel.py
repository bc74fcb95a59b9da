"""plaingrad.cli.parallel without MPI: the launcher detection and the shares.

The ranks themselves run in tests/test_cli_distributed.py; here are the
pieces that decide what they do: which environments count as an MPI launch
of several ranks, and how a global batch is dealt out, checked for every
batch length and rank count up to 9 against the definition (contiguous, in
rank order, sizes differing by at most one, the first ranks taking more).
"""

from __future__ import annotations

import builtins

import pytest

from plaingrad.cli import main
from plaingrad.cli.parallel import (
    RankShare,
    batch_share,
    launch_rank,
    launch_size,
    share_bounds,
    start_world,
)
from plaingrad.datasets import MissingExtraError


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"PMI_SIZE": "4", "PMI_RANK": "2"}, (4, "PMI_SIZE=4")),
        ({"OMPI_COMM_WORLD_SIZE": "3"}, (3, "OMPI_COMM_WORLD_SIZE=3")),
        ({"MPI_LOCALNRANKS": "2"}, (2, "MPI_LOCALNRANKS=2")),
        ({"PMI_SIZE": "1"}, (1, "PMI_SIZE=1")),
        # an allocation's task count alone is no launch: sbatch -n 4 sets it
        ({"SLURM_STEP_NUM_TASKS": "4", "SLURM_NTASKS": "4"}, None),
        (
            {"PMIX_RANK": "0", "SLURM_STEP_NUM_TASKS": "8"},
            (8, "SLURM_STEP_NUM_TASKS=8"),
        ),
        ({"PMIX_RANK": "1"}, (0, "PMIX_RANK=1")),
        ({"PMI_SIZE": "many"}, None),
    ],
)
def test_launch_size_reads_the_launchers_variables(environ, expected):
    assert launch_size(environ) == expected


def test_launch_rank_reads_the_launchers_variables():
    assert launch_rank({}) == 0
    assert launch_rank({"PMI_RANK": "3"}) == 3
    assert launch_rank({"OMPI_COMM_WORLD_RANK": "5"}) == 5
    assert launch_rank({"PMIX_RANK": "7"}) == 7


@pytest.mark.parametrize("size", range(1, 10))
def test_shares_cut_every_batch_into_contiguous_near_equal_parts(size):
    for total in range(0, 40):
        bounds = [share_bounds(total, rank, size) for rank in range(size)]
        counts = [hi - lo for lo, hi in bounds]

        assert bounds[0][0] == 0 and bounds[-1][1] == total
        assert all(bounds[r][1] == bounds[r + 1][0] for r in range(size - 1))
        assert max(counts) - min(counts) <= 1
        assert counts == sorted(counts, reverse=True)


def test_batch_share_knows_the_short_last_batch():
    # 1437 digits in batches of 64: 22 full ones and one of 29 (15 + 14)
    assert batch_share(0, 1437, 64, 0, 2) == (64, 32)
    assert batch_share(22, 1437, 64, 0, 2) == (29, 15)
    assert batch_share(22, 1437, 64, 1, 2) == (29, 14)
    assert batch_share(359, 1437, 4, 1, 2) == (1, 0)


def test_rank_shares_of_a_batch_sampler_rebuild_its_batches():
    batches = [[9, 3, 5, 1, 7], [2, 8, 0], [4, 6], [11]]
    parts = [list(RankShare(batches, rank, 3)) for rank in range(3)]

    assert len(RankShare(batches, 0, 3)) == 4
    assert parts == [
        [[9, 3], [2], [4], [11]],
        [[5, 1], [8], [6], [11]],  # an empty share: the batch's first index
        [[7], [0], [4], [11]],
    ]
    for index, batch in enumerate(batches):
        rows = [share_bounds(len(batch), rank, 3) for rank in range(3)]
        rebuilt = [i for rank, (lo, hi) in enumerate(rows) for i in batch[lo:hi]]
        assert rebuilt == batch
        assert all(
            parts[rank][index] == (batch[lo:hi] or batch[:1])
            for rank, (lo, hi) in enumerate(rows)
        )


def test_one_process_without_a_launcher_is_a_world_of_one():
    world = start_world({})

    assert (world.rank, world.size, world.distributed, world.is_main) == (
        0,
        1,
        False,
        True,
    )
    assert world.total(2.5) == 2.5 and world.count(3) == 3


def test_a_launch_of_several_ranks_without_mpi4py_says_so(monkeypatch):
    real_import = builtins.__import__

    def no_mpi4py(name, *args, **kwargs):
        if name == "mpi4py" or name.startswith("mpi4py."):
            raise ImportError("No module named 'mpi4py'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mpi4py)

    with pytest.raises(MissingExtraError) as caught:
        start_world({"PMI_SIZE": "2", "PMI_RANK": "0"})

    assert str(caught.value) == (
        "started by an MPI launcher with 2 ranks (PMI_SIZE=2), but mpi4py is "
        "not installed; install the 'mpi' extra: pip install 'plaingrad[mpi]'"
    )


def test_the_command_line_says_it_once_and_exits_1(monkeypatch, capsys, tmp_path):
    real_import = builtins.__import__

    def no_mpi4py(name, *args, **kwargs):
        if name == "mpi4py":
            raise ImportError("No module named 'mpi4py'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mpi4py)
    for rank, printed in (("0", True), ("1", False)):
        monkeypatch.setenv("PMI_SIZE", "2")
        monkeypatch.setenv("PMI_RANK", rank)

        status = main(["train", "digits", "--output", str(tmp_path / "r")])

        err = capsys.readouterr().err
        assert status == 1
        assert bool(err) == printed
        if printed:
            assert err.startswith("plaingrad train: error: started by an MPI ")
    assert not (tmp_path / "r").exists()
