"""The house's rules, read from its source: no import cycle between shapelang's modules
(function-local imports included), and the analysis run once per command."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import shapelang

PACKAGE = Path(shapelang.__file__).parent
ROOT = PACKAGE.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.net"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, modules: dict) -> set[str]:
    """The shapelang modules `name` imports, anywhere in its body: `from .x import y` is an
    import of `x.y` where that is a module, else of `x`."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                if f"{source}.{alias.name}" in modules:
                    found.add(f"{source}.{alias.name}")
                elif source in modules:
                    found.add(source)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as [a, b, …, a], or None (depth-first, iterative)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for start in sorted(graph):
        if start in state:
            continue
        path, work = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while work:
            following = next(work[-1], None)
            if following is None:
                state[path.pop()] = 2
                work.pop()
            elif state.get(following) == 1:
                return path[path.index(following):] + [following]
            elif following not in state:
                state[following] = 1
                path.append(following)
                work.append(iter(sorted(graph.get(following, ()))))
    return None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_the_import_walker_sees_function_local_imports(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from .b import g\n    return g\n")
    (package / "b.py").write_text("from . import a\n")
    modules = {"pkg": package / "__init__.py", "pkg.a": package / "a.py", "pkg.b": package / "b.py"}
    assert _imports("pkg.a", package / "a.py", modules) == {"pkg.b"}
    assert _imports("pkg.b", package / "b.py", modules) == {"pkg.a"}


def test_no_import_cycle_in_shapelang():
    graph = import_graph()
    assert graph.get("shapelang.analysis")
    assert find_cycle(graph) is None, " → ".join(find_cycle(graph))


def test_the_analysis_sits_below_its_consumers():
    graph = import_graph()
    below = {"shapelang.closedform", "shapelang.walk", "shapelang.graph"}
    for name in below:
        assert not graph[name] & {"shapelang.checks", "shapelang.solve", "shapelang.analysis",
                                  "shapelang.report"}, name


@pytest.fixture
def walks(monkeypatch):
    """How many walks of a network start: every analysis, whole or of one block, is one."""
    from shapelang import walk

    started = []
    original = walk._Walker.__init__

    def counted(self, *args, **kwargs):
        started.append(args[0].name if args else "")
        original(self, *args, **kwargs)

    monkeypatch.setattr(walk._Walker, "__init__", counted)
    return started


@pytest.mark.parametrize("command", ["check", "table", "solve"])
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_one_analysis_per_command(command, path, walks, run_cli):
    code, _, err = run_cli(command, path)
    assert code in (0, 1), err
    assert len(walks) == 1, walks


def test_one_analysis_with_hints_and_an_input_size_report(walks, run_cli, tmp_path):
    """SL302's hint (the smallest input that works), SL305's (a padding that reads every row,
    tried on the network, and the exact sizes) come from the one walk."""
    net = tmp_path / "small.net"
    net.write_text("network small(H = 270, W = 20):\n    input [H, W, 3]\n"
                   "    conv 8 k=3 s=2\n    maxpool k=30\n    flatten\n    dense 2\n")
    code, out, _ = run_cli("check", net)
    assert code == 1 and "SL302" in out and "the smallest input that works: H ≥ 61, W ≥ 61" in out
    assert len(walks) == 1
    net.write_text("network small(H = 270, W = 480):\n    input [H, W, 3]\n"
                   "    conv 8 k=11 s=4\n    flatten\n    dense 2\n")
    code, out, _ = run_cli("check", net)
    assert "`pad=same` or `pad=(1, 2)` on this line reads all of its input" in out
    assert "H ≡ 3 (mod 4), nearest to 270: 267 or 271" in out
    assert len(walks) == 2


def test_layer_rules_pass_no_hidden_keys():
    """What a rule derives besides the shape is typed (a window's geometry, a zeropad's pads,
    an upsample's factors), never an `_`-prefixed key among the option values."""
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (PACKAGE / "layers").glob("*.py"))
    assert 'values["_' not in sources and "a._" not in sources
    for path in EXAMPLES:
        result = shapelang.load(path).analyse().analysis
        for node in result.nodes:
            assert not [k for k in node.options if k.startswith("_")], (path.stem, node.path)
            assert not [k for k in node.args.values if k.startswith("_")], (path.stem, node.path)
            if node.op in ("conv", "maxpool", "avgpool", "depthwiseconv", "sepconv"):
                assert node.geometry is not None and node.padding == node.geometry.pads


def _sources():
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "runtime.py" or "runtime" in path.relative_to(PACKAGE).parts[:-1]:
            continue  # the training runtime: catches what user data raises at its boundary
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def test_no_type_error_as_control_flow():
    """A TypeError is a bug: no handler in the analysis, checks or backends catches one."""
    found = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                names = [n.id for n in ast.walk(node.type) if isinstance(n, ast.Name)]
                if "TypeError" in names:
                    found.append(f"{path.name}:{node.lineno}")
    assert found == []


def test_no_lookup_keyed_by_object_identity():
    """Nothing finds a result by `id(…)` of a statement or expression."""
    found = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "id"):
                found.append(f"{path.name}:{node.lineno}")
    assert found == []


def test_the_generator_analyses_nothing():
    """The Keras generator reads the graph: it imports no analysis entry point, and the walk
    has no mode for it."""
    codegen = "\n".join(p.read_text(encoding="utf-8") for p in (PACKAGE / "codegen").glob("*.py"))
    for name in ("analyse(", "analyse_block", "all_symbolic", "walk_network", "._scope"):
        assert name not in codegen, name
    assert "emission" not in (PACKAGE / "walk.py").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_one_analysis_per_keras_command(path, walks, run_cli, tmp_path):
    code, _, err = run_cli("keras", path, "-o", tmp_path / "model.py")
    assert code in (0, 1), err
    assert len(walks) == 1, walks


# ---- backends outside the layers ---------------------------------------------------------------
BACKENDS = {"keras": "shapelang.codegen.keras_layers", "torch": "shapelang.codegen.torch_layers"}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_every_registered_op_has_an_emitter_in_every_backend(backend):
    import importlib

    from shapelang.layers import REGISTRY

    emitters = importlib.import_module(BACKENDS[backend])
    missing = [op for op in REGISTRY if emitters.emitter(op) is None]
    assert missing == [], f"the {backend} backend has no emitter for {missing}"


def test_an_op_without_an_emitter_is_refused_by_name():
    from shapelang.codegen import keras_layers

    with pytest.raises(LookupError, match="no emitter for `attention`"):
        keras_layers.keras_layers("attention", None, [], ())


def test_layer_kinds_know_no_backend():
    """`shapelang/layers/` holds the rules alone: no emitter method, no code generator import."""
    for path in sorted((PACKAGE / "layers").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        methods = [n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
        assert "keras" not in methods, path.name
        imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not any("codegen" in m for m in imported), path.name
