"""What the random sequence networks found (tests/sequence_findings.md), each as a reproducer.

Finding 1 (upstream, Keras 3.15.1's TensorFlow backend): `keras.ops.add(x, bias)` takes a bias
that squeezes to one axis for a channels-first one (`tf.nn.bias_add`, NCHW) whenever its length
equals x's axis 1, whichever axis it belongs to. `MultiHeadAttention`'s projections
(`EinsumDense`, output (N, T, heads, size), bias (heads, size)) then add head h's bias at
position h when size = 1 and T = heads: the Keras model computes something other than
attention, the PyTorch program computes attention. The numerical comparison's generator
avoids exactly that case (`_keras_bias_add_misplaces`); these tests pin it, and fail (strict
xfail) the day Keras adds the bias where it belongs, so that the avoidance can go.

Finding 2 (seqops): a tied dense layer whose embedding is not among the layers that compute its
input — the embedding of another input, GPT-style heads tied across an encoder and a decoder —
checked cleanly and built in PyTorch, but the Keras program refused to build: `TiedDense` finds
its embedding by walking back from its input (`_computed_by`: "no layer 'k' computes the input
of this tied layer"). Fixed on seqops (2d5d88b): such a tie is SL324."""
import numpy as np
import pytest
from random_sequence_networks import SequenceNetwork, _keras_bias_add_misplaces
from test_backend_equivalence import compare

import shapelang

keras = pytest.importorskip("keras")
pytest.importorskip("torch")

pytestmark = pytest.mark.keras

KERAS_BIAS_ADD = pytest.mark.xfail(
    strict=True, reason="Keras 3.15.1 (TensorFlow backend): ops.add adds a (heads, 1) bias "
    "along axis 1 when axis 1 is as long as the heads (tests/sequence_findings.md, finding 1)")


def attention(length, width, heads, options=""):
    return shapelang.loads(f"network m:\n    input [{length}, {width}]\n"
                           f"    mha {heads}{options}\n    linear\n", "attention.net")


@KERAS_BIAS_ADD
def test_keras_adds_a_bias_where_numpy_broadcasts_it():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 3, 1)).astype(np.float32)
    bias = rng.standard_normal((3, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(keras.ops.add(x, bias)), x + bias, atol=1e-6)


@KERAS_BIAS_ADD
@pytest.mark.parametrize(("length", "width", "heads", "options"), [
    (3, 6, 3, " key_dim=1"),  # the first network that showed it (sweep index 66)
    (5, 5, 5, ""),  # the default key size, width / heads = 1 (sweep index 136)
    (4, 8, 4, " value_dim=1"),  # the value projection's bias alone
])
def test_attention_with_as_many_heads_as_positions_and_size_one(length, width, heads, options):
    assert compare(attention(length, width, heads, options)) > 0


@pytest.mark.parametrize(("length", "width", "heads", "options"), [
    (4, 6, 3, " key_dim=1"),  # one position more than the heads
    (3, 6, 3, " key_dim=2"),  # a size above 1
    (2, 5, 1, " key_dim=1"),  # one head: the bias (1, 1) is a scalar
])
def test_attention_beside_the_keras_case_is_the_same_in_both_backends(length, width, heads,
                                                                      options):
    assert compare(attention(length, width, heads, options)) > 0


@pytest.mark.parametrize(("heads", "projections", "misplaced"), [
    (3, [(3, 1), (3, 1), (3, 1)], True),
    (3, [(4, 1), (4, 1), (4, 2)], False),
    (4, [(4, 2), (4, 2), (4, 1)], True),
    (1, [(1, 1), (1, 1), (1, 1)], False),
])
def test_the_generator_knows_the_keras_case(heads, projections, misplaced):
    assert _keras_bias_add_misplaces(heads, projections) is misplaced


# ---- finding 2: a tie to an embedding on another branch -------------------------------------
TIED_ACROSS_INPUTS = SequenceNetwork(
    text="network m:\n    a: input [4] dtype=int32\n    b: input [4] dtype=int32\n"
         "    k: embedding 6 3\n    e: embedding 9 3 @a\n"
         "    head: dense 6 tie=k bias=false last_axis=true\n    output @head @k\n",
    inputs=[("a", [4], "int32"), ("b", [4], "int32")], vocabulary={"a": 9, "b": 6})


def test_a_tie_to_an_embedding_on_another_branch_is_refused():
    """The first network that showed it: sweep index 342 of the numerical comparison. The fix
    (seqops 2d5d88b): the analysis refuses it, as the Keras program cannot build it."""
    net = shapelang.loads(TIED_ACROSS_INPUTS.text, "tied.net")
    (refused,) = [d for d in net.check() if d.severity == "error"]
    assert refused.code == "SL324" and refused.span.line == 6
