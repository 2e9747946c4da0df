"""Training throughput of the generated adapted AlexNet against the same model written by hand.

    python bench/train_throughput.py                      # plain, --mixed-precision and --jit
    python bench/train_throughput.py --jit --rounds 40 --budget 0   # one configuration, longer
    python bench/train_throughput.py --help
    python bench/train_throughput.py --backend torch      # the PyTorch program: torch_throughput.py

What is measured: examples per second of one training step (`model.train_on_batch`: forward,
loss, backward, SGD update; it returns the loss as a number, so every step is complete, and
steps do not overlap, when it returns) of two models in this one process:

- **generated**: `examples/alexnet_adapted.net` (270×480×3 input, 29 classes, 116,071,837
  parameters) through the real code generator — the very program `shapelang keras` writes,
  imported as a module; its `build_model()`;
- **hand-written**: the same network as a user would write it in Keras, layer by layer
  (`hand_written_alexnet` below), with a small LRN layer over
  `tf.nn.local_response_normalization` of its own.

Both get the same weights (copied from the generated model after checking that every weight
has the same shape, and that both give the same predictions), the same synthetic batch (fixed
seed, resident on the device), the same optimizer (SGD, learning rate 1e-3, momentum 0.9), loss
(categorical crossentropy), metrics and compile options. Their parameter counts must both be
116,071,837, or the benchmark stops. Each model is warmed up first (tracing, XLA compilation and
the first steps are not timed); then, over `--rounds` rounds, each model trains `--steps` steps,
the order of the two alternating from round to round, so that machine noise falls on both, and
every step is timed. The table shows each model's examples/s at its median step time (a median,
so that a step slowed down by the machine does not count); the ratio generated / hand-written
(target 1.00 ± 0.03), the median of the rounds' ratios — each round compares two measurements
taken side by side, so that a change of load between rounds cancels out; the lowest and highest
ratio of a single round (their spread is the noise); and how busy the rest of the machine was
meanwhile, in CPU cores (other processes and steal time, from /proc/stat: a benchmark sharing 2
cores with a test suite measures the test suite too).

Configurations (flags choose; default all three): `--plain` (float32, `jit_compile=False`);
`--mixed-precision` (the `mixed_float16` policy set before both models are built, reset after;
both keep the softmax layer in float32, as the generated program does); `--jit` (float32,
`jit_compile=True`, XLA).

Defaults follow the hardware: on a CPU a small batch (8), 1 step × 20 rounds and a time budget of
100 s per configuration (the whole run takes about 4 minutes on 2 quiet cores); with a GPU
(`tf.config.list_physical_devices("GPU")`), batch 256, 20 steps × 5 rounds and no budget. The
budget counts the timed rounds: a configuration that would exceed it (estimated from its last
warm-up steps) runs fewer steps per round, stops after the round that passes it (two rounds at
least), or is skipped when two rounds cannot fit — the table says which; one that fails says why
instead of stopping the others (mixed precision on a CPU is slow: about 5 s a step, 10 s when
the machine is busy, hence the budget).

One difference between the models is deliberate, being what a user would write and what
shapelang generates: the generated LRN layer computes in float32 (it casts its input to float32
and the result back), the hand-written one in the layer's compute dtype. In float32 (plain, jit)
the casts are no-ops (`tf.cast` to the same dtype returns its input: the graphs have no Cast op).
Under `mixed_float16` the hand-written LRN runs in float16: on a CPU TensorFlow's float16 LRN
kernels are slow (the three LRN layers' forward and backward pass at batch 8: about 260 ms in
float16, 60 ms in float32 with the casts, on 2 cores), and on a GPU there is none (LRN and LRNGrad
have float32 GPU kernels only), so the hand-written model's LRN runs on the host, or fails —
which is why the generated layer casts.
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def backend_of(argv) -> str:
    """`--backend keras|torch` (keras by default), read before TensorFlow is imported: the
    PyTorch side (`torch_throughput.py`) runs in a process that never loads TensorFlow."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--backend", choices=("keras", "torch"), default="keras")
    return parser.parse_known_args(argv)[0].backend


if __name__ == "__main__" and backend_of(sys.argv[1:]) == "torch":
    import torch_throughput

    sys.exit(torch_throughput.main(sys.argv[1:]))

import keras
import numpy as np
import tensorflow as tf
from keras import layers
from throughput_table import (
    add_round_arguments,
    paired_rounds,
    parse_round_arguments,
    print_table,
)

import shapelang
from shapelang.codegen.keras import load_generated_module

NETWORK = ROOT / "examples" / "alexnet_adapted.net"
INPUT_SHAPE = (270, 480, 3)
CLASSES = 29
EXPECTED_PARAMS = 116_071_837
CONFIGURATIONS = {
    "plain": {"mixed_precision": False, "jit": False},
    "mixed-precision": {"mixed_precision": True, "jit": False},
    "jit": {"mixed_precision": False, "jit": True},
}
DEFAULTS = {  # (batch, steps, rounds, warm-up steps, budget in seconds per configuration)
    "CPU": (8, 1, 20, 2, 100.0),
    "GPU": (256, 20, 5, 3, 0.0),
}


class BenchmarkInvalid(Exception):
    """The two models are not the same network: measuring them would mean nothing."""


# ---- the model by hand, as a user would write it -----------------------------------------


class LRN(layers.Layer):
    """Local response normalisation across channels (Keras has no such layer)."""

    def __init__(self, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        self.depth_radius, self.bias, self.alpha, self.beta = depth_radius, bias, alpha, beta

    def call(self, inputs):
        return tf.nn.local_response_normalization(
            inputs, depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha,
            beta=self.beta)


def hand_written_alexnet(classes=CLASSES):
    """AlexNet for 270×480 frames and `classes` classes, written directly in Keras."""
    return keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE),
            layers.Conv2D(96, 11, strides=4, activation="relu"),
            layers.MaxPooling2D(3, 2),
            LRN(depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75),
            layers.Conv2D(256, 5, padding="same", activation="relu"),
            layers.MaxPooling2D(3, 2),
            LRN(depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75),
            layers.Conv2D(384, 3, padding="same", activation="relu"),
            layers.Conv2D(384, 3, padding="same", activation="relu"),
            layers.Conv2D(256, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(3, 2),
            LRN(depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75),
            layers.Flatten(),
            layers.Dense(4096, activation="tanh"),
            layers.Dropout(0.5),
            layers.Dense(4096, activation="tanh"),
            layers.Dropout(0.5),
            # float32 output under mixed precision, like the generated model
            layers.Dense(classes, activation="softmax", dtype="float32"),
        ],
        name="alexnet_by_hand",
    )


# ---- measurement ----------------------------------------------------------------------------


def device_line() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        what = f"GPU: {details.get('device_name', gpus[0].name)}"
        if len(gpus) > 1:
            what += f" (1 of {len(gpus)} used)"
    else:
        name = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        what = f"CPU: {name}, {os.cpu_count()} logical cores"
    return (f"{what}; TensorFlow {tf.__version__}, Keras {keras.__version__}, "
            f"Python {platform.python_version()}")


def synthetic_batch(batch: int, seed: int, device: str):
    """One batch of random images and one-hot labels, resident on `device`."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *INPUT_SHAPE), dtype=np.float32)
    y = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, batch)]
    with tf.device(device):
        return tf.identity(tf.constant(x)), tf.identity(tf.constant(y))


def build_pair(generated_module, seed: int, x, mixed_precision: bool):
    """The generated and the hand-written model, checked to be the same network, with the same
    weights."""
    keras.utils.set_random_seed(seed)
    generated = generated_module.build_model()
    hand = hand_written_alexnet()
    counts = (generated.count_params(), hand.count_params())
    if counts != (EXPECTED_PARAMS, EXPECTED_PARAMS):
        raise BenchmarkInvalid(f"parameter counts differ: generated {counts[0]:,}, "
                               f"hand-written {counts[1]:,}, expected {EXPECTED_PARAMS:,}")
    shapes = ([tuple(w.shape) for w in generated.weights], [tuple(w.shape) for w in hand.weights])
    if shapes[0] != shapes[1]:
        raise BenchmarkInvalid(f"weight shapes differ: {shapes[0]} vs {shapes[1]}")
    compute = "float16" if mixed_precision else "float32"
    for model in (generated, hand):
        dtypes = {layer.compute_dtype for layer in model.layers[:-1]
                  if isinstance(layer, (layers.Conv2D, layers.Dense))}
        if dtypes != {compute} or model.layers[-1].compute_dtype != "float32":
            raise BenchmarkInvalid(f"{model.name} computes in {sorted(dtypes)} (softmax: "
                                   f"{model.layers[-1].compute_dtype}), expected {compute}")
    hand.set_weights(generated.get_weights())
    sample = x[:2]
    difference = float(np.max(np.abs(np.asarray(generated(sample, training=False))
                                      - np.asarray(hand(sample, training=False)))))
    tolerance = 1e-2 if mixed_precision else 1e-5
    if not difference <= tolerance:
        raise BenchmarkInvalid(f"the two models predict differently: max |difference| "
                               f"{difference:.3g} > {tolerance:g}")
    return generated, hand


def compile_model(model, jit: bool) -> None:
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=1e-3, momentum=0.9),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=jit,
    )


def train_steps(model, x, y, steps: int) -> list[float]:
    """Seconds of each of `steps` training steps (`train_on_batch` returns the loss as a number,
    so the device has finished the step when it returns)."""
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        logs = model.train_on_batch(x, y, return_dict=True)
        seconds.append(time.perf_counter() - start)
    if not np.isfinite(logs["loss"]):
        raise RuntimeError(f"{model.name}: the loss is {logs['loss']}")
    return seconds


def run_configuration(name, generated_module, x, y, args, on_gpu):
    """Measure one configuration; a dict with the row of the table."""
    options = CONFIGURATIONS[name]
    batch = int(x.shape[0])
    row = {"name": name, "batch": batch}
    previous_policy = keras.mixed_precision.global_policy()
    models = ()
    try:
        if options["mixed_precision"]:
            keras.mixed_precision.set_global_policy("mixed_float16")
        models = build_pair(generated_module, args.seed, x, options["mixed_precision"])
        for model in models:
            compile_model(model, options["jit"])
        last_step = []
        for model in models:  # tracing / XLA compilation and the first steps: not timed
            for _ in range(args.warmup - 1):
                train_steps(model, x, y, 1)
            last_step += train_steps(model, x, y, 1)
        where = "on GPU" if on_gpu else "on CPU"
        return paired_rounds(row, [lambda n, m=m: train_steps(m, x, y, n) for m in models],
                             last_step, where, args)
    except BenchmarkInvalid:
        raise
    except Exception as error:  # noqa: BLE001 -- reported in the table; the others still run
        message = str(error).strip().splitlines()
        row["skipped"] = (f"failed {'on GPU' if on_gpu else 'on CPU'}: {type(error).__name__}: "
                          f"{message[0][:120] if message else ''}")
        return row
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
        del models
        keras.backend.clear_session()
        gc.collect()


def main(argv=None):
    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    batch, steps, rounds, warmup, budget = DEFAULTS["GPU" if on_gpu else "CPU"]
    parser = argparse.ArgumentParser(
        description="Training throughput: generated AlexNet vs the same model by hand.")
    parser.add_argument("--backend", choices=("keras", "torch"), default="keras",
                        help="keras (default): this table; torch: the PyTorch program against "
                             "AlexNet by hand in PyTorch (bench/torch_throughput.py)")
    parser.add_argument("--plain", action="store_true", help="float32, no XLA")
    parser.add_argument("--mixed-precision", action="store_true", help="mixed_float16 policy")
    parser.add_argument("--jit", action="store_true", help="jit_compile=True (XLA)")
    add_round_arguments(parser, batch, steps, rounds, warmup, budget)
    args = parse_round_arguments(parser, argv)
    chosen = [name for name in CONFIGURATIONS if getattr(args, name.replace("-", "_"))]
    chosen = chosen or list(CONFIGURATIONS)

    analysis = shapelang.load(NETWORK).analyse().raise_for_errors().analysis
    analysed = int(analysis.total("params"))
    if analysed != EXPECTED_PARAMS:
        raise BenchmarkInvalid(f"shapelang counts {analysed:,} parameters in {NETWORK.name}, "
                               f"expected {EXPECTED_PARAMS:,}")
    generated_module = load_generated_module(analysis)
    x, y = synthetic_batch(args.batch_size, args.seed, "/GPU:0" if on_gpu else "/CPU:0")

    print(f"device: {device_line()}")
    print(f"model: {NETWORK.relative_to(ROOT)} (generated) vs hand_written_alexnet(), "
          f"{EXPECTED_PARAMS:,} parameters each; input {INPUT_SHAPE}, {CLASSES} classes")
    print(f"training step: SGD lr=1e-3 momentum=0.9, categorical crossentropy, "
          f"{args.warmup} warm-up steps per model; ex/s at the median step time, ratio: "
          "median of the rounds' ratios")
    print()
    start = time.perf_counter()
    rows = []
    for name in chosen:
        rows.append(run_configuration(name, generated_module, x, y, args, on_gpu))
        print(f"  {name}: done after {time.perf_counter() - start:.0f} s", flush=True)
    print()
    print_table(rows)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
