"""The analysis, once per command: the walk (`walk.py`) of a network with its bindings, frozen
into an `AnalysedGraph`, then the checks over that graph (`checks.py`). Every consumer reads
the graph this returns; nothing analyses the network again.
"""
from __future__ import annotations

from dataclasses import replace

from . import conventions, ir, limits
from .checks import run_checks
from .diagnostics import Diagnostic
from .graph import AnalysedGraph, Node, enclosing_instance, frozen_mapping
from .layers import Shape
from .walk import (  # noqa: F401 (the analysis's names, re-exported)
    EXPECT_SUBJECTS,
    Analysis,
    Instance,
    LayerResult,
    Relative,
    RepeatRecord,
    _cycles,
    as_int,
    input_dimension,
    merge_repeats,
    parse_binding,
    stopped_for_time,
    walk_network,
)


def analyse(network: ir.Network, bindings: dict | None = None, *,
            input_override: Shape | None = None, checks: bool = True,
            relative: bool = False, convention: str = "keras") -> AnalysedGraph:
    """Analyse `network` with some parameters bound (`bindings`: name → number). Parameters
    neither bound nor defaulted stay symbols. Never raises for a problem in the network: every
    problem is in `.diagnostics`. `checks=False` skips the domain and `expect` checks and the
    hints. `relative` derives every layer relative to its root too (`Node.relative`): what a
    backend writes as expressions. `convention`: whose parameter counts the nodes hold
    (`conventions.py`: "keras", or "torch"); `expect` and the checks read Keras's.
    Bounded by `limits.MAX_ANALYSIS_SECONDS`."""
    graph = _analyse(network, bindings, input_override, checks, relative)
    return conventions.under(graph, convention)


def _analyse(network, bindings, input_override, checks, relative) -> AnalysedGraph:
    with limits.time_limit():
        walked = walk_network(network, bindings, input_override=input_override,
                              relative=relative, hints=checks)
        graph = freeze(walked)
        if stopped_for_time(walked) or not checks:
            return replace(graph, diagnostics=tuple(walked.diagnostics),
                           complete=walked.complete)
        found = run_checks(graph, walked.env)
        stopped = _stopped_for_time(found)
        found = merge_repeats(found)
        found.sort(key=Diagnostic.sort_key)
        return replace(graph, diagnostics=tuple(found),
                       complete=graph.complete and not stopped)


def _stopped_for_time(found: list) -> bool:
    message = limits.time_message()
    for i, d in enumerate(found):
        if d.code == "SL217" and d.message == message:
            del found[i + 1:]
            return True
    return False


def freeze(walked: Analysis) -> AnalysedGraph:
    """The walk's findings as the immutable graph."""
    instance_paths = {i.name for i in walked.instances}
    nodes = tuple(_node(r, instance_paths) for r in walked.layers)
    return AnalysedGraph(
        network=walked.network, bindings=frozen_mapping(walked.bindings),
        symbols=frozen_mapping(walked.symbols), nodes=nodes,
        by_path=frozen_mapping({n.path: n for n in nodes}), instances=tuple(walked.instances),
        tensors=frozen_mapping(walked.tensors), shapes=frozen_mapping(walked.shapes),
        minimum_sizes=tuple(walked.minimum_sizes), remainders=tuple(walked.remainders),
        maximum_sizes=tuple(walked.maximum_sizes),
        diagnostics=tuple(walked.diagnostics), complete=walked.complete,
        train=frozen_mapping(walked.train), input_sizes=walked.input_sizes,
        padding_fixes=walked.padding_fixes, produced=frozen_mapping(walked.produced),
        outputs=frozen_mapping({**walked.outputs,
                                **{i.name: i.output for i in walked.instances}}),
        input_paths=tuple(walked.input_paths), output_paths=tuple(walked.output_paths),
        output_labels=tuple(walked.output_names))


def _node(r: LayerResult, instance_paths: set) -> Node:
    values = r.args.values
    options = dict(values)
    return Node(
        index=r.index, path=r.name, op=r.op, options=frozen_mapping(options),
        activation=r.args.activation, geometry=r.args.geometry, inputs=r.inputs, shape=r.shape,
        trainable=r.trainable, non_trainable=r.non_trainable, macs=r.macs, span=r.layer.span,
        instance=enclosing_instance(r.name, instance_paths), label=r.layer.label, statement=r.layer,
        args=r.args, padding=r.padding, relative=r.relative)


