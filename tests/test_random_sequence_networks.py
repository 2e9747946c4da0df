"""The random sequence network generator (`random_sequence_networks.py`) draws what it means:
every network it draws checks cleanly, and every labelled line has the shape the generator
followed and the parameter count of Keras's published formulas (embedding V·D, layer norm 2·D,
attention's four projections, the RNNs' gates, Keras's GRU with its second bias) — the
generator's own arithmetic, independent of the analysis. Over a fixed list of networks it
draws every op and option the differential tests are meant to cover."""
import pytest
from conftest import examples
from hypothesis import HealthCheck, given, settings
from random_networks import ORDINARY
from random_sequence_networks import (
    FEATURES,
    SEQUENCE_HOSTILE,
    RandomChoices,
    covering_indices,
    numeric_sequence_network,
    sequence_network,
    sequence_networks,
)

import shapelang

POOLS = {"hostile": SEQUENCE_HOSTILE, "ordinary": ORDINARY}
SEQUENCE_NETWORKS = 20  # as many as test_backend_equivalence.py compares


def assert_network_is_what_it_means(drawn):
    net = shapelang.loads(drawn.text, "seq_random.net")
    problems = [d for d in net.check() if d.severity == "error" or d.code == "SL308"]
    assert not problems, drawn.text + "\n" + "\n".join(d.render() if hasattr(d, "render")
                                                       else str(d) for d in problems)
    analysis = net.analyse().analysis
    for name, shape, _dtype in drawn.inputs:
        assert [int(d) for d in analysis.by_name(name).shape] == shape, (drawn.text, name)
    for label, (shape, params) in drawn.expected.items():
        layer = analysis.by_name(label)
        assert layer is not None, (drawn.text, label)
        assert [int(d) for d in layer.shape] == shape, (drawn.text, label, layer.shape)
        if params is not None:
            assert int(layer.params) == params, (drawn.text, label, layer.params)


@pytest.mark.parametrize("pool", sorted(POOLS))
@pytest.mark.parametrize("seed", range(20))
def test_every_drawn_network_is_what_the_generator_means(pool, seed):
    assert_network_is_what_it_means(sequence_network(RandomChoices(seed), POOLS[pool]))


@pytest.mark.parametrize("index", covering_indices(SEQUENCE_NETWORKS))
def test_the_numeric_networks_are_what_they_mean(index):
    drawn = numeric_sequence_network(index)
    assert "dropout" not in drawn.text
    assert_network_is_what_it_means(drawn)


@pytest.mark.parametrize("pool", sorted(POOLS))
def test_hypothesis_draws_what_the_generator_means(pool):
    @settings(max_examples=examples(50), deadline=None, suppress_health_check=list(HealthCheck))
    @given(drawn=sequence_networks(POOLS[pool], drawn=True))
    def check(drawn):
        assert_network_is_what_it_means(drawn)

    check()




def test_the_drawn_networks_cover_every_sequence_op():
    features = set()
    for seed in range(200):
        features |= sequence_network(RandomChoices(seed), ORDINARY).features
    assert not FEATURES - features, sorted(FEATURES - features)


def test_the_numeric_comparison_draws_every_sequence_op():
    indices = covering_indices(SEQUENCE_NETWORKS)
    assert len(indices) == SEQUENCE_NETWORKS
    features = set()
    for index in indices:
        features |= numeric_sequence_network(index).features
    assert not FEATURES - features, sorted(FEATURES - features)


def test_the_hostile_pool_has_the_torch_programs_names():
    assert {"self", "forward", "torch", "nn", "x", "class", "lambda"} <= set(SEQUENCE_HOSTILE)
