"""Training throughput of the generated PyTorch AlexNet against the same module written by hand.

    python bench/train_throughput.py --backend torch     # (or python bench/torch_throughput.py)
    python bench/torch_throughput.py --rounds 40 --budget 0
    python bench/torch_throughput.py --help

The PyTorch side of `train_throughput.py` (which reads `--backend torch` before it imports
TensorFlow and hands over to this file: this process never loads TensorFlow). What is measured:
examples per second of one training step (forward, loss, backward, SGD update, then `loss.item()`
and, on a GPU, `torch.cuda.synchronize()`, so that every step is complete when it is timed) of
two modules in this one process:

- **generated**: `examples/alexnet_adapted.net` (270×480×3 input, 29 classes, 116,071,837
  parameters) through the real code generator — the very program `shapelang torch` writes,
  imported as a module; its `build_model()`;
- **hand-written**: the same network as a user would write it in PyTorch (`AlexNetByHand`
  below): `nn.Sequential`s, the convolutions' TensorFlow-`same` padding written as their own
  symmetric `padding=` (stride 1, odd kernels: the same zeros), `nn.LocalResponseNorm` with
  alpha × 5 (PyTorch divides alpha by the window), and the flatten in Keras's channels-last
  order (a permute first), so that the dense layers' weights are laid out as in the analysis.

Both get the same weights (copied from the generated module after checking that every tensor
has the same shape and that both hold 116,071,837 parameters, then checked to predict the same
within 1e-5 in eval mode), the same synthetic batch (fixed seed, resident on the device), the
same optimizer (`torch.optim.SGD`, learning rate 1e-3, momentum 0.9) and loss: categorical
cross-entropy on the softmax's probabilities, as Keras computes it (probabilities clipped to
[1e-7, 1 − 1e-7]), which is what the generated program trains by default (`from_logits=False`).
Both train in train mode (dropout on). Warm-up, paired rounds in alternating order, the median
ratio and the machine's load are as in `train_throughput.py` (`throughput_table.py`).

Configurations: `--plain` (float32, eager); `--bf16` (`torch.autocast` to bfloat16 on the
device). Defaults follow the hardware: on a CPU plain only, batch 8, 1 step × 20 rounds, a
budget of 100 s; with a GPU (`torch.cuda.is_available()`) both, batch 256, 20 steps × 5 rounds.
"""
from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch
from throughput_table import (
    add_round_arguments,
    paired_rounds,
    parse_round_arguments,
    print_table,
)
from torch import nn

import shapelang
from shapelang.codegen.torch import load_generated_module

NETWORK = ROOT / "examples" / "alexnet_adapted.net"
INPUT_SHAPE = (3, 270, 480)  # channels first, as the modules take it
CLASSES = 29
EXPECTED_PARAMS = 116_071_837
CONFIGURATIONS = {"plain": {"autocast": False}, "bf16": {"autocast": True}}
DEFAULTS = {  # (configurations, batch, steps, rounds, warm-up steps, budget in seconds)
    "CPU": (("plain",), 8, 1, 20, 2, 100.0),
    "GPU": (("plain", "bf16"), 256, 20, 5, 3, 0.0),
}


class BenchmarkInvalid(Exception):
    """The two modules are not the same network: measuring them would mean nothing."""


# ---- the module by hand, as a user would write it -------------------------------------------


def _lrn():
    # TensorFlow's LRN: alpha per element of the window's sum of squares; PyTorch's divides
    # alpha by the window's size (5), so it gets 5 × 1e-4
    return nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)


class AlexNetByHand(nn.Module):
    """AlexNet for 270×480 frames and `classes` classes, written directly in PyTorch."""

    def __init__(self, classes=CLASSES):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(),
            nn.MaxPool2d(3, 2), _lrn(),
            nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(),
            nn.MaxPool2d(3, 2), _lrn(),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(3, 2), _lrn(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(256 * 7 * 13, 4096), nn.Tanh(), nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.Tanh(), nn.Dropout(0.5),
            nn.Linear(4096, classes), nn.Softmax(dim=1),
        )

    def forward(self, x):
        x = self.features(x)
        # flattened channels last, as Keras does, so the first dense layer's weights match
        return self.classifier(x.permute(0, 2, 3, 1).flatten(1))


# ---- measurement ----------------------------------------------------------------------------


def device_line(device: torch.device) -> str:
    if device.type == "cuda":
        what = f"GPU: {torch.cuda.get_device_name(device)}"
    else:
        name = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        what = (f"CPU: {name}, {os.cpu_count()} logical cores, "
                f"{torch.get_num_threads()} PyTorch threads")
    return f"{what}; PyTorch {torch.__version__}, Python {platform.python_version()}"


def categorical_crossentropy(probabilities, one_hot):
    """Keras's categorical cross-entropy of probabilities: clipped to [1e-7, 1 − 1e-7]."""
    clipped = probabilities.float().clamp(1e-7, 1 - 1e-7)
    return -(one_hot * clipped.log()).sum(dim=1).mean()


def synthetic_batch(batch: int, seed: int, device):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn((batch, *INPUT_SHAPE), generator=generator)
    labels = torch.randint(0, CLASSES, (batch,), generator=generator)
    y = nn.functional.one_hot(labels, CLASSES).float()
    return x.to(device), y.to(device)


def parameter_count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_pair(generated_module, seed: int, x, device):
    """The generated and the hand-written module, checked to be the same network, with the
    same weights."""
    torch.manual_seed(seed)
    generated = generated_module.build_model()
    hand = AlexNetByHand()
    counts = (parameter_count(generated), parameter_count(hand))
    if counts != (EXPECTED_PARAMS, EXPECTED_PARAMS):
        raise BenchmarkInvalid(f"parameter counts differ: generated {counts[0]:,}, "
                               f"hand-written {counts[1]:,}, expected {EXPECTED_PARAMS:,}")
    theirs, ours = list(generated.state_dict().values()), list(hand.state_dict().values())
    shapes = ([tuple(t.shape) for t in theirs], [tuple(t.shape) for t in ours])
    if shapes[0] != shapes[1]:
        raise BenchmarkInvalid(f"weight shapes differ: {shapes[0]} vs {shapes[1]}")
    with torch.no_grad():
        for source, target in zip(theirs, ours):
            target.copy_(source)
    generated, hand = generated.to(device), hand.to(device)
    with torch.no_grad():
        generated.eval()
        hand.eval()
        difference = float((generated(x[:2]) - hand(x[:2])).abs().max())
    if not difference <= 1e-5:
        raise BenchmarkInvalid(f"the two modules predict differently: max |difference| "
                               f"{difference:.3g} > 1e-5")
    return generated.train(), hand.train()


def train_steps(model, optimizer, x, y, steps: int, autocast: bool) -> list[float]:
    """Seconds of each of `steps` training steps, each complete when it is timed."""
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=autocast):
            probabilities = model(x)
        loss = categorical_crossentropy(probabilities, y)
        loss.backward()
        optimizer.step()
        value = loss.item()
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        seconds.append(time.perf_counter() - start)
    if not math.isfinite(value):
        raise RuntimeError(f"{type(model).__name__}: the loss is {value}")
    return seconds


def run_configuration(name, generated_module, x, y, args):
    """Measure one configuration; a dict with the row of the table."""
    autocast = CONFIGURATIONS[name]["autocast"]
    row = {"name": name, "batch": int(x.shape[0])}
    models = ()
    try:
        models = build_pair(generated_module, args.seed, x, x.device)
        optimizers = [torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for m in models]
        last_step = []
        for model, optimizer in zip(models, optimizers):  # first steps: not timed
            for _ in range(args.warmup - 1):
                train_steps(model, optimizer, x, y, 1, autocast)
            last_step += train_steps(model, optimizer, x, y, 1, autocast)
        train = [lambda n, m=m, o=o: train_steps(m, o, x, y, n, autocast)
                 for m, o in zip(models, optimizers)]
        return paired_rounds(row, train, last_step, f"on {x.device.type.upper()}", args)
    except BenchmarkInvalid:
        raise
    except Exception as error:  # noqa: BLE001 -- reported in the table; the others still run
        message = str(error).strip().splitlines()
        row["skipped"] = (f"failed on {x.device.type.upper()}: {type(error).__name__}: "
                          f"{message[0][:120] if message else ''}")
        return row
    finally:
        del models
        gc.collect()
        if x.device.type == "cuda":
            torch.cuda.empty_cache()


def main(argv=None):
    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    configurations, batch, steps, rounds, warmup, budget = DEFAULTS[
        "GPU" if device.type == "cuda" else "CPU"]
    parser = argparse.ArgumentParser(
        description="Training throughput: generated PyTorch AlexNet vs the same module by hand.")
    parser.add_argument("--backend", choices=("torch",), default="torch",
                        help="(as train_throughput.py takes it)")
    parser.add_argument("--plain", action="store_true", help="float32, eager")
    parser.add_argument("--bf16", action="store_true", help="torch.autocast to bfloat16")
    add_round_arguments(parser, batch, steps, rounds, warmup, budget)
    args = parse_round_arguments(parser, argv)
    chosen = [name for name in CONFIGURATIONS if getattr(args, name)] or list(configurations)

    analysis = shapelang.load(NETWORK).analyse().raise_for_errors().analysis
    analysed = int(analysis.total("params"))
    if analysed != EXPECTED_PARAMS:
        raise BenchmarkInvalid(f"shapelang counts {analysed:,} parameters in {NETWORK.name}, "
                               f"expected {EXPECTED_PARAMS:,}")
    generated_module = load_generated_module(analysis)
    x, y = synthetic_batch(args.batch_size, args.seed, device)

    print(f"device: {device_line(device)}")
    print(f"model: {NETWORK.relative_to(ROOT)} (shapelang torch) vs AlexNetByHand(), "
          f"{EXPECTED_PARAMS:,} parameters each; input (N, {', '.join(map(str, INPUT_SHAPE))}), "
          f"{CLASSES} classes")
    print(f"training step: torch.optim.SGD lr=1e-3 momentum=0.9, categorical crossentropy on "
          f"probabilities, {args.warmup} warm-up steps per model; ex/s at the median step "
          "time, ratio: median of the rounds' ratios")
    print()
    start = time.perf_counter()
    rows = []
    for name in chosen:
        rows.append(run_configuration(name, generated_module, x, y, args))
        print(f"  {name}: done after {time.perf_counter() - start:.0f} s", flush=True)
    print()
    print_table(rows)
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
