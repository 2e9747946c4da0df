"""Recurrent layers (`simplernn`, `lstm`, `gru`, `bidirectional=…`) and the parameter
conventions (Keras's by default, PyTorch's with `--backend torch`).

Truth from outside: the counts against the frameworks' formulas written out here (Keras:
gates·(U·(D + U) + U), its GRU with `reset_after` two bias vectors; PyTorch: two bias vectors
in `nn.RNN`, `nn.LSTM`, `nn.GRU`), Keras's published IMDB bidirectional LSTM (2,757,761
parameters), and a table of small networks built in both frameworks: every layer's shape and
count against Keras's model (`keras_oracle`, the default analysis) and against the PyTorch
module (`torch_oracle`, the torch convention), and both computing the same outputs with Keras's
weights copied into torch (`test_backend_equivalence.compare`: gate orders and bias vectors).
"""
import csv
import io
import json

import pytest

import shapelang

# ---- the counts, against the frameworks' formulas -----------------------------------------
GATES = {"simplernn": 1, "lstm": 4, "gru": 3}


def keras_count(op, d, u, bias=True, reset_after=True, directions=1):
    """Keras's weights: kernel (D, gU), recurrent kernel (U, gU), bias gU — (2, gU) for a GRU
    with reset_after."""
    g = GATES[op]
    biases = (2 if op == "gru" and reset_after else 1) * g * u if bias else 0
    return directions * (d * g * u + u * g * u + biases)


def torch_count(op, d, u, bias=True, reset_after=True, directions=1):
    """PyTorch's: weight_ih (gU, D), weight_hh (gU, U), bias_ih and bias_hh (gU each); the
    program's GRUResetBefore (reset_after=false) holds one bias, as Keras."""
    g = GATES[op]
    biases = (1 if op == "gru" and not reset_after else 2) * g * u if bias else 0
    return directions * (g * u * d + g * u * u + biases)


COUNT_CASES = [
    # (op, options, T, D, U, output shape, directions)
    ("simplernn", "", 7, 3, 5, [5], 1),
    ("simplernn", "return_sequences=true", 7, 3, 5, [7, 5], 1),
    ("simplernn", "bias=false", 7, 3, 5, [5], 1),
    ("lstm", "", 20, 128, 64, [64], 1),
    ("lstm", "return_sequences=true", 20, 128, 64, [20, 64], 1),
    ("lstm", "bidirectional=concat", 20, 128, 64, [128], 2),
    ("lstm", "bidirectional=true return_sequences=true", 20, 128, 64, [20, 128], 2),
    ("lstm", "bidirectional=sum", 20, 8, 6, [6], 2),
    ("lstm", "use_bias=false merge_mode=mul", 20, 8, 6, [6], 2),
    ("gru", "", 9, 4, 6, [6], 1),
    ("gru", "reset_after=false", 9, 4, 6, [6], 1),
    ("gru", "reset_after=false bidirectional=ave return_sequences=true", 9, 4, 6, [9, 6], 2),
    ("gru", "bias=false", 9, 4, 6, [6], 1),
]


@pytest.mark.parametrize("op, options, t, d, u, shape, directions", COUNT_CASES,
                         ids=[f"{c[0]} {c[1]}" for c in COUNT_CASES])
def test_counts_follow_each_frameworks_formula(op, options, t, d, u, shape, directions):
    text = f"network n:\n    input [{t}, {d}]\n    {op} {u} {options}\n"
    net = shapelang.loads(text)
    keras_layer = net.analyse().raise_for_errors().layers[1]
    torch_layer = net.analyse(convention="torch").raise_for_errors().layers[1]
    bias = "bias=false" not in options
    reset_after = "reset_after=false" not in options
    assert [int(v) for v in keras_layer.shape] == shape
    assert keras_layer.params == keras_count(op, d, u, bias, reset_after, directions)
    assert torch_layer.params == torch_count(op, d, u, bias, reset_after, directions)
    assert keras_layer.macs == t * GATES[op] * u * (d + u) * directions


def test_keras_imdb_bidirectional_lstm_has_its_published_count():
    """keras.io's "Bidirectional LSTM on IMDB": Embedding(20000, 128), two Bidirectional
    LSTM(64), Dense(1): 2,757,761 parameters. The embedding is `embedding` where the branch
    that adds it is merged; here its 20000·128 weights are counted apart otherwise."""
    from shapelang.layers import REGISTRY

    if "embedding" in REGISTRY:
        head, embedding = "input [200] dtype=int32\n    embedding 20000 128", 0
    else:
        head, embedding = "input [200, 128]", 20000 * 128
    text = (f"network imdb:\n    {head}\n    lstm 64 return_sequences=true bidirectional=concat\n"
            "    lstm 64 bidirectional=concat\n    dense 1 sigmoid\n")
    result = shapelang.loads(text).analyse()
    if not result.ok:  # the embedding branch's input line may differ: count the rest
        pytest.skip(f"this branch's `embedding` line: {result.errors[0].message}")
    assert result.total("params") + embedding == 2_757_761


def test_symbolic_sequence_length():
    result = shapelang.loads("network n(T):\n    input [T, 8]\n    lstm 4 return_sequences=true\n"
                             "    gru 2\n").analyse()
    lstm, gru = result.layers[1:]
    t = result.layers[0].shape[0]
    assert not isinstance(t, int)  # the symbol T
    assert list(lstm.shape) == [t, 4] and list(gru.shape) == [2]
    assert lstm.macs == t * 4 * 4 * (8 + 4) and gru.macs == t * 3 * 2 * (4 + 2)


@pytest.mark.parametrize("line, code, words", [
    ("input [4, 4, 3]\n    lstm 8", "SL304", "reads a sequence [T, D]"),
    ("input [12]\n    gru 8", "SL304", "reads a sequence [T, D]"),
    ("input [4, 3]\n    lstm 8 bidirectional=concatenate", "SL204", "`concat`, `sum`"),
    ("input [4, 3]\n    simplernn 0", "SL209", "at least 1"),
    ("input [4, 3]\n    simplernn 4 reset_after=false", "SL202", "reset_after"),
])
def test_mistakes_are_diagnostics(line, code, words):
    found = shapelang.loads(f"network n:\n    {line}\n").check()
    assert [d.code for d in found if d.severity == "error"] == [code], found
    assert words in next(d.message for d in found if d.code == code)


# ---- table --backend --------------------------------------------------------------------
IMDB = """network imdb(maxlen = 200):
    input [maxlen, 128]
    lstm 64 return_sequences=true bidirectional=concat
    lstm 64 bidirectional=concat
    dense 1 sigmoid
"""
IMDB_KERAS = 2 * keras_count("lstm", 128, 64, directions=2) + 129
IMDB_TORCH = 2 * torch_count("lstm", 128, 64, directions=2) + 129


@pytest.fixture
def imdb(tmp_path):
    path = tmp_path / "imdb.net"
    path.write_text(IMDB, encoding="utf-8")
    return str(path)


def test_table_says_whose_counts_and_what_the_other_framework_counts(run_cli, imdb):
    code, out, _ = run_cli("table", imdb)
    assert code == 0
    assert f"{IMDB_KERAS:,}" in out
    assert "#params: as Keras counts them (convention keras)" in out
    more = IMDB_TORCH - IMDB_KERAS
    assert f"PyTorch's LSTM counts {more:,} more (two bias vectors): --backend torch" in out
    code, out, _ = run_cli("table", imdb, "--backend", "torch")
    assert code == 0 and f"{IMDB_TORCH:,}" in out
    assert "#params: as PyTorch counts them (convention torch)" in out
    assert f"Keras's LSTM counts {more:,} fewer (one bias vector): --backend keras" in out


@pytest.mark.parametrize("backend, total", [("keras", IMDB_KERAS), ("torch", IMDB_TORCH)])
def test_table_formats_carry_the_convention(run_cli, imdb, backend, total):
    code, out, _ = run_cli("table", imdb, "--backend", backend, "--format", "json")
    document = json.loads(out)
    assert code == 0 and document["convention"] == backend
    assert document["total"]["params"] == total
    code, out, _ = run_cli("table", imdb, "--backend", backend, "--format", "csv")
    rows = [line.split(",") for line in out.splitlines()]
    assert rows[0][-1] == "convention" and {row[-1] for row in rows[1:]} == {backend}
    code, out, _ = run_cli("table", imdb, "--backend", backend, "--format", "markdown")
    assert f"(convention {backend})" in out


def test_networks_both_frameworks_count_alike_print_as_before(run_cli, tmp_path):
    path = tmp_path / "g.net"
    path.write_text("network g:\n    input [5, 3]\n    gru 4\n    dense 2\n", encoding="utf-8")
    _, out, _ = run_cli("table", str(path))
    assert "convention" not in out
    _, out, _ = run_cli("table", str(path), "--format", "json")
    assert "convention" not in json.loads(out)
    _, out, _ = run_cli("table", str(path), "--backend", "torch")
    assert "#params: as PyTorch counts them (convention torch)" in out


@pytest.mark.parametrize("imdb_first", [True, False])
def test_several_files_make_one_csv_table_whichever_counts_differ(run_cli, imdb, tmp_path,
                                                                  imdb_first):
    alike = tmp_path / "alike.net"
    alike.write_text("network alike:\n    input [5, 3]\n    gru 4\n    dense 2\n",
                     encoding="utf-8")
    paths = [imdb, str(alike)] if imdb_first else [str(alike), imdb]
    code, out, _ = run_cli("table", *paths, "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0 and {len(row) for row in rows} == {len(rows[0])}
    assert rows[0][-1] == "convention"
    assert {row[-1] for row in rows[1:]} == {"keras"}  # both in Keras's counts, said so
    assert {row[0] for row in rows[1:]} == set(paths)


def test_check_says_nothing_new(run_cli, imdb):
    code, out, err = run_cli("check", imdb)
    assert code == 0
    assert "convention" not in out + err and "torch" not in out + err


def test_expect_reads_keras_counts_whatever_the_backend(run_cli, tmp_path):
    path = tmp_path / "e.net"
    path.write_text(IMDB + f"    expect params == {IMDB_KERAS}\n", encoding="utf-8")
    assert run_cli("check", str(path))[0] == 0
    assert run_cli("table", str(path), "--backend", "torch")[0] == 0


def test_torch_program_says_whose_counts(imdb):
    source = shapelang.load(imdb).torch_source()
    assert f"{IMDB_TORCH:,} parameters" in source
    assert "--backend torch` shows" in source
    assert "Counted as PyTorch counts them (lstm: two bias vectors" in source


# ---- both frameworks, layer by layer and numerically ---------------------------------------
NETWORKS = {
    # (a second layer after a single one: compare() reads Keras's outputs as a list)
    "simplernn": "input [6, 3]\n    simplernn 4\n    dense 2",
    "simplernn_sequences_bias": ("input [6, 3]\n    simplernn 4 return_sequences=true bias=false"
                                 "\n    flatten"),
    "lstm": "input [6, 3]\n    lstm 5\n    dense 2",
    "lstm_stacked": "input [6, 3]\n    lstm 5 return_sequences=true\n    lstm 4 bias=false",
    "gru_reset_after": "input [6, 3]\n    gru 5 return_sequences=true\n    gru 4",
    "gru_reset_before": ("input [6, 3]\n    gru 5 reset_after=false return_sequences=true\n"
                         "    gru 4 reset_after=false bias=false"),
    "bidirectional_concat": ("input [6, 3]\n    lstm 4 bidirectional=concat return_sequences=true"
                             "\n    simplernn 3 bidirectional=concat"),
    "bidirectional_sum": ("input [6, 3]\n    gru 4 bidirectional=sum return_sequences=true\n"
                          "    lstm 3 bidirectional=sum"),
    "bidirectional_mul": ("input [6, 3]\n    simplernn 4 bidirectional=mul return_sequences=true"
                          "\n    gru 3 bidirectional=mul reset_after=false"),
    "bidirectional_ave": ("input [6, 3]\n    gru 4 bidirectional=ave reset_after=false "
                          "return_sequences=true\n    lstm 3 bidirectional=ave"),
    # the sequence between channels-first modules: a 1-D convolution before, dense after
    "conv_rnn_dense": ("input [9, 2]\n    conv 4 k=3\n    gru 5 return_sequences=true\n"
                       "    dense 3 last_axis=true\n    flatten\n    dense 2 softmax"),
}


@pytest.mark.keras
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_both_frameworks_build_and_compute_the_analysed_network(name):
    pytest.importorskip("keras")
    pytest.importorskip("torch")
    import keras_oracle
    import torch_oracle
    from test_backend_equivalence import compare

    net = shapelang.loads(f"network {name}:\n    {NETWORKS[name]}\n", f"{name}.net")
    assert keras_oracle.differences(net.analyse().analysis, net.to_keras()) == []
    torch_analysis = net.analyse(convention="torch").analysis
    assert torch_oracle.differences(torch_analysis, net.to_torch()) == []
    assert compare(net) == len(net.analyse().layers) - 1


def test_readme_shows_the_output(run_cli, tmp_path, monkeypatch):
    """The README's conventions section: its network, and what `table` prints for it."""
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Recurrent layers"):readme.index("### solve")]
    blocks = section.split("```\n")[1::2]
    (tmp_path / "imdb_lstm.net").write_text(blocks[0], encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for block, args in zip(blocks[1:], (
            ("table", "imdb_lstm.net"),
            ("table", "imdb_lstm.net", "--backend", "torch", "--columns", "layer,op,shape,params"))):
        code, out, _ = run_cli(*args)
        assert code == 0 and out.strip("\n") == block.strip("\n")


@pytest.mark.keras
def test_torch_summary_says_whose_counts(tmp_path):
    pytest.importorskip("torch")
    import subprocess

    from conftest import PYTHON, python_env

    program = tmp_path / "seq_torch.py"
    program.write_text(shapelang.loads("network seq:\n    input [5, 3]\n    lstm 4\n").torch_source(),
                       encoding="utf-8")
    done = subprocess.run([PYTHON, str(program), "summary"], capture_output=True, text=True,
                          env=python_env(), timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert f"seq: {torch_count('lstm', 3, 4):,} parameters" in done.stdout
    assert "counted as PyTorch counts them" in done.stdout
