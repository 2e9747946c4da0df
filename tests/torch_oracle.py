"""PyTorch as the oracle for a generated torch program: every module of the built `nn.Module`
is mapped back to the analysed layer it implements, from where it sits — the `layers`
ModuleDicts of the network's and the blocks' classes, keyed by the analysis's names with `.`
written `/`; a `NAME_pad` module (the zero padding before a layer) belongs to `NAME` — and
compared with the analysis:

- every module is accounted for (a container, a block, a layer's module or a part of one), each
  analysed layer but the input has exactly one module of its own and at most one padding, and a
  layer with parameters has exactly one module that holds them;
- a random input (channels first) run in eval mode with forward hooks on every layer's module:
  each is called once, its output shape (channels first) is the analysed one (channels last);
- trainable counts are the modules' parameters, non-trainable counts their buffers without
  `num_batches_tracked`; the totals as well;
- the wiring: `torch.fx` traces the network with the layers' modules as leaves (blocks are
  traced through), and each layer's inputs — looked through paddings and the activations
  `forward` applies — are, by name and in order, the analysis's `inputs`."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import fx, nn


@dataclass
class ModuleMap:
    """Qualified module name → (analysed layer name, role: "layer" or "pad")."""

    leaves: dict[str, tuple[str, str]] = field(default_factory=dict)
    blocks: dict[str, str] = field(default_factory=dict)  # qualified name → analysed prefix
    containers: set[str] = field(default_factory=set)  # the root and the `layers` dicts
    problems: list[str] = field(default_factory=list)


def _has_layers(module) -> bool:
    return isinstance(getattr(module, "layers", None), nn.ModuleDict)


def module_map(model: nn.Module, analysed: set[str]) -> ModuleMap:
    found = ModuleMap(containers={""})

    def walk(module, qualified: str, prefix: str):
        found.containers.add(f"{qualified}layers")
        for key, child in module.layers.items():
            here = f"{qualified}layers.{key}"
            name = prefix + key.replace("/", ".")
            if _has_layers(child):
                found.blocks[here] = name
                walk(child, here + ".", name + ".")
            elif name in analysed:
                found.leaves[here] = (name, "layer")
            elif name.endswith("_pad") and name[:-len("_pad")] in analysed:
                found.leaves[here] = (name[:-len("_pad")], "pad")
            else:
                found.problems.append(f"module `{here}` ({type(child).__name__}): the "
                                      f"analysis has no layer `{name}`")

    if not _has_layers(model):
        found.problems.append("the model has no `layers` ModuleDict")
        return found
    walk(model, "", "")
    return found


def _numel(tensors) -> int:
    return int(sum(t.numel() for t in tensors))


def _buffers(module) -> int:
    return _numel(b for name, b in module.named_buffers() if not name.endswith("num_batches_tracked"))


def example_input(layer, batch: int, generator):
    """A random batch for an input layer, channels first: normal floats, or ids 0 and 1 for
    an integer input (`dtype=int32`)."""
    dtype = layer.options.get("dtype")
    dtype = "float32" if dtype is None else str(getattr(dtype, "name", dtype))
    shape = (batch, *channels_first(layer.shape))
    if dtype.startswith("int"):
        return torch.randint(0, 2, shape, generator=generator, dtype=getattr(torch, dtype))
    return torch.randn(shape, generator=generator)


def channels_first(shape) -> tuple:
    """An analysis shape (channels last, no batch axis) in PyTorch's order."""
    shape = tuple(int(d) for d in shape)
    return (shape[-1], *shape[:-1]) if len(shape) > 1 else shape


def token_ids_below(analysis) -> int:
    """The ids every embedding of the network can look up: 0 … the least vocabulary − 1."""
    return min((int(r.args.vocab) for r in analysis.layers if r.op == "embedding"), default=2)


class _LeafTracer(fx.Tracer):
    def __init__(self, leaves):
        super().__init__()
        self.leaves = leaves

    def is_leaf_module(self, module, qualified_name):
        return qualified_name in self.leaves


def traced_inputs(model, found: ModuleMap, input_name) -> dict[str, list[list[str]]]:
    """Analysed layer → the analysed layers each of its module's calls reads, from an fx trace.
    `input_name`: the input layer's name, or a list of them in `forward`'s argument order."""
    graph = _LeafTracer(set(found.leaves)).trace(model)
    input_names = [input_name] if isinstance(input_name, str) else list(input_name)
    placeholders = {node.name: input_names[k] for k, node in
                    enumerate(n for n in graph.nodes if n.op == "placeholder")}

    def arguments(node) -> list[str]:
        read = []
        fx.node.map_arg((node.args, node.kwargs), lambda n: read.extend(sources(n)))
        return read

    def sources(node) -> list[str]:
        if node.op == "placeholder":
            return [placeholders[node.name]]
        if node.op == "call_module" and node.target in found.leaves:
            name, role = found.leaves[node.target]
            if role == "layer":
                return [name]
        if node.op == "get_attr":
            return []
        return arguments(node)  # a padding, or a function of tensors (an activation)

    reads: dict[str, list[list[str]]] = {}
    for node in graph.nodes:
        if node.op == "call_module" and found.leaves.get(node.target, (None, ""))[1] == "layer":
            reads.setdefault(found.leaves[node.target][0], []).append(arguments(node))
    return reads


def differences(analysis, model: nn.Module, *, batch: int = 1, seed: int = 0) -> list[str]:
    """Every way `model` differs from `analysis` (empty when it is the analysed network)."""
    layers = {r.name: r for r in analysis.layers}
    input_layer = analysis.layers[0]
    # several inputs: forward's arguments in the network's input order
    input_layers = [layers[p] for p in getattr(analysis, "input_paths", ())] or [input_layer]
    found = module_map(model, set(layers))
    problems = list(found.problems)
    modules = dict(model.named_modules())

    # every module accounted for
    owned = set(found.leaves) | set(found.blocks) | found.containers
    for name, module in modules.items():
        if name not in owned and not any(name.startswith(leaf + ".") for leaf in found.leaves):
            problems.append(f"module `{name}` ({type(module).__name__}): not a layer's")
    by_layer: dict[str, dict[str, list[str]]] = {}
    for qualified, (name, role) in found.leaves.items():
        by_layer.setdefault(name, {"layer": [], "pad": []})[role].append(qualified)

    # counts and one module per layer
    for r in analysis.layers:
        own = by_layer.get(r.name, {"layer": [], "pad": []})
        if r in input_layers:
            if own["layer"] or own["pad"]:
                problems.append(f"`{r.name}`: the input has modules {own}")
            continue
        if len(own["layer"]) != 1 or len(own["pad"]) > 1:
            problems.append(f"`{r.name}`: modules {own['layer']} and paddings {own['pad']}, "
                            "analysed one module (and at most one padding)")
            continue
        parts = [modules[q] for q in own["layer"] + own["pad"]]
        trainable = sum(_numel(m.parameters()) for m in parts)
        buffers = sum(_buffers(m) for m in parts)
        for what, got, count in (("trainable", trainable, r.trainable),
                                  ("non-trainable", buffers, r.non_trainable)):
            if got != int(count):
                problems.append(f"`{r.name}`: {got} {what} parameters, analysed {count}")
        holders = [q for q, m in zip(own["layer"] + own["pad"], parts)
                   if _numel(m.parameters()) or _buffers(m)]
        if int(r.trainable) + int(r.non_trainable) and len(holders) != 1:
            problems.append(f"`{r.name}`: parameters in {holders}, analysed one module")
    if _numel(model.parameters()) != int(analysis.total("trainable")):
        problems.append(f"{_numel(model.parameters())} parameters, analysed trainable "
                        f"{analysis.total('trainable')}")
    if _buffers(model) != int(analysis.total("non_trainable")):
        problems.append(f"{_buffers(model)} buffer values, analysed non-trainable "
                        f"{analysis.total('non_trainable')}")
    if problems:
        return problems

    # shapes: a forward pass with hooks on every layer's module
    shapes: dict[str, list[tuple]] = {}
    handles = []
    for qualified, (name, role) in found.leaves.items():
        if role == "layer":
            def record(module, inputs, output, name=name):
                shapes.setdefault(name, []).append(tuple(output.shape[1:]))
            handles.append(modules[qualified].register_forward_hook(record))
    generator = torch.Generator().manual_seed(seed)
    xs = [example_input(r, batch, generator) for r in input_layers]
    model.eval()
    try:
        with torch.no_grad():
            output = model(*xs)
    finally:
        for handle in handles:
            handle.remove()
    for r in analysis.layers:
        if r in input_layers:
            continue
        expected = channels_first(r.shape)
        if shapes.get(r.name) != [expected]:
            problems.append(f"`{r.name}`: output shapes {shapes.get(r.name)} (channels first), "
                            f"analysed {[expected]}")
    outputs = [layers[p] for p in getattr(analysis, "output_paths", ())] or [analysis.output]
    got = list(output) if isinstance(output, tuple) else [output]
    if len(outputs) > 1 and not isinstance(output, tuple):
        problems.append(f"model output {type(output).__name__}, analysed a tuple of "
                        f"{len(outputs)}")
    for tensor, r in zip(got, outputs):
        if tuple(tensor.shape[1:]) != channels_first(r.shape):
            problems.append(f"model output {tuple(tensor.shape)}, analysed "
                            f"`{r.name}` {list(r.shape)}")
    if len(got) != len(outputs):
        problems.append(f"{len(got)} model outputs, analysed {len(outputs)}")

    # wiring
    reads = traced_inputs(model, found, [r.name for r in input_layers])
    for r in analysis.layers:
        if r in input_layers:
            continue
        if reads.get(r.name) != [list(r.inputs)]:
            problems.append(f"`{r.name}` reads {reads.get(r.name)}, analysed {[list(r.inputs)]}")
    return problems
