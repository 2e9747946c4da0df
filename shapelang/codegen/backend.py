"""What a backend gives the planner (`program.py`): the framework's layer calls of one analysed
layer, and how a block learns its input's shape.

The planner is the same for every backend: it follows the analysis's tensors, makes helper
functions (Keras) or sub-module classes (PyTorch) of blocks and loops of repeats, and checks
its plan against the backend's own calls of the bound analysis (`program.trace`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LayerCall:
    """One framework layer that one analysed layer becomes: `CLASS(**kwargs)`.

    `suffix` names the layers before the last one of a line (an explicit padding: `NAME_pad`);
    `custom` is a class the generated module defines; `activation`, where the backend applies
    the line's activation as a function of the layer's output (PyTorch) rather than as an
    argument of the layer (Keras)."""

    cls: str
    kwargs: dict = field(default_factory=dict)
    suffix: str = ""
    custom: str | None = None
    activation: str | None = None
    call_kwargs: dict = field(default_factory=dict)  # arguments of the call, not of the class


@dataclass(frozen=True)
class Call:
    """A layer argument that is itself a layer, built in place: `CALLEE(**kwargs)` — the layer
    Keras's `Bidirectional` wraps, the `nn.LSTM` a PyTorch module runs. `custom`: a class the
    generated module defines."""

    callee: str
    kwargs: dict = field(default_factory=dict)
    custom: str | None = None


def input_dtype(args) -> str:
    """An `input` line's element type: its `dtype` option's word, float32 without one."""
    value = args.values.get("dtype")
    return "float32" if value is None else str(getattr(value, "name", value))


def is_output(name: str, outputs) -> bool:
    """Whether layer `name` is one of the network's outputs: `outputs` one name, a tuple of
    them (several outputs), or None."""
    return name in outputs if isinstance(outputs, tuple) else name == outputs


@dataclass(frozen=True)
class Backend:
    """`calls(analysis, layer, output_name)`: the layer calls of one analysed layer (`output_name`
    is the network's output layer's, None in a block seen from its use). `block_shapes`: a
    block is built with its input's shape as an argument (a PyTorch module is built before
    any tensor exists), rather than reading it from its input tensor (a Keras function)."""

    name: str
    calls: Callable
    block_shapes: bool
