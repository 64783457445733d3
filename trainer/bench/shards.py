"""`genderlens predict --shard` on many processes (`./dev bench`):
python3 trainer/bench/shards.py LIBRARY CLI

1. Speed: one unsharded run on every core against `--shard 0/2` and `1/2` side by side, one
   thread each, over the first ten albums of LIBRARY (alternated, two rounds): photos/s.
2. Exactly once: 64 shards of the whole LIBRARY through GNU parallel (two at a time, one
   thread each), four of them killed (SIGKILL) while they run, then the same command again
   (each shard with --resume): every image file of LIBRARY in exactly one line.
Prints a line each and one JSON line. Standard library only; GNU parallel from apt.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ONE_THREAD = {**os.environ, "RAYON_NUM_THREADS": "1"}


def images_per_s(stderr):
    return float(re.search(r"([\d.]+) images/s", stderr).group(1))


def unsharded(cli, folders, out):
    run = subprocess.run([cli, "predict", *folders, "--jsonl", "--out", out], capture_output=True, text=True, check=True)
    return images_per_s(run.stderr)


def two_shards(cli, folders, out):
    t0 = time.perf_counter()
    runs = [subprocess.Popen([cli, "predict", *folders, "--shard", f"{k}/2", "--jsonl", "--out", f"{out}.{k}"],
                             env=ONE_THREAD, stderr=subprocess.PIPE, text=True) for k in range(2)]
    images = 0
    for run in runs:
        _, stderr = run.communicate()
        assert run.returncode == 0, stderr
        images += int(re.search(r"^(\d+) images", stderr.strip().splitlines()[-1]).group(1))
    return images / (time.perf_counter() - t0)


def parallel_shards(cli, library, out_dir, kill):
    """GNU parallel over 64 shards; with `kill`, four running shards are killed on the way."""
    command = ["parallel", "-j", "2", "--halt", "never", cli, "predict", library, "--shard", "{}/64", "--jsonl",
               "--out", f"{out_dir}/shard-{{}}.jsonl", "--resume", ":::", *map(str, range(64))]
    run = subprocess.Popen(command, env=ONE_THREAD, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed = []
    while kill and len(killed) < 4 and run.poll() is None:
        time.sleep(4)
        found = subprocess.run(["pgrep", "-f", "-a", f"{cli} predict {library} --shard"], capture_output=True, text=True).stdout
        for line in found.splitlines():
            shard = re.search(r"--shard (\d+)/64", line)  # not parallel's own "{}/64"
            if shard and shard.group(1) not in killed:
                os.kill(int(line.split()[0]), signal.SIGKILL)
                killed.append(shard.group(1))
                break
    run.wait()
    return killed


def main():
    library, cli = sys.argv[1], os.path.abspath(sys.argv[2])
    folders = [str(p) for p in sorted(Path(library).iterdir()) if p.is_dir()][:10]
    rounds = {"unsharded": [], "two_shards": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(2):
            for name in (("unsharded", "two_shards") if r == 0 else ("two_shards", "unsharded")):
                measure = unsharded if name == "unsharded" else two_shards
                rounds[name].append(measure(cli, folders, f"{tmp}/{name}-{r}.jsonl"))
                print(f"  {name}, round {r + 1}: {rounds[name][-1]:.0f} photos/s", flush=True)
        out_dir = Path(tmp) / "shards"
        out_dir.mkdir()
        t0 = time.perf_counter()
        killed = parallel_shards(cli, library, out_dir, kill=True)
        parallel_shards(cli, library, out_dir, kill=False)
        seconds = time.perf_counter() - t0
        files = [json.loads(line)["file"] for f in sorted(out_dir.glob("shard-*.jsonl")) for line in f.read_text().splitlines()]
    expected = sorted(str(p) for p in Path(library).rglob("*") if p.is_file())
    once = sorted(files) == expected
    ratio = (sum(rounds["two_shards"]) / 2) / (sum(rounds["unsharded"]) / 2)
    print(f"{len(folders)} albums: unsharded {', '.join(f'{v:.0f}' for v in rounds['unsharded'])} photos/s, "
          f"--shard K/2 side by side {', '.join(f'{v:.0f}' for v in rounds['two_shards'])} photos/s: {ratio:.2f}×")
    print(f"64 shards of {len(expected)} files through GNU parallel, shards {', '.join(killed)} killed and resumed, "
          f"{seconds:.0f} s: {len(files)} lines, {len(set(files))} files, every file exactly once: {once}")
    print(json.dumps({"unsharded": rounds["unsharded"], "two_shards": rounds["two_shards"], "ratio": ratio,
                      "killed": killed, "lines": len(files), "files": len(expected), "exactly_once": once}))
    if not once:
        sys.exit(1)


if __name__ == "__main__":
    main()
