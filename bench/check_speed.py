"""How fast `shapelang check` is, and how its cost grows with the network.

    python bench/check_speed.py            # prints a table; see the README's performance section

1. `shapelang check examples/alexnet.net` as a whole process (interpreter start included),
   side by side with what a user would do without shapelang: build the same model in Keras and
   read its summary (`python alexnet_keras.py summary`, the generated program) — the ratio of
   the two wall times.
2. Parsing + analysis of generated sequential networks of 10, 100 and 1,000 layers, with the
   input size bound (H=W=224) and unbound (H, W symbols), in this process; the per-layer cost,
   and its ratio at 1,000 vs 100 layers (flat cost: a ratio near 1).

3. `shapelang check` of ResNet-50 (bound and with H, W unbound), whole process.
4. A residual network of 10, 100 and 1,000 blocks (`repeat N:` of a two-conv residual block,
   six layers each): parse + analyse in-process, and the per-block cost ratio.

Targets: AlexNet check under 1 s wall; 1,000 layers under 2 s; ratio ≤ 1.5 (issue 2);
ResNet-50 check under 1.5 s wall, symbolic included; cost linear in blocks (issue 4).
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shapelang.analysis import analyse
from shapelang.parser import parse


def sequential_network(layers: int) -> str:
    """`layers` layers after the input: conv / batchnorm / relu triples, a valid conv every
    tenth triple and a stride-2 pool at five fixed points, so that symbolic sizes are not
    trivial."""
    lines = ["network deep(H, W):", "    input [H, W, 16]"]
    pools = {int(layers * f) for f in (0.1, 0.3, 0.5, 0.7, 0.9)}
    i = 0
    while len(lines) - 2 < layers:
        if len(lines) - 2 in pools:
            lines.append("    maxpool k=2 s=2 pad=same")
        elif i % 10 == 9:
            lines.append("    conv 16 k=3")
        else:
            lines.append("    conv 16 k=3 pad=same")
        i += 1
        for extra in ("    batchnorm", "    relu"):
            if len(lines) - 2 < layers:
                lines.append(extra)
    return "\n".join(lines) + "\n"


def residual_network(blocks: int) -> str:
    return (
        "block res(f):\n    conv f k=3 pad=same\n    batchnorm\n    relu\n"
        "    conv f k=3 pad=same\n    add @input\n    relu\n\n"
        f"network deep(H, W):\n    input [H, W, 16]\n    repeat {blocks}:\n        res 16\n"
    )


def wall(command, repeats=5, cwd=ROOT):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def analysis_time(text: str, bindings: dict, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = analyse(parse(text, "<bench>"), bindings)
        times.append(time.perf_counter() - start)
        assert result.complete and result.ok, result.diagnostics[:3]
    return min(times)


def scaling_table(units: str, unit: str, make_network, bindings: dict):
    """Parse + analyse networks of 10, 100 and 1,000 units, bound and symbolic; print the
    times, the cost per unit, and its ratio at 1,000 vs 100 units."""
    print(f"   {units:>7}  {'bound (s)':>10}  {f'per {unit} (ms)':>14}  {'symbolic (s)':>12}"
          f"  {f'per {unit} (ms)':>14}")
    per_unit = {}
    for n in (10, 100, 1000):
        text = make_network(n)
        bound = analysis_time(text, bindings, 3)
        symbolic = analysis_time(text, {}, 3)
        per_unit[n] = (bound / n, symbolic / n)
        print(f"   {n:>7}  {bound:>10.3f}  {1000 * bound / n:>14.3f}  {symbolic:>12.3f}"
              f"  {1000 * symbolic / n:>14.3f}")
    for i, kind in enumerate(("bound", "symbolic")):
        ratio = per_unit[1000][i] / per_unit[100][i]
        print(f"   per-{unit} cost at 1,000 vs 100 {units}, {kind:<8}  {ratio:5.2f}")


def main():
    cli = [sys.executable, "-m", "shapelang.cli"]
    print("1. whole-process wall time, median of 5 (interpreter start included)")
    alexnet_check = wall(cli + ["check", "examples/alexnet.net"])
    print(f"   shapelang check examples/alexnet.net            {alexnet_check:7.3f} s")
    try:
        import keras  # noqa: F401
    except ImportError:
        print("   (Keras not installed: no comparison)")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            program = Path(tmp) / "alexnet_keras.py"
            subprocess.run(cli + ["keras", "examples/alexnet.net", "-o", str(program)],
                           cwd=ROOT, check=True, capture_output=True)
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            keras_summary = wall([sys.executable, str(program), "summary"], repeats=3)
        print(f"   Keras: build AlexNet and print its summary      {keras_summary:7.3f} s")
        print(f"   ratio Keras / shapelang                         {keras_summary / alexnet_check:7.1f}×")
    print()
    print("2. parse + analyse in-process (best of 3)")
    scaling_table("layers", "layer", sequential_network, {"H": 224, "W": 224})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "deep.net"
        path.write_text(sequential_network(1000))
        deep = wall(cli + ["check", str(path)])
        deep_bound = wall(cli + ["check", str(path), "--set", "H=224", "--set", "W=224"])
    print()
    print(f"   shapelang check of the 1,000-layer network: symbolic {deep:.3f} s, "
          f"bound {deep_bound:.3f} s (whole process)")
    print()
    print("3. ResNet-50, whole-process wall time, median of 5")
    resnet = wall(cli + ["check", "examples/resnet50.net"])
    resnet_symbolic = wall(cli + ["check", "examples/resnet50_symbolic.net"])
    print(f"   shapelang check examples/resnet50.net             {resnet:7.3f} s")
    print(f"   shapelang check examples/resnet50_symbolic.net    {resnet_symbolic:7.3f} s")
    print()
    print("4. residual network of N blocks (6 layers each), parse + analyse (best of 3)")
    scaling_table("blocks", "block", residual_network, {"H": 56, "W": 56})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "residual.net"
        path.write_text(residual_network(1000))
        blocks = wall(cli + ["check", str(path)], repeats=3)
    print(f"   shapelang check of the 1,000-block network (6,000 layers, symbolic): {blocks:.3f} s"
          " (whole process)")


if __name__ == "__main__":
    main()
