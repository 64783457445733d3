"""Training throughput of our classifier's network in PyTorch, beside `genderlens bench-train`.

The yardstick of `genderlens bench-train`: the same network (`src/classifier/model.rs`: four stages of
3×3 convolution without bias → batch norm → ReLU → 2×2 max-pool, widths 24-48-96-192, global
average pooling, dropout 0.3, one linear layer to two logits), the same step (forward in
training mode, cross-entropy, backward, AdamW with weight decay 5e-4) on the same random
batch of 64 faces of 64 × 64 px, on the same number of threads. With `--ours GENDERLENS`,
runs of both alternate (`--rounds`), so a slow period of the machine slows both.

    python3 -m venv target/torch && target/torch/bin/pip install torch==2.9.1
    target/torch/bin/python trainer/bench/pytorch_train.py --ours target/release/genderlens
"""

import argparse
import json
import os
import subprocess
import time

import torch
from torch import nn

WIDTHS = [24, 48, 96, 192]
SIDE = 64
BATCH = 64


def network():
    layers, channels = [], 3
    for width in WIDTHS:
        layers += [
            nn.Conv2d(channels, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
        channels = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(channels, 2)]
    return nn.Sequential(*layers)


def pytorch_images_per_second(steps):
    net = network().train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=5e-4)
    images = torch.randn(BATCH, 3, SIDE, SIDE)
    labels = torch.arange(BATCH) % 2
    loss_of = nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss_of(net(images), labels).backward()
        optimizer.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * BATCH / (time.perf_counter() - start)


def ours_images_per_second(binary, steps):
    out = subprocess.run(
        [binary, "bench-train", "--steps", str(steps), "--candle-steps", "1"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    results = json.loads(out.strip().splitlines()[-1])
    return results[0]["images_per_second"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--ours", help="a genderlens binary to alternate with")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    print(f"PyTorch {torch.__version__}, {args.threads} threads, batch {BATCH}, {SIDE} px")
    for round_ in range(1, args.rounds + 1):
        line = f"round {round_}: PyTorch {pytorch_images_per_second(args.steps):6.1f} images/s"
        if args.ours:
            line += f", genderlens {ours_images_per_second(args.ours, args.steps):6.1f} images/s"
        print(line, flush=True)


if __name__ == "__main__":
    main()
