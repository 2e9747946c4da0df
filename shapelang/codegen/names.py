"""The names of a generated program's top-level scope: what its imports, the runtime and the
frame bind, and every name of the user's `.net` file (which the generator's own names avoid)."""
from __future__ import annotations

import ast
import functools

from .. import ir
from . import frame
from .pywriter import Namespace


def _imported_names(line: str) -> list[str]:
    node = ast.parse(line).body[0]
    return [(alias.asname or alias.name).split(".")[0] for alias in node.names]


@functools.cache
def _runtime_names() -> frozenset[str]:
    """Every name a module of the runtime binds at its top level (functions, classes,
    constants, imports): kept from the user's names, so that a program's names do not depend on
    whether it imports the runtime or, as it once did, carries it."""
    names = set()
    for source in frame.runtime_files().values():
        for node in ast.parse(source).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return frozenset(names)


def user_names(network) -> set[str]:
    """Every name of the `.net` file: parameters, labels, blocks, lets and functions."""
    names = {network.name}

    def parameters(items):
        names.update(p.name for p in items)

    def statements(items):
        for s in items:
            if isinstance(s, ir.Layer | ir.Repeat) and s.label:
                names.add(s.label)
            if isinstance(s, ir.Let):
                names.add(s.name)
            if isinstance(s, ir.Function):
                names.add(s.name)
                parameters(s.parameters)
            if isinstance(s, ir.Repeat):
                statements(s.statements)
            if isinstance(s, ir.If):
                statements(s.then)
                statements(s.otherwise)

    parameters(network.parameters)
    statements(network.statements)
    for block in network.blocks:
        names.add(block.name)
        parameters(block.parameters)
        statements(block.statements)
    for function in network.functions:
        names.add(function.name)
        parameters(function.parameters)
    return names


def module_namespace(network, imports, program_names, *, in_classes=False) -> Namespace:
    """The program's top-level scope with its imports, the runtime's names and its own taken;
    `in_classes`: the program's names are written in class bodies (`Namespace`)."""
    module = Namespace(user_names=user_names(network), in_classes=in_classes)
    fixed = set(_runtime_names()) | set(program_names) | set(frame.FRAME_NAMES)
    for line in imports:
        fixed |= set(_imported_names(line))
    for name in sorted(fixed):
        module.claim_exact(name)
    return module
