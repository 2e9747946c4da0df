"""The sequence examples against outside oracles:

- ViT-B/16 (examples/vit_b16.net) layer by layer against torchvision's `vit_b_16()`: every
  analysed layer that torchvision has a module (or a parameter) for, by output shape (forward
  hooks on a 224×224 input) and parameter count, and the total; the symbolic variant's claims
  (H, W ≡ 0 mod 16, the size pinned by the whole position table) against brute force;
- GPT-2 small and BERT-base against Hugging Face transformers' reference models
  (`GPT2LMHeadModel(GPT2Config())`, `BertModel(BertConfig())`, random weights, no download),
  layer by layer (embeddings, each layer's norms, attention and MLP, the tied head, the pooler)
  and the published totals;
- the IMDB bidirectional LSTM and the text CNN against the Keras models written as Keras's
  examples write them, layer by layer, and the IMDB torch program under PyTorch's convention
  against a PyTorch model written by hand;
- every example: `check` finds no error, and the generated Keras program is the analysed
  network (tests/keras_oracle.py) — GPT-2 and BERT at a short sequence (T = 8: the parameters
  do not depend on T); the PyTorch programs are test_torch_differential.py's (its `SIZES`, with
  tests/torch_oracle.py, under PyTorch's counts).
"""
import re
from decimal import Decimal

import pytest
from conftest import EXAMPLES

import shapelang

NEW_EXAMPLES = ["vit_b16", "vit_b16_symbolic", "gpt2_small", "bert_base", "imdb_bilstm",
                "text_cnn"]
SHORT = {"vit_b16_symbolic": {"H": 224, "W": 224}, "gpt2_small": {"T": 8},
         "bert_base": {"T": 8}}  # the sizes the generated Keras programs are built at


def _analyse(example, **bindings):
    result = shapelang.load(EXAMPLES / f"{example}.net").analyse(**bindings)
    assert result.ok, [str(d) for d in result.errors]
    return result


def _numel(tensors) -> int:
    return int(sum(t.numel() for t in tensors))


# ---- every new example: check and Keras ---------------------------------------------------------
@pytest.mark.parametrize("example", NEW_EXAMPLES)
def test_check_finds_no_error(example, run_cli):
    code, out, err = run_cli("check", EXAMPLES / f"{example}.net")
    assert code == 0, out + err  # warnings allowed: the text CNN's strides leave rows unread
    assert re.search(r"checked: 0 errors", out + err), out + err


@pytest.mark.keras
@pytest.mark.parametrize("example", NEW_EXAMPLES)
def test_keras_program_is_the_analysis(example):
    pytest.importorskip("keras")
    import keras
    from keras_oracle import differences

    keras.backend.clear_session()
    net = shapelang.load(EXAMPLES / f"{example}.net")
    bindings = SHORT.get(example, {})
    assert differences(_analyse(example, **bindings).analysis, net.to_keras(**bindings)) == []


def _counted_as_torch(result):
    """The analysed graph with PyTorch's parameter counts (its RNNs' two bias vectors)."""
    from shapelang import conventions

    return conventions.under(result.analysis, "torch")


# ---- a reference model, layer by layer ----------------------------------------------------------
def hooked_outputs(model, names, run) -> dict:
    """Each named module's output shape, batch axis dropped (a name ending in `<`: its input)."""
    import torch

    modules = dict(model.named_modules())
    shapes = {}

    def recorder(name):
        def record(module, inputs, output=None):
            value = inputs if output is None else output
            while not isinstance(value, torch.Tensor):
                value = value[0]
            shapes[name] = tuple(int(d) for d in value.shape[1:])
        return record

    handles = []
    for name in names:
        if name.endswith("<"):
            handles.append(modules[name[:-1]].register_forward_pre_hook(recorder(name)))
        else:
            handles.append(modules[name].register_forward_hook(recorder(name)))
    try:
        with torch.no_grad():
            run(model)
    finally:
        for handle in handles:
            handle.remove()
    return shapes


def owned(model, paths) -> int:
    """The parameters of the named modules or parameter tensors, each counted once."""
    seen, count = set(), 0
    for path in paths:
        module = dict(model.named_modules()).get(path)
        tensors = list(module.parameters()) if module is not None else \
            [model.get_parameter(path)]
        for tensor in tensors:
            if id(tensor) not in seen:
                seen.add(id(tensor))
                count += tensor.numel()
    return count


def layer_map(table: dict, repeats: int) -> dict:
    """Analysed layer name → (module whose output is its output, the modules holding its
    parameters): a table whose `{n}` (shapelang's iteration, from 1) and `{m}` (the reference's
    index, from 0) expand over `repeats` layers."""
    mapped = {}
    for name, (output, holders) in table.items():
        for n in (range(1, repeats + 1) if "{n}" in name else [1]):
            index = {"n": n, "m": n - 1}
            mapped[name.format(**index)] = (output.format(**index),
                                            [h.format(**index) for h in holders])
    return mapped


def compare(result, model, table: dict, run, shape_of=lambda shape: shape) -> list[str]:
    """Every mapped layer's output shape and parameter count against the reference model's; every
    analysed layer with parameters must be mapped, and the totals equal."""
    layers = {layer.name: layer for layer in result.layers}
    problems = [f"`{name}`: not analysed" for name in table if name not in layers]
    problems += [f"`{layer.name}`: {layer.params} parameters, mapped to no reference module"
                 for layer in result.layers if layer.params and layer.name not in table]
    shapes = hooked_outputs(model, {output for output, _ in table.values()}, run)
    for name, (output, holders) in table.items():
        if name not in layers:
            continue
        analysed = tuple(int(d) for d in layers[name].shape)
        if shape_of(shapes[output]) != analysed:
            problems.append(f"`{name}`: {output} gives {shape_of(shapes[output])}, analysed "
                            f"{list(analysed)}")
        if owned(model, holders) != int(layers[name].params):
            problems.append(f"`{name}`: {holders} hold {owned(model, holders)} parameters, "
                            f"analysed {layers[name].params}")
    if _numel(model.parameters()) != int(result.total("params")):
        problems.append(f"{_numel(model.parameters())} parameters, analysed "
                        f"{result.total('params')}")
    return problems


# ---- ViT-B/16 against torchvision ---------------------------------------------------------------
VIT = {  # torchvision/models/vision_transformer.py
    "conv_proj": ("conv_proj", ["conv_proj"]),
    "class_token": ("encoder<", ["class_token"]),  # torch.cat([class_token, x]), the encoder's
    "pos_embedding": ("encoder.dropout", ["encoder.pos_embedding"]),  # input + pos_embedding
    "encoder{n}.encoder_layer_1.ln_1": ("encoder.layers.encoder_layer_{m}.ln_1",
                                        ["encoder.layers.encoder_layer_{m}.ln_1"]),
    "encoder{n}.encoder_layer_1.self_attention": (
        "encoder.layers.encoder_layer_{m}.self_attention",
        ["encoder.layers.encoder_layer_{m}.self_attention"]),
    "encoder{n}.encoder_layer_1.ln_2": ("encoder.layers.encoder_layer_{m}.ln_2",
                                        ["encoder.layers.encoder_layer_{m}.ln_2"]),
    "encoder{n}.encoder_layer_1.mlp_0": ("encoder.layers.encoder_layer_{m}.mlp.0",
                                         ["encoder.layers.encoder_layer_{m}.mlp.0"]),
    "encoder{n}.encoder_layer_1.mlp_3": ("encoder.layers.encoder_layer_{m}.mlp.3",
                                         ["encoder.layers.encoder_layer_{m}.mlp.3"]),
    "encoder{n}.encoder_layer_1.add_1": ("encoder.layers.encoder_layer_{m}", []),  # x + y
    "ln": ("encoder.ln", ["encoder.ln"]),
    "head": ("heads.head", ["heads.head"]),
}
VIT_PARAMS = 86_567_656  # torchvision's ViT_B_16_Weights.meta["num_params"]


def _channels_last(shape):
    """torchvision's images are channels first; its sequences are already (T, D)."""
    return (*shape[1:], shape[0]) if len(shape) == 3 else shape


def test_vit_b16_is_torchvision_layer_by_layer():
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.vit_b_16(weights=None).eval()
    result = _analyse("vit_b16")
    table = layer_map(VIT, repeats=12)
    assert len(table) == 4 + 6 * 12 + 1
    image = torch.zeros(1, 3, 224, 224)
    assert compare(result, model, table, lambda m: m(image), _channels_last) == []
    assert _numel(model.parameters()) == VIT_PARAMS == int(result.total("params"))
    # torchvision's published numbers for its 224×224 weights (the SWAG end-to-end ones are at
    # 384×384: a larger position table): parameters, and `_ops`, multiply-accumulates in G,
    # to its digits
    at_224 = [w for w in torchvision.models.ViT_B_16_Weights if w.meta["min_size"] == (224, 224)]
    assert at_224
    macs = Decimal(int(result.total("macs"))) / 10**9
    for weights in at_224:
        assert weights.meta["num_params"] == VIT_PARAMS
        ops = Decimal(str(weights.meta["_ops"]))
        assert macs.quantize(ops) == ops


def _patches_read(h, w):
    return (h // 16) * (w // 16) + 1 == 197


@pytest.mark.parametrize("h, w", [(224, 224), (112, 448), (448, 112), (239, 224), (224, 240),
                                  (208, 240), (240, 240), (16, 16)])
def test_vit_symbolic_is_valid_where_the_position_table_fits(h, w):
    """Brute force: the bound network is valid exactly where 16×16 patches number 196, and
    reads every row and column exactly where H and W are multiples of 16."""
    result = shapelang.load(EXAMPLES / "vit_b16_symbolic.net").analyse(H=h, W=w)
    assert result.ok == _patches_read(h, w), [str(d) for d in result.errors]
    unread = "SL305" in [d.code for d in result.warnings]
    assert unread == bool(h % 16 or w % 16), [str(d) for d in result.warnings]
    if result.ok:
        assert int(result.total("params")) == VIT_PARAMS


def test_vit_symbolic_solve_shows_the_stride_and_the_pinned_size(run_cli):
    code, out, err = run_cli("solve", EXAMPLES / "vit_b16_symbolic.net")
    assert code == 0, err
    assert "H ≡ 0 (mod 16)" in out and "W ≡ 0 (mod 16)" in out, out
    # the whole table: as many patches as rows, no fewer (the lower bound) and no more
    assert "floor(H/16)*floor(W/16) + 1 ≥ 197" in out, out
    assert "floor(H/16)*floor(W/16) + 1 ≤ 197" in out, out


# ---- GPT-2 small and BERT-base against transformers --------------------------------------------
GPT2 = {  # transformers/models/gpt2/modeling_gpt2.py
    "wte": ("transformer.wte", ["transformer.wte"]),
    "wpe": ("transformer.drop", ["transformer.wpe"]),  # inputs_embeds + position_embeds
    "h{n}.decoder_layer_1.ln_1": ("transformer.h.{m}.ln_1", ["transformer.h.{m}.ln_1"]),
    "h{n}.decoder_layer_1.attn": ("transformer.h.{m}.attn", ["transformer.h.{m}.attn"]),
    "h{n}.decoder_layer_1.ln_2": ("transformer.h.{m}.ln_2", ["transformer.h.{m}.ln_2"]),
    "h{n}.decoder_layer_1.c_fc": ("transformer.h.{m}.mlp.c_fc", ["transformer.h.{m}.mlp.c_fc"]),
    "h{n}.decoder_layer_1.c_proj": ("transformer.h.{m}.mlp.c_proj",
                                    ["transformer.h.{m}.mlp.c_proj"]),
    "h{n}.decoder_layer_1.add_1": ("transformer.h.{m}", []),  # the block's output
    "ln_f": ("transformer.ln_f", ["transformer.ln_f"]),
}
GPT2_PARAMS = 124_439_808  # GPT2LMHeadModel(GPT2Config()), the head tied to wte

BERT = {  # transformers/models/bert/modeling_bert.py
    "word_embeddings": ("embeddings.word_embeddings", ["embeddings.word_embeddings"]),
    "position_embeddings": ("embeddings.position_embeddings",
                            ["embeddings.position_embeddings"]),
    "token_type_embeddings": ("embeddings.token_type_embeddings",
                              ["embeddings.token_type_embeddings"]),
    "embeddings_norm": ("embeddings.LayerNorm", ["embeddings.LayerNorm"]),
    "encoder{n}.encoder_layer_1.attention": (
        "encoder.layer.{m}.attention.output.dense",
        ["encoder.layer.{m}.attention.self", "encoder.layer.{m}.attention.output.dense"]),
    "encoder{n}.encoder_layer_1.attention_norm": (
        "encoder.layer.{m}.attention.output.LayerNorm",
        ["encoder.layer.{m}.attention.output.LayerNorm"]),
    "encoder{n}.encoder_layer_1.intermediate": ("encoder.layer.{m}.intermediate.dense",
                                                ["encoder.layer.{m}.intermediate.dense"]),
    "encoder{n}.encoder_layer_1.output": ("encoder.layer.{m}.output.dense",
                                          ["encoder.layer.{m}.output.dense"]),
    "encoder{n}.encoder_layer_1.layernorm_1": ("encoder.layer.{m}.output.LayerNorm",
                                               ["encoder.layer.{m}.output.LayerNorm"]),
    "pooler": ("pooler", ["pooler"]),
}
BERT_PARAMS = 109_482_240  # BertModel(BertConfig()), with the pooler


@pytest.fixture(scope="module")
def transformers():
    pytest.importorskip("torch")
    return pytest.importorskip("transformers")


def test_gpt2_small_is_transformers_layer_by_layer(transformers):
    import torch

    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval()
    result = _analyse("gpt2_small", T=8)
    ids = torch.zeros(1, 8, dtype=torch.long)
    assert compare(result, model, layer_map(GPT2, repeats=12), lambda m: m(ids)) == []
    # the head: wte's matrix itself, no parameter of its own; logits over the vocabulary
    assert model.lm_head.weight is model.transformer.wte.weight
    head = result.layer("lm_head")
    assert head.params == 0
    assert hooked_outputs(model, ["lm_head"], lambda m: m(ids)) == {"lm_head": tuple(head.shape)}
    assert int(result.total("params")) == GPT2_PARAMS


def test_bert_base_is_transformers_layer_by_layer(transformers):
    import torch

    torch.manual_seed(0)
    model = transformers.BertModel(transformers.BertConfig()).eval()
    result = _analyse("bert_base", T=8)
    ids = torch.zeros(1, 8, dtype=torch.long)
    types = torch.ones(1, 8, dtype=torch.long)
    table = layer_map(BERT, repeats=12)
    assert compare(result, model, table, lambda m: m(ids, token_type_ids=types)) == []
    assert int(result.total("params")) == BERT_PARAMS


@pytest.mark.parametrize("example, limit", [("gpt2_small", 1024), ("bert_base", 512)])
def test_the_position_table_bounds_the_sequence(example, limit):
    net = shapelang.load(EXAMPLES / f"{example}.net")
    assert net.analyse(T=limit).ok
    assert not net.analyse(T=limit + 1).ok


def test_gpt2_solve_shows_the_upper_bound(run_cli):
    code, out, err = run_cli("solve", EXAMPLES / "gpt2_small.net")
    assert code == 0, err
    assert "T ≤ 1024" in out, out


# ---- the Keras examples, as Keras's examples write them -----------------------------------------
def imdb_bilstm_reference(keras):
    """keras.io/examples/nlp/bidirectional_lstm_imdb (its input (None,), here maxlen = 200)."""
    from keras import layers

    inputs = keras.Input(shape=(200,), dtype="int32")
    x = layers.Embedding(20000, 128)(inputs)
    x = layers.Bidirectional(layers.LSTM(64, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(64))(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs)


def text_cnn_reference(keras):
    """keras.io/examples/nlp/text_classification_from_scratch (its input (None,), here
    sequence_length = 500)."""
    from keras import layers

    inputs = keras.Input(shape=(500,), dtype="int64")
    x = layers.Embedding(20000, 128)(inputs)
    x = layers.Dropout(0.5)(x)
    x = layers.Conv1D(128, 7, padding="valid", activation="relu", strides=3)(x)
    x = layers.Conv1D(128, 7, padding="valid", activation="relu", strides=3)(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    predictions = layers.Dense(1, activation="sigmoid", name="predictions")(x)
    return keras.Model(inputs, predictions)


KERAS_EXAMPLES = {"imdb_bilstm": (imdb_bilstm_reference, 2_757_761),
                  "text_cnn": (text_cnn_reference, 2_806_273)}


@pytest.mark.keras
@pytest.mark.parametrize("example", sorted(KERAS_EXAMPLES))
def test_keras_example_layer_by_layer(example):
    """The reference's layers in order against the analysed layers in order (a chain), and the
    generated model against the same numbers."""
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    build, published = KERAS_EXAMPLES[example]
    reference = build(keras)
    result = _analyse(example)
    theirs = [(tuple(layer.output.shape[1:]), layer.count_params())
              for layer in reference.layers[1:]]
    ours = [(tuple(int(d) for d in layer.shape), int(layer.params))
            for layer in result.layers[1:]]
    assert ours == theirs
    assert reference.count_params() == published == int(result.total("params"))
    generated = shapelang.load(EXAMPLES / f"{example}.net").to_keras()
    assert [(tuple(generated.get_layer(layer.name).output.shape[1:]),
             generated.get_layer(layer.name).count_params())
            for layer in result.layers[1:]] == theirs


def test_imdb_bilstm_torch_program_counts_as_pytorch_does():
    """PyTorch's LSTM has two bias vectors (b_ih, b_hh): the same network written by hand in
    PyTorch has 2,758,785 parameters, 1,024 more than Keras's (2 layers · 2 directions · 4 gates
    · 64)."""
    torch = pytest.importorskip("torch")
    from torch import nn

    by_hand = nn.ModuleList([nn.Embedding(20000, 128),
                             nn.LSTM(128, 64, batch_first=True, bidirectional=True),
                             nn.LSTM(128, 64, batch_first=True, bidirectional=True),
                             nn.Linear(128, 1)])
    expected = [_numel(module.parameters()) for module in by_hand]
    assert sum(expected) == 2_757_761 + 2 * 2 * 4 * 64 == 2_758_785
    torch.manual_seed(0)
    analysis = _counted_as_torch(_analyse("imdb_bilstm"))
    assert [int(layer.params) for layer in analysis.layers[1:]] == expected
    model = shapelang.load(EXAMPLES / "imdb_bilstm.net").to_torch()
    assert _numel(model.parameters()) == sum(expected)


# ---- the README's views of them -----------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ("table", "examples/gpt2_small.net", "--depth", "1"),
    ("solve", "examples/vit_b16_symbolic.net"),
])
def test_readme_shows_the_output(run_cli, monkeypatch, args):
    from conftest import ROOT

    monkeypatch.chdir(ROOT)
    code, out, err = run_cli(*args)
    assert code == 0, err
    assert out.strip("\n") in (ROOT / "README.md").read_text(encoding="utf-8")
