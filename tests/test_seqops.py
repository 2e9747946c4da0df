"""The sequence ops — `embedding`, `posembed`, `clstoken`, `take`, `slice`, `transpose`,
`mean`, `input … dtype=`, `dense … tie=` — against outside truths:

- a table of small networks using every op and option, each built by Keras (every layer's
  shape and parameter count against the analysis: tests/keras_oracle.py) and by PyTorch
  (tests/torch_oracle.py), and the two computing the same with Keras's weights copied into the
  torch module (tests/test_backend_equivalence.py's `compare`);
- brute force for the symbolic claims: the sizes at which `posembed`, `slice` and `take` are
  valid, enumerated and compared with what Python's own indexing and numpy's broadcasting do,
  and with the domain `solve` derives with the size unbound;
- weight tying: the matrix counted once by Keras (`count_params`) and by PyTorch
  (`parameters()`), and trained by both uses;
- `check`/`solve` on them never import TensorFlow or PyTorch.
"""
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import shapelang
from shapelang.checks import input_size_report

ROOT = Path(__file__).resolve().parents[1]


def _shapelang(*arguments):
    """The command in a process of its own: (exit status, stdout, stderr)."""
    done = subprocess.run([sys.executable, "-m", "shapelang.cli", *map(str, arguments)],
                          check=False, capture_output=True, text=True, timeout=180, cwd=ROOT)
    return done.returncode, done.stdout, done.stderr

#: (name, network, bindings) — every op and option of the sequence kinds at least once.
NETWORKS = [
    ("gpt_tied", """
        network gpt_tied(T = 12, V = 40, D = 8):
            input [T] dtype=int32
            wte: embedding V D
            posembed 16
            dense D last_axis=true gelu
            dense V tie=wte bias=false
        """),
    ("vit_patches", """
        network vit_patches:
            input [8, 8, 3]
            conv 6 k=4 s=4
            reshape [4, 6]
            clstoken
            posembed 5 exact=true
            dense 6 last_axis=true relu
            take 0
            dense 3 softmax
        """),
    ("ids_2d", """
        network ids_2d:
            input [4, 5] dtype=int64
            embedding 30 6
            transpose [1, 0, 2]
            mean axis=(0, 1)
            dense 3
        """),
    ("slices", """
        network slices:
            input [10, 6]
            slice 2 8
            slice (-4)
            slice 1 (-1) axis=1
            slice (-3) 3
            take (-1) axis=1
            dense 2
        """),
    ("mean_keepdims", """
        network mean_keepdims:
            input [6, 4, 3]
            mean axis=-1 keepdims=true
            transpose [2, 0, 1]
            flatten
            dense 3
        """),
    ("ids_moved", """
        network ids_moved:
            input [3, 4] dtype=int32
            transpose [1, 0]
            reshape [12]
            emb: embedding 10 4
            slice (-5) (-1)
            dense 10 tie=emb softmax
        """),
    ("conv1d_cls", """
        network conv1d_cls:
            input [8, 3]
            conv 4 k=3
            clstoken
            posembed 10
            mean
            dense 2
        """),
]


def _network(text: str, name: str) -> shapelang.Network:
    return shapelang.loads(textwrap.dedent(text), f"{name}.net")


@pytest.mark.parametrize("name,text", NETWORKS, ids=[n for n, _ in NETWORKS])
def test_the_networks_are_analysed_without_diagnostics(name, text):
    result = _network(text, name).analyse()
    assert not result.diagnostics, [d.message for d in result.diagnostics]


# ---- both backends: the layers' shapes and counts, and the same numbers -----------------------
@pytest.mark.keras
@pytest.mark.parametrize("name,text", NETWORKS, ids=[n for n, _ in NETWORKS])
def test_keras_builds_every_layer_as_analysed(name, text):
    pytest.importorskip("keras")
    import keras_oracle

    net = _network(text, name)
    analysis = net.analyse().raise_for_errors().analysis
    assert keras_oracle.differences(analysis, net.to_keras()) == []


@pytest.mark.parametrize("name,text", NETWORKS, ids=[n for n, _ in NETWORKS])
def test_torch_builds_every_layer_as_analysed(name, text):
    pytest.importorskip("torch")
    import torch_oracle

    net = _network(text, name)
    analysis = net.analyse().raise_for_errors().analysis
    assert torch_oracle.differences(analysis, net.to_torch(), batch=2) == []


@pytest.mark.keras
@pytest.mark.parametrize("name,text", NETWORKS, ids=[n for n, _ in NETWORKS])
def test_keras_and_torch_compute_the_same(name, text):
    pytest.importorskip("keras")
    pytest.importorskip("torch")
    from test_backend_equivalence import compare

    assert compare(_network(text, name)) > 0


# ---- published counts -------------------------------------------------------------------------
GPT2_SMALL = """
network gpt2_embeddings(T = 1024):
    input [T] dtype=int32
    wte: embedding 50257 768
    posembed 1024
    dense 50257 tie=wte bias=false
"""


def test_gpt2_embedding_counts_are_the_published_ones():
    """GPT-2 small's wte (50257·768) and wpe (1024·768), and its tied head adds nothing:
    HuggingFace's GPT2LMHeadModel has 124,439,808 parameters, of which these are
    38,597,376 + 786,432."""
    analysis = _network(GPT2_SMALL, "gpt2").analyse().raise_for_errors().analysis
    counts = {r.op: int(r.trainable) for r in analysis.layers}
    assert counts == {"input": 0, "embedding": 38_597_376, "posembed": 786_432, "dense": 0}


def test_vit_b16_token_counts_are_torchvisions():
    """torchvision's vit_b_16: class_token (1, 1, 768) and pos_embedding (1, 197, 768)."""
    analysis = _network("""
        network vit_tokens:
            input [224, 224, 3]
            conv 768 k=16 s=16
            reshape [196, 768]
            clstoken
            posembed 197 exact=true
        """, "vit").analyse().raise_for_errors().analysis
    counts = [int(r.trainable) for r in analysis.layers[-2:]]
    assert counts == [768, 197 * 768]
    assert list(analysis.layers[-1].shape) == [197, 768]


# ---- weight tying: counted once, trained by both uses -----------------------------------------
@pytest.mark.keras
def test_keras_counts_the_tied_matrix_once_and_trains_it_from_both_uses():
    pytest.importorskip("keras")
    import tensorflow as tf

    net = _network(NETWORKS[0][1], "gpt_tied")
    model = net.to_keras()
    layers = {layer.name: layer for layer in model.layers}
    assert model.count_params() == 40 * 8 + 16 * 8 + (8 * 8 + 8)
    assert layers["dense_2"].count_params() == 0
    ids = np.arange(12)[None] % 40
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(ids) ** 2)
    (gradient,) = tape.gradient(loss, [layers["wte"].embeddings])
    # rows of ids the input never holds get a gradient only through the tied head
    assert float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(gradient)[12:]))) > 0


def test_torch_shares_the_tied_parameter_and_trains_it_from_both_uses():
    torch = pytest.importorskip("torch")
    net = _network(NETWORKS[0][1], "gpt_tied")
    module = net.to_torch()
    assert sum(p.numel() for p in module.parameters()) == 40 * 8 + 16 * 8 + (8 * 8 + 8)
    assert module.layers["dense_2"].tied[0] is module.layers["wte"]
    module(torch.arange(12)[None] % 40).pow(2).sum().backward()
    assert module.layers["wte"].weight.grad[12:].abs().sum() > 0


def test_the_table_notes_the_tie(tmp_path):
    path = tmp_path / "gpt.net"
    path.write_text(textwrap.dedent(NETWORKS[0][1]))
    status, out, err = _shapelang("table", path)
    assert status == 0, err
    row = next(line for line in out.splitlines() if line.startswith("4  dense_2"))
    assert row.split()[6:9] == ["0", "0", "0"]  # #params, trainable, non-trainable
    assert "dense_2 reuses the matrix of wte (tie=): counted once, there" in out


# ---- brute force: the valid sizes ----------------------------------------------------------
def _valid(text: str, **bindings) -> bool:
    result = shapelang.loads(text, "brute.net").analyse(**bindings)
    return result.ok


def _domain(text: str):
    """The valid sizes of T that `solve` derives with T unbound: (least, greatest or None),
    None where it says there are none."""
    result = shapelang.loads(text, "brute.net").analyse()
    if not result.ok:  # an error for every T (SL307: no T satisfies the conditions)
        return None
    analysis = result.analysis
    (report,) = input_size_report(analysis)
    domain = report.domain
    if domain is None:
        return (1, None)
    return None if domain.empty else (domain.least, domain.greatest)


def _in(domain, size: int) -> bool:
    return domain is not None and domain[0] <= size and (domain[1] is None or size <= domain[1])


@pytest.mark.parametrize("max_len", [1, 3, 5])
@pytest.mark.parametrize("exact", [False, True])
def test_posembed_is_valid_exactly_where_its_table_has_a_row_per_position(max_len, exact):
    """numpy as the truth: the rows the table gives for T positions (its first T, or, exact,
    all of them) are one per position."""
    text = textwrap.dedent(f"""
        network p(T):
            input [T] dtype=int32
            embedding 10 2
            posembed {max_len} exact={'true' if exact else 'false'}
        """)
    domain = _domain(text)
    for steps in range(1, 2 * max_len + 3):
        table, sequence = np.zeros((max_len, 2)), np.zeros((steps, 2))
        fits = (table if exact else table[:steps]).shape == sequence.shape
        assert _valid(text, T=steps) == fits, steps
        assert _in(domain, steps) == fits, (steps, domain)


STARTS = range(-5, 6)
STOPS = [None, *range(-5, 6)]


def _python_slice(size: int, start: int, stop) -> int | None:
    """Python as the truth: the slice's length where Python takes every position asked for
    (no index clamped to the axis) and at least one; else None."""
    first, end, _ = slice(start, stop).indices(size)
    asked_first = start + size if start < 0 else start
    asked_end = size if stop is None else stop + size if stop < 0 else stop
    if (first, end) != (asked_first, asked_end) or end <= first:
        return None
    return len(range(size)[start:stop])


def test_slice_is_valid_exactly_where_python_takes_what_it_asks_for():
    for start in STARTS:
        for stop in STOPS:
            written = f"slice ({start})" + ("" if stop is None else f" ({stop})")
            text = f"network s(T):\n    input [T, 2]\n    {written}\n"
            domain = _domain(text)
            for size in range(1, 13):
                expected = _python_slice(size, start, stop)
                result = shapelang.loads(text, "s.net").analyse(T=size)
                if expected is None:
                    assert not result.ok, (written, size)
                    assert not _in(domain, size), (written, size, domain)
                else:
                    assert result.ok, (written, size, [d.message for d in result.errors])
                    shape = list(result.analysis.output.shape)
                    assert shape == [expected, 2], (written, size, shape)
                    assert _in(domain, size), (written, size, domain)


def test_take_is_valid_exactly_where_python_indexes():
    for index in range(-6, 6):
        text = f"network t(T):\n    input [T, 2]\n    take ({index})\n"
        domain = _domain(text)
        for size in range(1, 9):
            try:
                list(range(size))[index]
                indexes = True
            except IndexError:
                indexes = False
            assert _valid(text, T=size) == indexes, (index, size)
            assert _in(domain, size) == indexes, (index, size, domain)


# ---- diagnostics: a table of (network, code, words the message must hold) ---------------------
DIAGNOSTICS = [
    ("input [6, 4]\n    embedding 10 4", "SL322", "float tensor"),
    ("input [6] dtype=int32\n    dense 4", "SL323", "embed"),
    ("input [6] dtype=int32\n    flatten\n    embedding 10 4", "SL322", "float tensor"),
    ("input [6] dtype=int32\n    embedding 10 4\n    posembed 4", "SL321", "T ≤ 4"),
    ("input [6] dtype=int32\n    embedding 10 4\n    posembed 8 exact=true", "SL321",
     "exactly 8"),
    ("input [6, 2]\n    take 6", "SL320", "size ≥ 7"),
    ("input [6, 2]\n    slice 3 3", "SL320", "selects no position"),
    ("input [6, 2]\n    slice (-7)", "SL320", "size ≥ 7"),
    ("input [6, 2]\n    transpose [0, 0]", "SL209", "once"),
    ("input [6, 2]\n    mean axis=(0, 1)", "SL304", "scalar"),
    ("input [6] dtype=int32\n    e: embedding 10 4\n    dense 9 tie=e", "SL324", "vocabulary 10"),
    (("input [6] dtype=int32\n    e: embedding 10 4\n    f: dense 3 last_axis=true\n"
      "    dense 10 tie=f"), "SL324", "`embedding`"),
    (("input [6] dtype=int32\n    e: embedding 10 4\n    f: embedding 10 4 @input\n"
      "    dense 10 tie=e"), "SL324", "does not compute this layer's input `f`"),
]


@pytest.mark.parametrize("body,code,words", DIAGNOSTICS)
def test_diagnostics(body, code, words):
    result = shapelang.loads(f"network n:\n    {body}\n", "n.net").analyse()
    found = [(d.code, d.message) for d in result.diagnostics]
    assert any(c == code and words in m for c, m in found), found


# ---- the commands: solve shows the upper bound; no TensorFlow, no PyTorch ---------------------
def test_solve_shows_the_upper_bound_and_set_past_it_is_an_error(tmp_path):
    path = tmp_path / "gpt.net"
    path.write_text(GPT2_SMALL.replace("(T = 1024)", "(T)"))
    status, out, err = _shapelang("solve", path)
    assert status == 0, err
    assert "steps (T): valid for 1 ≤ T ≤ 1024" in out
    status, out, _ = _shapelang("check", path, "--set", "T=2000")
    assert status == 1
    assert "error[SL321]" in out and "T ≤ 1024" in out


def test_check_table_solve_import_neither_framework(tmp_path):
    path = tmp_path / "seq.net"
    path.write_text("\n\n".join(textwrap.dedent(text) for _, text in NETWORKS[:1]))
    probe = ("import runpy, sys\n"
             "path = sys.argv[1]\n"
             "for command in ('check', 'table', 'solve'):\n"
             "    sys.argv = ['shapelang', command, path]\n"
             "    try:\n"
             "        runpy.run_module('shapelang.cli', run_name='__main__')\n"
             "    except SystemExit as exit:\n"
             "        assert exit.code == 0, (command, exit.code)\n"
             "print(sorted(m for m in ('tensorflow', 'torch', 'keras') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", probe, str(path)], check=False,
                          capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
