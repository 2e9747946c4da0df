"""`layernorm` and `mha` against outside truth.

- Each network of `NETWORKS` (self-attention, cross-attention from a memory of another length
  and width, causal self- and cross-attention with T_q ≠ T_k either way, key_dim / value_dim
  set, bias=false, layer norms over other axes and without γ or β, a transformer encoder block
  with residual adds and a `dense … last_axis=true` MLP, used in a `repeat`) is built in Keras
  and in PyTorch: every layer's shape, parameter counts and wiring against the analysis (the
  oracle helpers), and the same outputs layer by layer with Keras's weights copied into torch.
- The generated Keras model's attention against a NumPy attention written here from the
  definition (softmax(QKᵀ/√kd)·V per head, the causal mask i ≥ j over (query, key) positions):
  the program passes the inputs and the mask it means.
- MACs against PyTorch's `FlopCounterMode` on the generated torch module (FLOPs = 2·MACs).
- Published counts: a BERT-base encoder layer has 7,087,872 parameters.
- The claim "key_dim = D/HEADS is an integer exactly when D ≡ 0 (mod HEADS)" stated with D
  unbound, brute-forced over D and HEADS with D bound.
"""
import re

import numpy as np
import pytest

import shapelang

NETWORKS = {
    "self_attention": """
network self_attention(T = 6, D = 12):
    input [T, D]
    mha 3
    layernorm
""",
    "cross_attention_other_length_and_width": """
network cross(T = 7, D = 12):
    input [T, D]
    memory: conv 6 k=3 s=2
    mha 4 @input @memory
""",
    "causal_self_attention": """
network causal(T = 9, D = 8):
    input [T, D]
    layernorm
    mha 2 causal=true
""",
    "causal_cross_shorter_memory": """
network causal_cross(T = 9, D = 8):
    input [T, D]
    memory: conv 8 k=3 s=2
    mha 2 @input @memory causal=true
""",
    "causal_cross_longer_memory": """
network causal_cross_longer(T = 5, D = 8):
    input [T, D]
    memory: upsample 2
    q: conv 8 k=3 s=2 @input
    mha 2 @q @memory causal=true
""",
    "key_and_value_dims_no_bias": """
network dims(T = 5, D = 10):
    input [T, D]
    a: dense 6 last_axis=true
    mha 4 @a key_dim=3 value_dim=5 bias=false
    mha 2 @a key_dim=7 dropout=0.2
""",
    "layer_norms": """
network norms(T = 6, D = 5):
    input [T, D]
    layernorm eps=1e-6 center=false
    layernorm scale=false
    layernorm scale=false center=false
    layernorm axis=(0, 1)
    layernorm axis=0
    flatten
    layernorm
    layernorm center=false
    layernorm scale=false
""",
    "transformer_encoder": """
block encoder(heads, hidden):
    layernorm eps=1e-6
    mha heads dropout=0.1
    attended: add @input
    layernorm eps=1e-6
    dense hidden last_axis=true gelu
    dense channels(@input) last_axis=true
    add @attended

network transformer(T = 8, D = 16):
    input [T, D]
    repeat 2:
        encoder 4 hidden=32
    layernorm eps=1e-6
""",
}


def _net(name):
    return shapelang.loads(NETWORKS[name], f"{name}.net")


def test_the_networks_check_cleanly():
    for name in NETWORKS:
        assert not _net(name).check(), name


@pytest.mark.keras
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_both_backends_build_the_analysed_network_and_compute_the_same(name):
    pytest.importorskip("keras")
    pytest.importorskip("torch")
    import keras_oracle
    import torch_oracle
    from test_backend_equivalence import compare

    net = _net(name)
    analysis = net.analyse().raise_for_errors().analysis
    assert keras_oracle.differences(analysis, net.to_keras()) == []
    assert torch_oracle.differences(analysis, net.to_torch()) == []
    assert compare(net) == len(analysis.layers) - 1


# ---- the Keras program means the attention of the definition --------------------------------
def _softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def _attention(query, memory, weights: dict, causal: bool):
    """Multi-head attention from its definition, in float64: `weights` by sub-layer
    (`query/kernel` (D, h, kd), …, `attention_output/kernel` (h, vd, D))."""
    def project(x, part):
        out = np.einsum("ntd,dhk->nhtk", x, weights[f"{part}/kernel"])
        return out + weights[f"{part}/bias"][None, :, None, :] if f"{part}/bias" in weights \
            else out
    q, k, v = project(query, "query"), project(memory, "key"), project(memory, "value")
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(q.shape[-1])
    if causal:
        t_query, t_key = scores.shape[-2:]
        allowed = np.arange(t_query)[:, None] >= np.arange(t_key)[None, :]
        scores = np.where(allowed, scores, -np.inf)
    out = np.einsum("nhtv,hvd->ntd", _softmax(scores) @ v, weights["attention_output/kernel"])
    return out + weights.get("attention_output/bias", 0)


@pytest.mark.keras
@pytest.mark.parametrize("name", ["self_attention", "cross_attention_other_length_and_width",
                                  "causal_self_attention", "causal_cross_shorter_memory",
                                  "causal_cross_longer_memory", "key_and_value_dims_no_bias"])
def test_the_keras_program_computes_attention_as_defined(name):
    keras = pytest.importorskip("keras")
    net = _net(name)
    analysis = net.analyse().raise_for_errors().analysis
    model = net.to_keras()
    rng = np.random.default_rng(3)
    for variable in model.weights:  # biases at random, so that a dropped one shows
        if variable.name == "bias":
            variable.assign(rng.normal(0, 0.3, tuple(variable.shape)).astype(np.float32))
    names = [r.name for r in analysis.layers]
    probe = keras.Model(model.inputs[0], [model.get_layer(n).output for n in names])
    x = rng.standard_normal((2, *model.input_shape[1:])).astype(np.float32)
    outputs = dict(zip(names, (np.asarray(t, dtype=np.float64) for t in probe(x))))
    checked = 0
    for r in analysis.layers:
        if r.op != "mha":
            continue
        layer = model.get_layer(r.name)
        weights = {"/".join(v.path.split("/")[-2:]): np.asarray(v.numpy(), dtype=np.float64)
                   for v in layer.weights}
        query, memory = outputs[r.inputs[0]], outputs[r.inputs[-1]]
        expected = _attention(query, memory, weights, r.args.causal)
        assert np.allclose(outputs[r.name], expected, rtol=1e-4, atol=1e-4), r.name
        checked += 1
    assert checked


# ---- MACs: PyTorch's own flop counter ---------------------------------------------------------
@pytest.mark.parametrize("name", ["self_attention", "cross_attention_other_length_and_width",
                                  "causal_cross_longer_memory", "key_and_value_dims_no_bias",
                                  "layer_norms"])
def test_macs_are_what_pytorch_counts(name):
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    attention = pytest.importorskip("torch.nn.attention")  # sdpa_kernel: PyTorch ≥ 2.3
    if not hasattr(attention, "sdpa_kernel"):
        pytest.skip("this PyTorch cannot choose the attention kernel")

    net = _net(name)
    analysis = net.analyse().raise_for_errors().analysis
    module = net.to_torch().eval()
    shape = tuple(int(d) for d in analysis.layers[0].shape)
    x = torch.randn(1, shape[-1], *shape[:-1])
    counter = FlopCounterMode(display=False)
    # the attention by its math kernel (batched matrix products the counter sees; the fused
    # CPU kernel is not registered with it)
    with counter, torch.no_grad(), attention.sdpa_kernel(attention.SDPBackend.MATH):
        module(x)
    assert counter.get_total_flops() == 2 * int(analysis.total("macs"))


# ---- published counts -------------------------------------------------------------------------
def test_a_bert_base_encoder_layer_has_its_published_parameter_count():
    """BERT-base (Devlin et al.): 12 layers of 7,087,872 parameters — attention 4·(768² + 768),
    two layer norms, a 3072-wide MLP."""
    net = shapelang.loads("""
network bert_layer(T = 128):
    input [T, 768]
    mha 12
    attended: add @input
    layernorm eps=1e-12
    dense 3072 last_axis=true gelu
    dense 768 last_axis=true
    add @attended
    layernorm eps=1e-12
""")
    result = net.analyse().raise_for_errors()
    assert result.total("params") == 7_087_872
    assert result.layer("mha_1").params == 2_362_368


# ---- the heads' divisibility: the symbolic claim, brute-forced -------------------------------
def _condition_holds(condition: str, value: int) -> bool:
    """`D ≡ r (mod m)` (or several residues `r1, r2`) at `value`."""
    found = re.fullmatch(r"\w+ ≡ ([\d, ]+) \(mod (\d+)\)", condition)
    assert found, condition
    residues = {int(r) for r in found.group(1).split(",")}
    return value % int(found.group(2)) in residues


@pytest.mark.parametrize("width, of", [("D", lambda d: d), ("2 * E", lambda e: 2 * e)])
def test_heads_divide_the_width_exactly_when_the_stated_condition_holds(width, of):
    symbol = width.split()[-1]
    for heads in range(1, 9):
        text = f"network t({symbol}):\n    input [5, {width}]\n    mha {heads}\n"
        diagnostics = shapelang.loads(text).check()
        condition = None
        if diagnostics:
            (diagnostic,) = diagnostics
            assert diagnostic.code == "SL314", diagnostic
            condition = diagnostic.message.split("only when ")[1]
        for value in range(1, 25):
            bound = shapelang.loads(text).check(**{symbol: value})
            divides = of(value) % heads == 0
            assert (not bound) == divides, (heads, value, bound)
            assert divides == (condition is None or _condition_holds(condition, value)), \
                (heads, value, condition)


def test_a_key_dim_lifts_the_divisibility():
    assert not shapelang.loads("network t(D):\n    input [5, D]\n    mha 8 key_dim=4\n").check()


ERRORS = [
    # (input, line, code, what the message or hint says)
    ("[5, 60]", "mha 8", "SL314", "use a number of heads that divides 60 (6 or 10)"),
    ("[4, 4, 8]", "mha 2", "SL304", "attends over sequences [T, D]; its query is [4, 4, 8]"),
    ("[5, 8]", "mha 2 @input @input @input", "SL221", "a query and a memory"),
    ("[5, 8]", "mha 2 dropout=1", "SL209", "in [0, 1)"),
    ("[5, 8]", "layernorm axis=2", "SL209", "outside a rank-2 tensor"),
    ("[5, 8]", "layernorm axis=(1, -1)", "SL209", "names an axis twice"),
]


@pytest.mark.parametrize("shape, line, code, says", ERRORS, ids=[e[1] for e in ERRORS])
def test_errors(shape, line, code, says):
    diagnostics = shapelang.loads(f"network t:\n    input {shape}\n    {line}\n").check()
    assert [d.code for d in diagnostics] == [code]
    assert says in diagnostics[0].message + " " + (diagnostics[0].hint or "")


# ---- the README's transformer block -----------------------------------------------------------
def test_the_readme_shows_the_encoder_stack_and_what_the_commands_print(run_cli, tmp_path,
                                                                        monkeypatch):
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"\n  ```\n(  block encoder\(.*?)\n  ```\n", readme, re.DOTALL)
    assert found
    text = "\n".join(line[2:] for line in found.group(1).splitlines()) + "\n"

    def shown(out):  # as the README indents it, in its list
        return "\n".join(f"  {line}" if line else "" for line in out.strip("\n").splitlines())

    monkeypatch.chdir(tmp_path)
    (tmp_path / "encoder_stack.net").write_text(text, encoding="utf-8")
    code, out, _ = run_cli("table", "encoder_stack.net", "--columns", "layer,op,shape,params,macs")
    assert code == 0 and shown(out) in readme
    (tmp_path / "encoder_stack.net").write_text(text.replace("(T = 16, D = 64)", "(T = 16, D)"),
                                                encoding="utf-8")
    code, out, _ = run_cli("check", "encoder_stack.net")
    assert code == 1 and shown(out.split("\n\n")[0]) in readme


@pytest.mark.parametrize("backend", ["keras", "torch"])
def test_the_programs_are_as_ruff_format_writes_them(backend):
    from test_program_format import _assert_ruff_format_changes_nothing

    for name in NETWORKS:
        net = _net(name)
        _assert_ruff_format_changes_nothing(getattr(net, f"{backend}_source")())
