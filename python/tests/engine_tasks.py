"""Functions the data engines ship to their worker processes (importable there by name)."""

import os
from functools import lru_cache

import genderlens


@lru_cache(maxsize=1)
def pipeline() -> genderlens.Pipeline:
    """One pipeline per worker process, made on its first partition."""
    return genderlens.Pipeline()


def analyze_partition(paths):
    return pipeline().analyze_paths(list(paths))


def analyze_or_die_once(paths, marker):
    """As analyze_partition, but the first process to meet the Solvay photo dies on it, as a
    worker killed by the system would (no cleanup, no answer)."""
    paths = list(paths)
    if any(p.endswith("solvay.jpg") for p in paths):
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            pass
        else:
            os.close(fd)
            os._exit(1)
    return analyze_partition(paths)
