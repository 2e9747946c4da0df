"""The random sequence network generator of the differential tests (`test_differential.py` for
Keras, `test_torch_differential.py` for PyTorch, `test_backend_equivalence.py` for Keras ≡
PyTorch): networks on sequences `[T, D]` and token ids `[T]` — embeddings of integer inputs,
learned positions (`posembed`, `exact=true`), a CLS token, `take` / `slice` / `transpose` /
`mean`, layer norm, attention (self, cross, causal, both tensors named), simple RNNs, LSTMs and
GRUs (bidirectional, returning sequences or not), dense on the last axis, 1-D convolutions,
merges, weight tying, a transformer block in a `repeat`, and networks of two inputs and of two
outputs (`output @a @b`) — with labels, input and block names drawn from a pool (the hostile
one of `random_networks.py`, with the PyTorch program's own names added, or the ordinary one).

The generator follows every tensor's shape itself, as concrete numbers, and the parameter
count of every labelled line by the published Keras formulas (`SequenceNetwork.expected`): the
test of the generator (tests/test_random_sequence_networks.py) compares both with the analysis,
so a network that means something else than the generator thinks fails there, not in the
differential tests.

Draws go through a `Choices` object: `HypothesisChoices` (a hypothesis `draw`) for the
property tests, `RandomChoices` (a seeded `random.Random`) for the numerical comparison of the
two backends, which runs a fixed list of networks."""
import keyword
import random
from dataclasses import dataclass, field

from hypothesis import strategies as st
from random_networks import HOSTILE, ORDINARY

from shapelang.layers import REGISTRY

# The generated PyTorch program's own names (its class, `forward(self, …)`, its imports), and
# the names the multi-input programs meet: an input or label called `self`, `ids` or `forward`.
TORCH_NAMES = ["self", "forward", "torch", "nn", "F", "super", "Module", "ModuleDict",
               "training", "ids", "types", "memory", "query", "key", "value", "mask", "tuple",
               "dict", "slice", "cls", "token", "positions", "output_1", "x_1", "inputs_1"]
SEQUENCE_HOSTILE = sorted(set(HOSTILE + TORCH_NAMES))
#: Words a label, input or block may not be: the language's own.
RESERVED = {"input", "output", "return", "repeat", "let", "block", "network", "train", "expect",
            "if", "else", "and", "or", "not"} | set(REGISTRY)

ACTIVATIONS = ("relu", "gelu", "tanh", "sigmoid", "swish")
#: The words the generator writes as option values: a network parameter of one of these names
#: would be read in its place (`bidirectional=sum` with a parameter `sum = 2` reads 2).
WORDS = {"sum", "concat", "true", "false", "same", "int32", "int64", "float32"}


# ---- drawing ----------------------------------------------------------------------------------
class HypothesisChoices:
    def __init__(self, draw):
        self.draw = draw

    def choice(self, options):
        return self.draw(st.sampled_from(list(options)))

    def integer(self, low, high):
        return self.draw(st.integers(low, high))

    def chance(self, one_in):
        """True once in `one_in` draws (on average)."""
        return self.draw(st.integers(0, one_in - 1)) == 0


class RandomChoices:
    def __init__(self, seed):
        self.rng = random.Random(seed)

    def choice(self, options):
        return self.rng.choice(list(options))

    def integer(self, low, high):
        return self.rng.randint(low, high)

    def chance(self, one_in):
        return self.rng.randrange(one_in) == 0


# ---- the generator ----------------------------------------------------------------------------
@dataclass
class Tensor:
    shape: list
    label: str | None = None
    integer: bool = False  # token ids
    consumed: bool = False
    embedding: tuple | None = None  # (label, vocabulary, width) of the embedding that made it
    embeddings: frozenset = frozenset()  # the labels of the embeddings that compute it


def _keras_bias_add_misplaces(heads, projections):
    """Whether Keras 3.15's TensorFlow `ops.add` adds one of attention's projection biases,
    (heads, size), along the wrong axis: with size 1 and a sequence as long as the heads, it
    takes the bias for a channels-first one (`tf.nn.bias_add`, NCHW) and adds head h's bias at
    position h (tests/sequence_findings.md, finding 1; tests/test_seqrandom.py).
    `projections`: (length, size) of the query's, the key's and the value's."""
    return any(size == 1 and length == heads and heads > 1 for length, size in projections)


def _divisors(n):
    return [h for h in range(1, n + 1) if n % h == 0]


@dataclass
class SequenceNetwork:
    """One drawn network: its text, and what the generator says every labelled line is."""
    text: str
    expected: dict = field(default_factory=dict)  # label → (shape, Keras parameter count)
    features: set = field(default_factory=set)  # what it exercises, for the coverage test
    inputs: list = field(default_factory=list)  # (name, shape, dtype), in order
    outputs: list = field(default_factory=list)  # labels, when `output @a @b` names them
    vocabulary: dict = field(default_factory=dict)  # integer input's name → its ids' bound


class SequenceGenerator:
    """Draws one network, line by line, from the ops the current tensor allows; shapes and
    parameter counts followed here. Every labelled tensor is read by a later line or named as
    an output, so the network checks cleanly."""

    def __init__(self, choices, pool, numeric=False):
        self.c = choices
        self.pool = [n for n in pool if n not in RESERVED]
        self.numeric = numeric  # for the numerical comparison: no dropout, bounded values
        self.lines: list[str] = []
        self.blocks: list[str] = []
        self.taken: set[str] = set()
        self.labelled: list[Tensor] = []
        self.pending: set[str] = set()  # the embeddings that compute what the next line reads
        self.parameters: list[str] = []  # the network's, `T = 5`
        self.result = SequenceNetwork("")

    # ---- names and lines ----
    def name(self, keywords=True, avoid=()):
        free = [n for n in self.pool if n not in self.taken and n not in avoid
                and (keywords or not (keyword.iskeyword(n) or keyword.issoftkeyword(n)))]
        name = self.c.choice(free) if free else f"t{len(self.taken)}"
        self.taken.add(name)
        return name

    def emit(self, text, tensor, params=None, label=None, feature=None):
        """Write a line making `tensor`; label it (always when `label` is True, sometimes
        when None); record its expected shape and parameter count."""
        if label is None:
            label = self.c.chance(2)
        name = self.name() if label else None
        self.lines.append("    " + (f"{name}: " if name else "") + text)
        tensor.label = name
        tensor.embeddings, self.pending = frozenset(self.pending), set()
        if name:
            self.labelled.append(tensor)
            self.result.expected[name] = (list(tensor.shape), params)
        self.result.features.add(feature or text.split()[0])
        return tensor

    def read(self, *tensors):
        for t in tensors:
            t.consumed = True
            self.pending |= t.embeddings

    def earlier(self, current, condition):
        """A labelled tensor before `current` that `condition` accepts, or None."""
        found = [t for t in self.labelled if t is not current and condition(t)]
        return self.c.choice(found) if found else None

    def activation(self, one_in=3):
        return f" {self.c.choice(ACTIVATIONS)}" if self.c.chance(one_in) else ""

    # ---- inputs ----
    def input(self, name):
        length = self.c.integer(2, 7)
        written = str(length)
        if self.c.chance(3):  # the length a parameter of the network, its default the length
            written = self.name(keywords=False, avoid=WORDS)
            self.parameters.append(f"{written} = {length}")
            self.result.features.add("length parameter")
        if self.c.chance(2):
            dtype = self.c.choice(["int32", "int64"])
            tensor = Tensor([length], integer=True)
            text = f"input [{written}] dtype={dtype}"
        else:
            tensor = Tensor([length, self.c.integer(2, 6)])
            text = f"input [{written}, {tensor.shape[1]}]"
        line = "    " + (f"{name}: " if name else "") + text
        self.lines.append(line)
        tensor.label = name or "input"
        dtype = text.split("dtype=")[1] if tensor.integer else "float32"
        self.result.inputs.append((tensor.label, list(tensor.shape), dtype))
        self.result.features.add("integer input" if tensor.integer else "float input")
        return tensor

    def to_sequence(self, tensor, ref=""):
        """A float sequence from an input: an embedding of ids, a projection or a norm."""
        if tensor.integer:
            vocabulary, width = self.c.integer(5, 20), self.c.choice([2, 4, 6, 8])
            self.read(tensor)
            length = tensor.shape[0]
            if length > 2 and self.c.chance(3):  # ids stay ids through a slice
                start = self.c.integer(0, length - 2)
                self.emit(f"slice {start} {length - 1}{ref}", Tensor([length - 1 - start]), 0,
                          label=False, feature="slice ids")
                tensor, ref = Tensor([length - 1 - start], tensor.label, integer=True), ""
            out = self.emit(f"embedding {vocabulary} {width}{ref}",
                            Tensor(tensor.shape + [width]), vocabulary * width, label=True)
            out.embedding = (out.label, vocabulary, width)
            out.embeddings = out.embeddings | {out.label}
            self.result.vocabulary[tensor.label] = min(
                vocabulary, self.result.vocabulary.get(tensor.label, vocabulary))
            return out
        self.read(tensor)
        if self.c.chance(2):
            units = self.c.choice([2, 4, 6, 8])
            return self.emit(f"dense {units} last_axis=true{ref}",
                             Tensor(tensor.shape[:-1] + [units]),
                             tensor.shape[-1] * units + units, feature="dense last_axis")
        return self.layernorm(tensor, ref)

    # ---- ops on a sequence [T, D] ----
    def layernorm(self, x, ref=""):
        options, center, scale = "", True, True
        pick = self.c.integer(0, 4)
        if pick == 1:
            options = self.c.choice([" epsilon=1e-5", " eps=1e-6"])
        elif pick == 2:
            options, center = " center=false", False
        elif pick == 3:
            options, scale = " scale=false", False
        self.read(x)
        return self.emit(f"layernorm{options}{ref}", Tensor(list(x.shape)),
                         x.shape[-1] * (center + scale))

    def mha(self, x):
        """Self-attention, cross-attention on an earlier sequence, or both tensors named."""
        length, width = x.shape
        memory = self.earlier(x, lambda t: len(t.shape) == 2 and not t.integer)
        mode = self.c.choice(["self", "self", "cross", "named"]) if memory else "self"
        heads = self.c.choice(_divisors(width)[:4])
        options, key_dim = "", width // heads
        if self.c.chance(3):
            key_dim = self.c.integer(1, 4)
            options += f" key_dim={key_dim}"
        value_dim = key_dim
        if self.c.chance(4):
            value_dim = self.c.integer(1, 4)
            options += f" value_dim={value_dim}"
        causal = self.c.chance(3)
        options += " causal=true" if causal else ""
        bias = not self.c.chance(4)
        options += "" if bias else " bias=false"
        if not self.numeric and self.c.chance(4):
            options += " dropout=0.1"
        source = width if mode == "self" else memory.shape[1]
        if self.numeric and _keras_bias_add_misplaces(
                heads, [(length, key_dim)] + [(length if mode == "self" else memory.shape[0],
                                               size) for size in (key_dim, value_dim)]):
            return self.layernorm(x)  # sequence_findings.md, finding 1: Keras adds the bias wrong
        params = (width * heads * key_dim + source * heads * key_dim + source * heads * value_dim
                  + heads * value_dim * width) + (heads * (2 * key_dim + value_dim) + width) * bias
        if mode == "self":
            refs = ""
            self.read(x)
        elif mode == "cross":
            refs = f" @{memory.label}"
            self.read(x, memory)
        else:
            if x.label is None:
                x = self.label_previous(x)
            refs = f" @{x.label} @{memory.label}"
            self.read(x, memory)
        feature = "mha " + mode + (" causal" if causal else "")
        return self.emit(f"mha {heads}{options}{refs}", Tensor([length, width]), params,
                         feature=feature)

    def label_previous(self, x):
        """Label the previous line (a `linear` of its own when it has none): `mha 2 @q @kv`
        names its query."""
        self.read(x)
        return self.emit("linear", Tensor(list(x.shape)), 0, label=True)

    def rnn(self, x, sequences):
        kind = self.c.choice(["simplernn", "lstm", "gru"])
        units = self.c.integer(2, 5)
        gates = {"simplernn": 1, "lstm": 4, "gru": 3}[kind]
        options = " return_sequences=true" if sequences else ""
        params = gates * (units * (x.shape[1] + units) + units)
        if kind == "gru":
            if self.c.chance(3):
                options += " reset_after=false"
            else:
                params += gates * units  # Keras's second bias (reset_after, its default)
        merge = self.c.choice([None, None, "concat", "sum"])
        if merge:
            options += f" bidirectional={merge}"
            params *= 2
        out_units = units * (2 if merge == "concat" else 1)
        self.read(x)
        shape = [x.shape[0], out_units] if sequences else [out_units]
        feature = kind + (" sequences" if sequences else "") + (f" {merge}" if merge else "")
        return self.emit(f"{kind} {units}{options}", Tensor(shape), params, feature=feature)

    def sequence_op(self, x):
        """One line on a float sequence; returns its tensor (still a sequence)."""
        length, width = x.shape
        op = self.c.choice(["layernorm", "layernorm", "mha", "mha", "mha", "posembed",
                            "clstoken", "dense", "conv", "activation", "dropout", "rnn",
                            "transpose", "slice", "merge", "merge", "keepdims", "block",
                            "tie"])
        if op == "layernorm":
            return self.layernorm(x)
        if op == "mha":
            return self.mha(x)
        if op == "rnn":
            return self.rnn(x, sequences=True)
        self.read(x)
        if op == "posembed":
            if self.c.chance(3):
                return self.emit(f"posembed {length} exact=true", Tensor([length, width]),
                                 length * width, feature="posembed exact")
            rows = length + self.c.integer(0, 4)
            return self.emit(f"posembed {rows}", Tensor([length, width]), rows * width)
        if op == "clstoken":
            return self.emit("clstoken", Tensor([length + 1, width]), width)
        if op == "dense":
            units = self.c.integer(2, 8)
            return self.emit(f"dense {units} last_axis=true{self.activation()}",
                             Tensor([length, units]), width * units + units,
                             feature="dense last_axis")
        if op == "conv":
            filters = self.c.integer(2, 6)
            kernel, out = self.c.choice([("k=3 pad=same", length), ("k=1", length),
                                         ("k=2", length - 1), ("k=3 s=2 pad=same",
                                                               -(-length // 2))])
            if out < 1:
                kernel, out = "k=1", length
            k = int(kernel.split()[0][2:])
            return self.emit(f"conv {filters} {kernel}", Tensor([out, filters]),
                             k * width * filters + filters, feature="conv 1d")
        if op == "activation":
            return self.emit(self.c.choice(ACTIVATIONS), Tensor([length, width]), 0,
                             feature="activation")
        if op == "dropout":
            if self.numeric:  # inference: the same either way; keep the line count honest
                return self.emit("linear", Tensor([length, width]), 0)
            return self.emit("dropout 0.1", Tensor([length, width]), 0)
        if op == "transpose":
            return self.emit("transpose [1, 0]", Tensor([width, length]), 0)
        if op == "slice":
            if self.c.chance(3) and length > 1:  # Python's: negative from the end, or to it
                start = self.c.integer(1, length)
                if self.c.chance(2):
                    return self.emit(f"slice {length - start}", Tensor([start, width]), 0,
                                     feature="slice to the end")
                stop = self.c.integer(0, start - 1)
                stop_text = f" ({-stop})" if stop else ""
                return self.emit(f"slice ({-start}){stop_text}", Tensor([start - stop, width]),
                                 0, feature="slice negative")
            if self.c.chance(2) and length > 1:
                start = self.c.integer(0, length - 2)
                stop = self.c.integer(start + 1, length)
                return self.emit(f"slice {start} {stop}", Tensor([stop - start, width]), 0)
            if width > 1:
                start = self.c.integer(0, width - 2)
                stop = self.c.integer(start + 1, width)
                return self.emit(f"slice {start} {stop} axis=1", Tensor([length, stop - start]),
                                 0, feature="slice axis=1")
            return self.emit("relu", Tensor([length, width]), 0, feature="activation")
        if op == "keepdims":
            if self.c.chance(3):
                return self.emit("mean axis=-1 keepdims=true", Tensor([length, 1]), 0,
                                 feature="mean keepdims last")
            return self.emit("mean axis=0 keepdims=true", Tensor([1, width]), 0,
                             feature="mean keepdims")
        if op == "block":
            return self.transformer(x)
        if op == "tie":
            return self.tie(x)
        return self.merge(x)

    def merge(self, x):
        length, width = x.shape
        same = self.earlier(x, lambda t: t.shape == x.shape and not t.integer)
        rows = self.earlier(x, lambda t: len(t.shape) == 2 and t.shape[0] == length
                            and not t.integer)
        columns = self.earlier(x, lambda t: len(t.shape) == 2 and t.shape[1] == width
                               and not t.integer)
        options = [o for o, t in (("add", same), ("multiply", same), ("concat", rows),
                                  ("concat axis=0", columns)) if t]
        if not options:
            return self.emit("gelu", Tensor([length, width]), 0, feature="activation")
        op = self.c.choice(options)
        other = {"add": same, "multiply": same, "concat": rows, "concat axis=0": columns}[op]
        self.read(other)
        if op == "concat":
            shape = [length, width + other.shape[1]]
        elif op == "concat axis=0":
            shape = [length + other.shape[0], width]
        else:
            shape = [length, width]
        words = op.split()
        text = " ".join([words[0], f"@{other.label}", *words[1:]])
        return self.emit(text, Tensor(shape), 0, feature=op)

    def tie(self, x):
        """A head reusing the matrix of an embedding that computes its input (SL324), where one
        of this width exists."""
        source = self.earlier(x, lambda t: t.embedding is not None
                              and t.embedding[2] == x.shape[1] and t.label in x.embeddings)
        if source is None:
            return self.emit("tanh", Tensor(list(x.shape)), 0, feature="activation")
        label, vocabulary, _ = source.embedding
        return self.emit(f"dense {vocabulary} tie={label} bias=false last_axis=true",
                         Tensor([x.shape[0], vocabulary]), 0, feature="dense tie")

    def transformer(self, x):
        """A pre-norm encoder block (attention and a position-wise MLP, both residual), used in
        a `repeat` (or once); its name and parameters from the pool."""
        length, width = x.shape
        name, heads_name = self.name(), self.name()
        causal = " causal=true" if self.c.chance(2) else ""
        self.blocks.append(
            f"block {name}({heads_name}):\n"
            f"    layernorm\n"
            f"    mha {heads_name}{causal}\n"
            f"    attended: add @input\n"
            f"    layernorm\n"
            f"    dense (2 * channels(@input)) last_axis=true relu\n"
            f"    dense channels(@input) last_axis=true\n"
            f"    add @attended\n")
        self.taken.add("attended")
        heads = self.c.choice(_divisors(width)[:3])
        if self.numeric and _keras_bias_add_misplaces(heads, [(length, width // heads)]):
            heads = 1  # sequence_findings.md, finding 1
        count = self.c.integer(1, 2)
        if self.c.chance(2):
            label = self.name()
            self.lines.append(f"    {label}: repeat {count}:")
            self.lines.append(f"        {name} {heads}")
        else:
            count, label = 1, None
            self.lines.append(f"    {name} {heads}")
        self.read(x)
        out = Tensor([length, width], label, embeddings=frozenset(self.pending))
        self.pending = set()
        if label:  # a repeat's label names no layer of the analysis: nothing to expect
            self.labelled.append(out)
        self.result.features.add("block repeat" if label else "block")
        return out

    # ---- from a sequence to a vector ----
    def to_vector(self, x):
        length, width = x.shape
        op = self.c.choice(["take", "take", "mean", "rnn", "globalavgpool", "globalmaxpool",
                            "flatten", "take1", "mean1"])
        if op == "rnn":
            return self.rnn(x, sequences=False)
        self.read(x)
        if op == "take":
            if self.c.chance(3):
                return self.emit(f"take ({-self.c.integer(1, length)})", Tensor([width]), 0,
                                 feature="take negative")
            index = self.c.integer(0, length - 1)
            text = f"take {index}" if index or self.c.chance(2) else "take 0 axis=0"
            return self.emit(text, Tensor([width]), 0)
        if op == "take1":
            axis = self.c.choice(["1", "-1"])
            return self.emit(f"take {self.c.integer(0, width - 1)} axis={axis}", Tensor([length]),
                             0, feature="take axis=1")
        if op == "mean":
            return self.emit(self.c.choice(["mean", "mean axis=0"]), Tensor([width]), 0)
        if op == "mean1":
            return self.emit("mean axis=1", Tensor([length]), 0, feature="mean axis=1")
        if op == "flatten":
            return self.emit("flatten", Tensor([length * width]), 0)
        return self.emit(op, Tensor([width]), 0)

    def vector_op(self, x):
        op = self.c.choice(["dense", "dense", "layernorm", "activation"])
        if op == "layernorm":
            return self.layernorm(x)
        self.read(x)
        if op == "activation":
            return self.emit(self.c.choice(ACTIVATIONS), Tensor(list(x.shape)), 0,
                             feature="activation")
        units = self.c.integer(2, 6)
        return self.emit(f"dense {units}{self.activation()}", Tensor([units]),
                         x.shape[0] * units + units)

    # ---- the network ----
    def network(self):
        title = self.name()
        count = 2 if self.c.chance(3) else 1
        names = [self.name() for _ in range(count)] if count > 1 else [None]
        inputs = [self.input(name) for name in names]
        # the second input first: the line after it reads it; the first one by name
        branches = []
        if count == 2:
            memory = self.to_sequence(inputs[1])
            for _ in range(self.c.integer(0, 2)):
                memory = self.sequence_op(memory)
            if memory.label is None:
                memory = self.label_previous(memory)
            branches.append(memory)
            x = self.to_sequence(inputs[0], f" @{inputs[0].label}")
        else:
            x = self.to_sequence(inputs[0])
        for _ in range(self.c.integer(1, 6)):
            x = self.sequence_op(x)
        extra = []
        if self.c.chance(3):  # the sequence is an output too
            if x.label is None:
                x = self.label_previous(x)
            extra.append(x)
        vector = self.to_vector(x)
        for _ in range(self.c.integer(0, 2)):
            vector = self.vector_op(vector)
        if self.c.chance(2):
            units = self.c.integer(2, 5)
            self.read(vector)
            vector = self.emit(f"dense {units} softmax", Tensor([units]),
                               vector.shape[0] * units + units)
        extra += [t for t in self.labelled if not t.consumed and t is not vector
                  and t not in extra]
        if extra:
            if vector.label is None:
                vector = self.label_previous(vector)
            named = [vector, *extra]
            self.lines.append("    output " + " ".join(f"@{t.label}" for t in named))
            self.result.outputs = [t.label for t in named]
            self.result.features.add("several outputs")
        if count == 2:
            self.result.features.add("several inputs")
        body = "\n".join(self.lines)
        blocks = "\n".join(self.blocks)
        header = f"network {title}({', '.join(self.parameters)}):"
        self.result.text = (blocks + "\n" if blocks else "") + f"{header}\n{body}\n"
        return self.result


def sequence_network(choices, pool=ORDINARY, numeric=False) -> SequenceNetwork:
    return SequenceGenerator(choices, pool, numeric).network()


def sequence_networks(pool, drawn=False):
    """The hypothesis strategy: a drawn network's text (its `SequenceNetwork` with `drawn`)."""
    @st.composite
    def draw_network(draw):
        network = sequence_network(HypothesisChoices(draw), pool)
        return network if drawn else network.text
    return draw_network()


#: What the drawn networks exercise (`SequenceNetwork.features`): each of them somewhere.
FEATURES = {
    "integer input", "float input", "several inputs", "several outputs", "embedding",
    "posembed", "posembed exact", "clstoken", "take", "take axis=1", "slice", "slice axis=1",
    "transpose", "mean", "mean axis=1", "mean keepdims", "layernorm", "mha self",
    "mha self causal", "mha cross", "mha named", "simplernn", "lstm", "gru",
    "lstm sequences", "gru sequences concat", "simplernn sequences sum", "dense last_axis",
    "dense tie", "conv 1d", "add", "multiply", "concat", "concat axis=0", "block",
    "block repeat", "flatten", "globalavgpool", "globalmaxpool", "slice ids", "slice negative",
    "slice to the end", "take negative", "mean keepdims last", "length parameter",
}


def numeric_sequence_network(index: int) -> SequenceNetwork:
    """Network `index` of the numerical comparison: no dropout (it is inference either way);
    names from the hostile pool for odd indices, the ordinary one for even ones."""
    return sequence_network(RandomChoices(index), SEQUENCE_HOSTILE if index % 2 else ORDINARY,
                            numeric=True)


def covering_indices(count: int, search: int = 300) -> list[int]:
    """`count` indices of numeric networks that together draw every one of FEATURES: a greedy
    cover of the first `search` (each time the index that draws the most features not yet
    drawn, the lowest of equals), then the lowest others."""
    drawn = [numeric_sequence_network(index).features for index in range(search)]
    chosen, covered = [], set()
    while not FEATURES <= covered and len(chosen) < count:
        best = max(range(search), key=lambda i: (len(drawn[i] & FEATURES - covered), -i))
        chosen.append(best)
        covered |= drawn[best]
    rest = [i for i in range(search) if i not in chosen]
    return sorted(chosen + rest[:count - len(chosen)])
