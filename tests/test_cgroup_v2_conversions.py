"""The v1-unit to cgroup v2 conversions (runc's published formulas), checked on any host:
the cgroup v2 tests in the VM read the converted values back from a real cgroup."""

import pytest

from ociruntime.cgroups.v2_resources import blkio_to_io_weight, shares_to_weight, swap_v2
from ociruntime.errors import ConfigError


@pytest.mark.parametrize("shares, weight", [(2, 1), (1024, 39), (262144, 10000), (1, 1)])
def test_shares_to_weight(shares, weight):
    """Both ends of the ranges map onto each other; below the range stays at the minimum
    (Go's truncating division, not Python's floor)."""
    assert shares_to_weight(shares) == weight


@pytest.mark.parametrize("blkio, io", [(10, 1), (500, 4950), (1000, 10000)])
def test_blkio_to_io_weight(blkio, io):
    assert blkio_to_io_weight(blkio) == io


@pytest.mark.parametrize("swap, limit, expected", [
    (0, 0, None),           # nothing set: memory.swap.max is left alone
    (0, 100, None),         # a limit alone leaves swap alone
    (0, -1, "max"),         # unlimited memory, swap unset: swap unlimited too
    (-1, 100, "max"),
    (300, 100, "200"),      # v1 limits memory+swap: v2 limits swap alone
    (100, 100, "0"),        # equal: no swap
])
def test_swap_v2(swap, limit, expected):
    assert swap_v2(swap, limit) == expected


@pytest.mark.parametrize("swap, limit", [(50, 100), (200, 0), (200, -1)])
def test_swap_v2_refused(swap, limit):
    with pytest.raises(ConfigError, match=r"^linux\.resources\.memory\.swap: "):
        swap_v2(swap, limit)


def test_period_alone_keeps_the_quota(tmp_path):
    """On ``update`` a new period must not lift the quota already in cpu.max."""
    from ociruntime.cgroups.v2_resources import Write, plan

    (tmp_path / "cpu.max").write_text("20000 100000\n")
    assert plan(str(tmp_path), {"cpu": {"period": 50000}}) == [
        Write("cpu.max", "20000 50000", "cpu.period")]


def test_missing_file_named_not_created(tmp_path):
    """A cgroup file that does not exist is never created; the error names the field."""
    from ociruntime.cgroups.v2_resources import apply
    from ociruntime.errors import CgroupError

    with pytest.raises(CgroupError, match=r"^linux\.resources\.pids\.limit: .* no pids\.max"):
        apply(str(tmp_path), {"pids": {"limit": 5}})
    assert not (tmp_path / "pids.max").exists()
