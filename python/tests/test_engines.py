"""The package inside a data engine, for real: a Dask LocalCluster of two worker processes
over a folder gives the command line's answers, once for every file, even when a worker
process dies in the middle."""

from pathlib import Path

import pytest

dask = pytest.importorskip("dask")
import dask.bag as db  # noqa: E402
from dask.distributed import Client, LocalCluster  # noqa: E402

from conftest import assert_same_line  # noqa: E402
import engine_tasks  # noqa: E402
import genderlens  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            yield client


def check(rows, library, cli_results):
    files = sorted(str(p) for p in Path(library).rglob("*.jpg"))
    assert sorted(r["file"] for r in rows) == files, "every file, once"
    for row in rows:
        assert_same_line(row, cli_results[row["file"]])


def test_a_dask_bag_over_two_processes_gives_the_command_lines_answers(client, library, cli_results):
    files = sorted(str(p) for p in Path(library).rglob("*.jpg"))
    # The README's recipe: the pipeline travels to each task as its options.
    pipeline = genderlens.Pipeline()
    bag = db.from_sequence(files, npartitions=6).map_partitions(pipeline.analyze_paths)
    rows = bag.compute()
    check(rows, library, cli_results)
    rows = db.from_sequence(files, npartitions=12).map_partitions(engine_tasks.analyze_partition).compute()
    check(rows, library, cli_results)
    assert sum(client.run(lambda: __import__("engine_tasks").pipeline.cache_info().currsize).values()) == 2, \
        "a pipeline in each of the two processes"


def test_a_killed_worker_process_has_its_partition_redone_without_duplicates(client, library, cli_results, tmp_path):
    files = sorted(str(p) for p in Path(library).rglob("*.jpg"))
    marker = str(tmp_path / "died-once")
    rows = db.from_sequence(files, npartitions=6).map_partitions(engine_tasks.analyze_or_die_once, marker).compute()
    assert Path(marker).exists(), "no worker died"
    check(rows, library, cli_results)
