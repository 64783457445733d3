"""The Python package's speed (``./dev bench``): ``python python/bench/engines.py FOLDER CLI``.

- per photo on one thread: ``Pipeline.analyze_bytes`` over the folder's images against the
  command line on one thread (``RAYON_NUM_THREADS=1 genderlens predict FOLDER``), alternated
  in three rounds;
- Dask: a bag over the folder's paths on a LocalCluster of one worker process against one of
  two (one thread each), alternated in three rounds.
Prints a line each and one JSON line.
"""

import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import genderlens

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
import engine_tasks  # noqa: E402

ROUNDS = 3


def images(folder):
    heads = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM")
    found = []
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            with open(path, "rb") as f:
                if f.read(4).startswith(heads):
                    found.append(str(path))
    return found


def python_per_photo(files):
    pipeline = genderlens.Pipeline()
    data = [Path(f).read_bytes() for f in files]
    pipeline.analyze_bytes(data[0])
    t0 = time.perf_counter()
    for d in data:
        try:
            pipeline.analyze_bytes(d)
        except genderlens.GenderLensError:
            pass
    return (time.perf_counter() - t0) / len(files)


def cli_per_photo(cli, folder):
    out = subprocess.run([cli, "predict", folder, "--jsonl", "--out", os.devnull],
                         env={**os.environ, "RAYON_NUM_THREADS": "1"}, capture_output=True, text=True, check=True)
    images_per_s = float(re.search(r"([\d.]+) images/s", out.stderr).group(1))
    return 1 / images_per_s


def dask_seconds(files, workers):
    import dask.bag as db
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        # Each process loads its pipeline before the clock starts.
        client.run(lambda: __import__("engine_tasks").pipeline() and None)
        t0 = time.perf_counter()
        rows = db.from_sequence(files, npartitions=8 * workers).map_partitions(engine_tasks.analyze_partition).compute()
        seconds = time.perf_counter() - t0
    assert len(rows) == len(files)
    return seconds


def main():
    folder, cli = sys.argv[1], sys.argv[2]
    files = images(folder)
    py, native = [], []
    for _ in range(ROUNDS):
        py.append(python_per_photo(files))
        native.append(cli_per_photo(cli, folder))
    one, two = [], []
    for r in range(ROUNDS):
        for workers in ((1, 2) if r % 2 == 0 else (2, 1)):
            (one if workers == 1 else two).append(dask_seconds(files, workers))
    result = {
        "photos": len(files),
        "python_ms_per_photo": [1e3 * v for v in py],
        "cli_ms_per_photo": [1e3 * v for v in native],
        "dask_one_process_s": one,
        "dask_two_processes_s": two,
    }
    m = statistics.median
    print(f"{len(files)} photos of {folder}, one thread: Pipeline.analyze_bytes {1e3 * m(py):.2f} ms a photo, "
          f"the command line {1e3 * m(native):.2f} ms ({m(py) / m(native):.2f}×; rounds "
          f"{', '.join(f'{1e3 * a:.2f}/{1e3 * b:.2f}' for a, b in zip(py, native))})")
    print(f"Dask bag, one worker process {m(one):.2f} s, two {m(two):.2f} s: {m(one) / m(two):.2f}× as fast "
          f"(rounds {', '.join(f'{a:.2f}' for a in one)} / {', '.join(f'{b:.2f}' for b in two)})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
