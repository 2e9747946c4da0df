"""Estimated against measured memory of one training step, per network.

    python bench/memory_peak.py                 # every network, batch 32, Adam
    python bench/memory_peak.py --batch 64 --optimizer sgd --networks torchvision_resnet50
    python bench/memory_peak.py --help

The estimate is shapelang's (`shapelang table --batch-size B`, `shapelang/memory.py`): weights,
gradients, optimizer state and the activations kept for the backward pass. What is measured,
where a GPU is present:

- **PyTorch**: torchvision's own model for each `examples/torchvision_*.net` (AlexNet, VGG16,
  ResNet-50, MobileNetV2), on `cuda:0`: one warm-up step (forward, cross-entropy, backward,
  optimizer step: the optimizer's state exists from then on), gradients set to None, the peak
  statistics reset, then a second step; the peak is `torch.cuda.max_memory_allocated()`, the
  bytes in tensors at the step's fullest moment (the caching allocator's reserve aside).
- **TensorFlow**: the Keras model shapelang generates for each `.net` given (by default the
  Keras examples AlexNet, VGG16, ResNet-50 and MobileNetV2), compiled with the same optimizer
  and categorical cross-entropy: one warm-up `train_on_batch`, the peak statistics reset
  (`tf.config.experimental.reset_memory_stats`), a second one; the peak is
  `tf.config.experimental.get_memory_info("GPU:0")["peak"]`. TensorFlow reserves GPU memory in
  growing pools; memory growth is turned on so that the peak is what the step used.

Without a GPU (neither framework sees one) the script prints the estimates only, the same
table with the measured columns empty, and says so; it runs unchanged on a GPU machine.
Every line shows the estimate, the measured peak and estimate / measured.
"""
from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import shapelang
from shapelang.memory import OPTIMIZER_SLOTS, human

TORCHVISION = {"torchvision_alexnet": "alexnet", "torchvision_vgg16": "vgg16",
               "torchvision_resnet50": "resnet50", "torchvision_mobilenetv2": "mobilenet_v2"}
KERAS = ("alexnet", "vgg16", "resnet50", "mobilenetv2")


def shapelang_estimate(name: str, batch: int, optimizer: str):
    result = shapelang.load(ROOT / "examples" / f"{name}.net").analyse()
    return result.memory(batch_size=batch, optimizer=optimizer)


def torch_peak(builder: str, batch: int, optimizer: str) -> int | None:
    """The peak bytes allocated in a training step of torchvision's model, or None (no GPU)."""
    try:
        import torch
        import torchvision
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    device = torch.device("cuda:0")
    torch.manual_seed(0)
    model = getattr(torchvision.models, builder)(weights=None).to(device).train()
    options = {"sgd": (torch.optim.SGD, {"lr": 1e-3}),
               "momentum": (torch.optim.SGD, {"lr": 1e-3, "momentum": 0.9}),
               "adam": (torch.optim.Adam, {"lr": 1e-3})}
    make, kwargs = options[optimizer]
    step_optimizer = make(model.parameters(), **kwargs)
    images = torch.randn(batch, 3, 224, 224, device=device)
    labels = torch.randint(0, 1000, (batch,), device=device)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        step_optimizer.zero_grad(set_to_none=True)
        loss_fn(model(images), labels).backward()
        step_optimizer.step()

    step()
    step_optimizer.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats(device)
    step()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated(device)


def torch_peak_then_free(builder: str, batch: int, optimizer: str) -> int | None:
    peak = torch_peak(builder, batch, optimizer)
    if peak is not None:  # the model and its state went out of scope with torch_peak
        import torch

        gc.collect()
        torch.cuda.empty_cache()
    return peak


def tensorflow_peak(name: str, batch: int, optimizer: str) -> int | None:
    """The peak bytes of a Keras `train_on_batch` of the generated model, or None (no GPU)."""
    try:
        import tensorflow as tf
    except ImportError:
        return None
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised by an earlier network: growth is set
            pass
    import keras
    import numpy as np

    model = shapelang.load(ROOT / "examples" / f"{name}.net").to_keras()
    keras_optimizer = {"sgd": keras.optimizers.SGD(1e-3),
                       "momentum": keras.optimizers.SGD(1e-3, momentum=0.9),
                       "adam": keras.optimizers.Adam(1e-3)}[optimizer]
    model.compile(optimizer=keras_optimizer, loss="categorical_crossentropy")
    shape = (batch, *model.input_shape[1:])
    classes = model.output_shape[-1]
    rng = np.random.default_rng(0)
    images = rng.standard_normal(shape, dtype=np.float32)
    labels = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, batch)]
    model.train_on_batch(images, labels)
    tf.config.experimental.reset_memory_stats("GPU:0")
    model.train_on_batch(images, labels)
    peak = tf.config.experimental.get_memory_info("GPU:0")["peak"]
    del model
    keras.backend.clear_session()
    gc.collect()
    return peak


def row(framework: str, name: str, estimated: int, measured: int | None) -> str:
    shown = human(measured) if measured is not None else "—"
    ratio = f"{estimated / measured:5.2f}" if measured else "  —"
    return f"{framework:<10}  {name:<24}  {human(estimated):>12}  {shown:>12}  {ratio}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--optimizer", choices=("sgd", "momentum", "adam"), default="adam")
    parser.add_argument("--networks", nargs="*", help="example names (default: all)")
    parser.add_argument("--frameworks", nargs="*", choices=("torch", "tensorflow"),
                        default=["torch", "tensorflow"])
    args = parser.parse_args(argv)
    wanted = set(args.networks) if args.networks else None
    slots = OPTIMIZER_SLOTS[args.optimizer]
    print(f"one training step at batch {args.batch}, optimizer {args.optimizer} ({slots} slots "
          f"per weight), float32; estimate: shapelang's training total")
    print(f"{'framework':<10}  {'network':<24}  {'estimate':>12}  {'measured':>12}  "
          f"estimate/measured")
    measured_any = False
    if "torch" in args.frameworks:
        for name, builder in TORCHVISION.items():
            if wanted and name not in wanted:
                continue
            memory = shapelang_estimate(name, args.batch, args.optimizer)
            peak = torch_peak_then_free(builder, args.batch, args.optimizer)
            measured_any |= peak is not None
            print(row("pytorch", name, memory["training"], peak), flush=True)
    if "tensorflow" in args.frameworks:
        for name in KERAS:
            if wanted and name not in wanted:
                continue
            memory = shapelang_estimate(name, args.batch, args.optimizer)
            peak = tensorflow_peak(name, args.batch, args.optimizer)
            measured_any |= peak is not None
            print(row("keras", name, memory["training"], peak), flush=True)
    if not measured_any:
        print("no GPU: estimates only (PyTorch's max_memory_allocated and TensorFlow's "
              "get_memory_info measure a GPU's memory)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
