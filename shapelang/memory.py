"""Memory of training and inference at a batch size, read from an analysed graph.

The convention (the README's "Memory" section states it for users):
- parameters: every weight, trainable and not (batch norm's moving statistics), in float32 —
  mixed precision keeps float32 weights too;
- gradients: one float32 value per trainable weight;
- optimizer state: `slots` float32 values per trainable weight (SGD 0, SGD with momentum 1,
  Adam 2, …: `OPTIMIZER_SLOTS`);
- activations kept for the backward pass: every layer's output at the batch size, the input's
  included, once each, in the activation dtype (float32; float16 under mixed precision) —
  except the layers that only re-view their input (`VIEWS`);
- training total: the four added up; inference total: the parameters and the largest set of
  activations alive at once in a forward pass (a tensor lives from the layer that makes it to
  the last layer that reads it).

torchinfo's figures follow another convention (`torchinfo_figures`).
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy

from .graph import AnalysedGraph

FLOAT32, FLOAT16 = 4, 2  # bytes per value

#: Optimizer state per trainable weight, as Keras 3 keeps it (its optimizers' `build`).
OPTIMIZER_SLOTS = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2, "nadam": 2, "adamax": 2,
                   "rmsprop": 1, "adagrad": 1, "adadelta": 2, "lion": 1, "ftrl": 2}
DEFAULT_OPTIMIZER = "adam"  # the training runtime's, without a `train:` block

#: Layers whose output is a view of their input: no memory of their own.
VIEWS = frozenset({"flatten", "reshape", "linear"})


@dataclass(frozen=True)
class Optimizer:
    name: str  # as the `train:` block or --optimizer says: `sgd`, `adam`, …
    slots: int  # state values per trainable weight
    why: str  # `sgd with momentum 0.9`

    def describe(self) -> str:
        return f"{self.why}: {self.slots} slot{'' if self.slots == 1 else 's'} per weight"


def optimizer_of(train: dict, override: str | None = None) -> Optimizer:
    """The optimizer whose state is counted: `override` (--optimizer), else the `train:`
    block's, else the runtime's default. SGD and RMSprop keep one more slot with momentum."""
    if override is not None:
        if override not in OPTIMIZER_SLOTS:
            raise ValueError(f"--optimizer {override}: one of {', '.join(OPTIMIZER_SLOTS)}")
        why = "sgd with momentum" if override == "momentum" else override
        return Optimizer(override, OPTIMIZER_SLOTS[override], f"{why} (--optimizer)")
    name = train.get("optimizer")
    if name is None:
        return Optimizer(DEFAULT_OPTIMIZER, OPTIMIZER_SLOTS[DEFAULT_OPTIMIZER],
                         f"{DEFAULT_OPTIMIZER} (the runtime's default; no `train:` optimizer)")
    momentum = (train.get("optimizer_options") or {}).get("momentum", 0) or 0
    slots = OPTIMIZER_SLOTS.get(name, 2)
    why = name
    if name in ("sgd", "rmsprop") and momentum > 0:
        slots += 1
        why = f"{name} with momentum {momentum:g}"
    if (train.get("optimizer_options") or {}).get("centered"):
        slots += 1
    return Optimizer(name, slots, f"{why} (`train:` block)")


@dataclass(frozen=True)
class Memory:
    """Bytes, as sympy integers where the network is bound (closed forms where not)."""

    batch: object
    mixed_precision: bool
    optimizer: Optimizer
    parameters: sympy.Expr
    gradients: sympy.Expr
    optimizer_state: sympy.Expr
    activations: sympy.Expr  # kept for the backward pass, at `batch`
    inference_activations: sympy.Expr | None  # the largest set alive at once; None unbound
    torchinfo_params: sympy.Expr  # torchinfo's "Params size", in bytes
    torchinfo_forward_backward: sympy.Expr  # its "Forward/backward pass size", in bytes

    @property
    def training(self):
        return self.parameters + self.gradients + self.optimizer_state + self.activations

    @property
    def inference(self):
        if self.inference_activations is None:
            return None
        return self.parameters + self.inference_activations

    @property
    def activation_dtype(self) -> str:
        return "float16" if self.mixed_precision else "float32"

    def as_dict(self) -> dict:
        return {"batch_size": self.batch, "activation_dtype": self.activation_dtype,
                "optimizer": self.optimizer.name, "optimizer_slots": self.optimizer.slots,
                "parameters": self.parameters, "gradients": self.gradients,
                "optimizer_state": self.optimizer_state, "activations": self.activations,
                "training": self.training,
                "inference_activations": self.inference_activations,
                "inference": self.inference,
                "torchinfo_params_size": self.torchinfo_params,
                "torchinfo_forward_backward_size": self.torchinfo_forward_backward}


def estimate(graph: AnalysedGraph, batch, optimizer: Optimizer | None = None,
             mixed_precision: bool = False) -> Memory:
    """The memory of one training step and of inference at `batch` (an int or a symbol)."""
    batch = sympy.Integer(batch) if isinstance(batch, int) else batch
    optimizer = optimizer or optimizer_of(dict(graph.train))
    values = FLOAT16 if mixed_precision else FLOAT32
    trainable = graph.total("trainable")
    kept = sum((n.size for n in graph.nodes if n.op not in VIEWS), sympy.Integer(0))
    return Memory(
        batch=batch, mixed_precision=mixed_precision, optimizer=optimizer,
        parameters=FLOAT32 * graph.total("params"), gradients=FLOAT32 * trainable,
        optimizer_state=FLOAT32 * optimizer.slots * trainable,
        activations=values * batch * kept,
        inference_activations=_largest_live(graph, batch, values),
        torchinfo_params=FLOAT32 * trainable,
        torchinfo_forward_backward=torchinfo_forward_backward(graph, batch))


def torchinfo_forward_backward(graph: AnalysedGraph, batch, values: int = FLOAT32):
    """torchinfo's "Forward/backward pass size" (torchinfo 1.8, model_statistics.py): the
    output of every leaf module that has parameters, counted twice ("x2 for gradients"). In
    PyTorch a layer with parameters is one module; a fused activation or a merge has none.
    Its "Params size" counts `named_parameters()` only — batch norm's running statistics are
    buffers — which is the analysis's trainable count (`Memory.torchinfo_params`)."""
    outputs = sum((n.size for n in graph.nodes if n.params != 0), sympy.Integer(0))
    return 2 * values * batch * outputs


def _largest_live(graph: AnalysedGraph, batch, values: int):
    """The most activation bytes alive at once in a forward pass (None while sizes are
    closed forms: a maximum of many of them is not worth sympy's time)."""
    if any(not n.size.is_number for n in graph.nodes):
        return None
    last_read = {n.path: n.index for n in graph.nodes}
    for n in graph.nodes:
        for source in n.inputs:
            last_read[source] = max(last_read.get(source, 0), n.index)
    for path in graph.output_paths or [n.path for n in graph.nodes[-1:]]:
        last_read[path] = len(graph.nodes)  # every output is alive at the end
    own = {n.path: (0 if n.op in VIEWS else int(n.size)) for n in graph.nodes}
    alive, largest = 0, 0
    ends: dict[int, int] = {}  # index → bytes that die after it
    for n in graph.nodes:
        alive += own[n.path]
        largest = max(largest, alive)
        ends[last_read[n.path]] = ends.get(last_read[n.path], 0) + own[n.path]
        alive -= ends.pop(n.index, 0)
    return values * batch * largest


def parse_bytes(text: str) -> int:
    """`16GiB`, `80 GB`, `1.5e9`, `512MiB` as bytes (exact; GiB = 2^30, GB = 10^9). Read by
    hand, never evaluated; raises ValueError (a `limits.LimitError` past the limits)."""
    from . import limits

    body = text.strip()
    number = body.rstrip("KMGTPiBb ")
    unit = body[len(number):].strip()
    if unit and unit not in UNITS:
        raise ValueError(f"unknown unit `{unit}` (one of {', '.join(UNITS)})")
    value = limits.read_decimal(number) * UNITS.get(unit, 1)
    if value.denominator != 1:
        raise ValueError(f"{text} is not a whole number of bytes")
    return int(value)


UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KiB": 2**10,
         "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def human(count) -> str:
    """Bytes for reading: `1.23 GiB`; a closed form as it is."""
    if not getattr(count, "is_number", True):
        return str(count)
    count = int(count)
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:,.2f} {unit}"
    return f"{count} B"
