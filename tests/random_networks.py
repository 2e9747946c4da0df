"""The random network generator of the differential tests (`test_differential.py` for Keras,
`test_torch_differential.py` for PyTorch, `test_program_format.py`): graph networks — nested
labels that shadow outer ones, blocks with parameters (numbers, words, repeat counts), repeats
whose iterations differ (`channels(@a)`), merges, `@label`s of outer scopes and `return` — with
names drawn from a hostile pool (Python keywords and builtins, the generated programs' own names
and imports, the runtime's functions) or from an ordinary one. Every network it draws checks
cleanly (every merge joins equal widths, every tensor is read)."""
import keyword

from hypothesis import strategies as st

from shapelang.layers import REGISTRY

# Python's keywords and builtins, the generated program's own names and imports, names it
# derives (`t_x`, `block_input_1`, `i_2`), the runtime's functions and constants.
PROGRAM_NAMES = [
    "x", "t_x", "x_2", "inputs", "inputs_2", "name", "name_2", "i", "i2", "i_2", "index",
    "layers", "keras", "np", "math", "Fraction", "tf", "sys", "argparse", "json", "os", "csv",
    "build_model", "main", "train", "run_main", "block_input_1", "block_input_2", "outputs",
    "model", "INPUT_SHAPE", "OUTPUT_UNITS", "TRAIN_DEFAULTS", "LocalResponseNormalization",
    "DataError", "load_dataset", "_train", "_summary", "Path", "dataclasses", "repeat1",
]
BUILTIN_NAMES = ["str", "int", "float", "max", "min", "range", "abs", "len", "list", "print",
                 "type", "id", "input", "object", "sum", "map", "__name__", "__import__",
                 "__builtins__", "exec", "eval", "open"]
KEYWORDS = [k for k in keyword.kwlist + keyword.softkwlist if k != "return"]  # `return` is ours
HOSTILE = PROGRAM_NAMES + BUILTIN_NAMES + KEYWORDS
ORDINARY = ["a", "b", "c", "left", "right", "skip", "trunk", "stem", "head", "mid", "up",
            "down", "side", "f", "g", "n", "k", "width", "depth", "proj", "cell", "unit"]


# ---- widths as linear forms ------------------------------------------------------------------
# A tensor's channel count is a linear form in the unknowns of its context: the input width of
# a repeat iteration or a block ("w1", "w2", …) and a block's numeric parameters. Two tensors
# may be merged when their forms are equal: then they are equal in every iteration and use.
class Lin:
    def __init__(self, terms=None, constant=0):
        self.terms = {k: v for k, v in (terms or {}).items() if v}
        self.constant = constant

    def key(self):
        return (tuple(sorted(self.terms.items())), self.constant)

    def __eq__(self, other):
        return self.key() == other.key()

    def __hash__(self):
        return hash(self.key())

    def plus(self, other):
        terms = dict(self.terms)
        for k, v in other.terms.items():
            terms[k] = terms.get(k, 0) + v
        return Lin(terms, self.constant + other.constant)

    def times(self, factor):
        return Lin({k: v * factor for k, v in self.terms.items()}, self.constant * factor)

    def substitute(self, name, form):
        rest = Lin({k: v for k, v in self.terms.items() if k != name}, self.constant)
        return rest.plus(form.times(self.terms.get(name, 0)))


class Tensor:
    def __init__(self, width: Lin, label=None):
        self.width, self.label, self.consumed = width, label, False


class Scope:
    """The labels a body sees (its own, then its parent's), its values and default names."""

    def __init__(self, parent=None, values=None, block=False):
        self.parent = parent
        self.labels: dict[str, Tensor] = {}
        self.values = dict(values if values is not None else (parent.values if parent else {}))
        self.block = block
        self.counters: dict[str, int] = {}
        self.tensors: list[Tensor] = []

    def visible(self):
        seen, scope = {}, self
        while scope is not None:
            for label, tensor in scope.labels.items():
                seen.setdefault(label, tensor)
            scope = None if scope.block else scope.parent
        return seen


class Generator:
    """Draws one network's text. Every merge joins tensors of equal width (for every iteration
    and use), and every tensor is read, so the network checks cleanly."""

    def __init__(self, draw, pool, image):
        self.draw, self.pool, self.image = draw, pool, image
        self.lines: list[str] = []
        self.blocks: list[dict] = []
        self.used_names: set[str] = set()
        self.variables = 0
        self.statements = 0

    def name(self, avoid=(), keywords=True):
        choices = [n for n in self.pool if n not in avoid and (keywords or n not in KEYWORDS)]
        return self.draw(st.sampled_from(choices))

    def fresh_variable(self):
        self.variables += 1
        return f"w{self.variables}"

    # ---- layer lines ----
    def width_expression(self, scope: Scope, depth: int):
        """A width: a number, a value's name, or a closed form of a visible tensor's width."""
        options = ["number", "number"]
        widths = [v for v in scope.values.values() if v[1] == "width"]
        if widths:
            options.append("value")
        visible = scope.visible()
        if visible:
            options += ["channels_plus", "channels_times"] if depth <= 1 else ["channels_plus"]
        choice = self.draw(st.sampled_from(options))
        if choice == "number":
            n = self.draw(st.integers(2, 6))
            return str(n), Lin(constant=n)
        if choice == "value":
            names = sorted(k for k, v in scope.values.items() if v[1] == "width")
            key = self.draw(st.sampled_from(names))
            return key, scope.values[key][0]
        label = self.draw(st.sampled_from(sorted(visible)))
        form = visible[label].width
        if choice == "channels_plus":
            return f"(channels(@{label}) + 1)", form.plus(Lin(constant=1))
        return f"(2 * channels(@{label}))", form.times(2)

    def width_layer(self, width_text):
        if not self.image:
            return f"dense {width_text}"
        kernel = self.draw(st.sampled_from(["k=1", "k=3 pad=same", "k=3 pad=1", "k=(1, 3) pad=(0, 1)"]))
        return f"conv {width_text} {kernel}"

    def same_layer(self, read: Tensor):
        """A line that keeps its input's width, and the width."""
        return self.draw(st.sampled_from(
            ["relu", "tanh", "batchnorm", "dropout 0.25", "sigmoid"])), read.width

    def label_for(self, scope: Scope, taken: set):
        if self.draw(st.integers(0, 2)) == 0:
            return None
        label = self.name(avoid=taken | {"input"})
        taken.add(label)
        return label

    def emit(self, indent, text, label=None):
        self.lines.append("    " * indent + (f"{label}: " if label else "") + text)

    def source(self, scope: Scope, previous: Tensor, first: bool):
        """`@ref` for a line that does not read the previous tensor (never the first line of a
        repeat body, nor when the previous tensor would be left unread)."""
        visible = {k: v for k, v in scope.visible().items() if v is not previous}
        if first or not visible or not (previous.label or previous.consumed):
            return None
        if self.draw(st.integers(0, 3)):
            return None
        return self.draw(st.sampled_from(sorted(visible)))

    def body(self, scope: Scope, previous: Tensor, indent: int, depth: int, count: int,
             repeat_body=False):
        """Statements of one body; returns the tensor it ends with."""
        taken: set[str] = set()
        for k in range(count):
            self.statements += 1
            kind = self.draw(st.sampled_from(
                ["width", "width", "same", "same", "merge", "block", "repeat", "let"]))
            if kind == "repeat" and (depth >= 2 or self.statements > 14):
                kind = "width"
            if kind == "block" and not self.blocks:
                kind = "same"
            label = self.label_for(scope, taken) if kind != "let" else None
            first = repeat_body and k == 0
            if kind == "let":
                name = self.name(avoid=set(scope.values) | {"input"})
                n = self.draw(st.integers(2, 5))
                self.emit(indent, f"let {name} = {n}")
                scope.values[name] = (Lin(constant=n), "width")
                continue
            if kind in ("width", "same"):
                ref = self.source(scope, previous, first)
                read = scope.visible()[ref] if ref else previous
                if kind == "width":
                    text, width = self.width_expression(scope, depth)
                    line = self.width_layer(text)
                else:
                    line, width = self.same_layer(read)
                if ref:
                    line += f" @{ref}"
                read.consumed = True
                self.emit(indent, line, label)
                previous = self.produce(scope, width, label)
            elif kind == "merge":
                previous = self.merge(scope, previous, indent, label)
            elif kind == "block":
                previous = self.use_block(scope, previous, indent, label, first)
            else:
                previous = self.repeat(scope, previous, indent, depth, label)
        return self.close(scope, previous, indent)

    def produce(self, scope, width, label, named=True):
        """The tensor of the line just written; an unlabelled line's default name (`dense_2`,
        `cell_1`: its op and a count per body) reads it too."""
        if label is None and named:
            words = self.lines[-1].split()
            op = words[1] if words[0].endswith(":") else words[0]
            scope.counters[op] = scope.counters.get(op, 0) + 1
            label = f"{op}_{scope.counters[op]}"
        tensor = Tensor(width, label)
        if label:
            scope.labels[label] = tensor
        scope.tensors.append(tensor)
        return tensor

    def merge(self, scope, previous, indent, label):
        visible = {k: v for k, v in scope.visible().items() if v is not previous}
        same = sorted(k for k, v in visible.items() if v.width == previous.width)
        op = self.draw(st.sampled_from(["add", "multiply", "concat"]))
        if op != "concat" and not same:
            op = "concat"
        if op == "concat" and not visible:
            self.emit(indent, "relu", label)
            previous.consumed = True
            return self.produce(scope, previous.width, label)
        names = same if op != "concat" else sorted(visible)
        ref = self.draw(st.sampled_from(names))
        previous.consumed = visible[ref].consumed = True
        width = previous.width if op != "concat" else previous.width.plus(visible[ref].width)
        self.emit(indent, f"{op} @{ref}", label)
        return self.produce(scope, width, label)

    def use_block(self, scope, previous, indent, label, first):
        block = self.draw(st.sampled_from(self.blocks))
        ref = self.source(scope, previous, first)
        read = scope.visible()[ref] if ref else previous
        read.consumed = True
        width = block["output"].substitute("in", read.width)
        for variable in [v for v in width.terms if v.startswith("opaque")]:
            width = width.substitute(variable, Lin({self.fresh_variable(): 1}))
        positional = self.draw(st.integers(0, len(block["parameters"])))
        arguments = []
        for k, (parameter, role) in enumerate(block["parameters"]):
            if role == "word":
                value = self.draw(st.sampled_from(["same", "1"]))
                arguments.append(f"{parameter}={value}")
                positional = min(positional, k)
                continue
            n = self.draw(st.integers(2, 5) if role == "width" else st.integers(1, 3))
            arguments.append(str(n) if k < positional else f"{parameter}={n}")
            width = width.substitute(parameter, Lin(constant=n))
        text = " ".join([block["name"], *arguments] + ([f"@{ref}"] if ref else []))
        self.emit(indent, text, label)
        return self.produce(scope, width, label)

    def repeat(self, scope, previous, indent, depth, label):
        variable = self.fresh_variable()
        counts = sorted(k for k, v in scope.values.items() if v[1] == "count")
        if counts and self.draw(st.booleans()):
            count_text = self.draw(st.sampled_from(counts))
            count = scope.values[count_text][0]
            count = count.constant if not count.terms else None  # None: a block's parameter
        else:
            count = self.draw(st.integers(1, 3))
            count_text = str(count)
        self.emit(indent, f"repeat {count_text}:", label)
        inner = Scope(scope)
        end = self.body(inner, Tensor(Lin({variable: 1})), indent + 1, depth + 1,
                        self.draw(st.integers(1, 3)), repeat_body=True)
        previous.consumed = True
        # the iteration maps its input width w to m·w + rest; `count` iterations
        m = end.width.terms.get(variable, 0)
        rest = Lin({k: v for k, v in end.width.terms.items() if k != variable}, end.width.constant)
        if count is None:
            unchanged = m == 1 and rest == Lin()
            width = previous.width if unchanged else Lin({"opaque" + variable: 1})
        else:
            width = previous.width
            for _ in range(count):
                width = width.times(m).plus(rest)
        return self.produce(scope, width, label, named=False)

    def close(self, scope, previous, indent):
        """Read every labelled tensor nothing has read yet: `concat @t` with the last one."""
        for tensor in [t for t in scope.tensors if not t.consumed and t is not previous]:
            self.emit(indent, f"concat @{tensor.label}")
            tensor.consumed = previous.consumed = True
            previous = self.produce(scope, previous.width.plus(tensor.width), None)
        return previous

    # ---- blocks and the network ----
    def block(self, index):
        names = {b["name"] for b in self.blocks} | set(REGISTRY)
        name = self.name(avoid=names)
        parameters, values, taken = [], {}, set()
        for _ in range(self.draw(st.integers(0, 2))):
            parameter = self.name(avoid=taken | {"input"})
            taken.add(parameter)
            role = self.draw(st.sampled_from(["width", "width", "count"]))
            parameters.append((parameter, role))
            values[parameter] = (Lin({parameter: 1}), role)
        word = None
        if self.image and self.draw(st.booleans()):
            word = self.name(avoid=taken | {"input"})
            parameters.append((word, "word"))
        header = ", ".join(p if role != "word" else f"{p} = same" for p, role in parameters)
        self.emit(0, f"block {name}({header}):")
        scope = Scope(values=values, block=True)
        scope.labels["input"] = start = Tensor(Lin({"in": 1}), "input")
        if word:
            self.emit(1, f"conv 4 k=3 pad={word}")
            start.consumed = True
            previous = self.produce(scope, Lin(constant=4), None)
        else:
            previous = start
        end = self.body(scope, previous, 1, 1, self.draw(st.integers(1, 3)))
        if end.label and self.draw(st.booleans()):
            self.emit(1, f"return @{end.label}")
        self.blocks.append({"name": name, "parameters": parameters, "output": end.width})

    def network(self):
        for index in range(self.draw(st.integers(0, 2))):
            self.block(index)
        parameters, values = [], {}
        for _ in range(self.draw(st.integers(0, 2))):
            p = self.name(avoid=set(values) | {"input"}, keywords=False)
            role = self.draw(st.sampled_from(["width", "count"]))
            n = self.draw(st.integers(2, 6) if role == "width" else st.integers(1, 3))
            parameters.append(f"{p} = {n}")
            values[p] = (Lin(constant=n), role)
        self.emit(0, f"network random({', '.join(parameters)}):")
        channels = self.draw(st.integers(1, 5))
        self.emit(1, self.input_line(channels))
        scope = Scope(values=values)
        start = Tensor(Lin(constant=channels), None)
        self.body(scope, start, 1, 0, self.draw(st.integers(2, 7)))
        self.head()
        return "\n".join(self.lines) + "\n"

    def input_line(self, channels):
        return f"input [6, 5, {channels}]" if self.image else f"input [{channels}]"

    def head(self):
        """The lines after the body: to a vector, then (for a vector, sometimes) a classifier."""
        if self.image:
            self.emit(1, "globalavgpool")
        if self.draw(st.booleans()) or self.image:
            self.emit(1, f"dense {self.draw(st.integers(2, 5))} softmax")


def networks(pool):
    @st.composite
    def draw_network(draw):
        return Generator(draw, pool, draw(st.booleans())).network()
    return draw_network()


# ---- the PyTorch backend's generator ----------------------------------------------------------
class TorchGenerator(Generator):
    """The same graphs (residuals, concatenations, blocks, repeats, names), with the layers a
    PyTorch backend must translate exactly: inputs of 0 to 3 spatial axes; depthwise and
    separable convolutions, dilations, groups, even kernels (TensorFlow's asymmetric `same`),
    explicit paddings, `same` pools, batch norm without scale or offset, LRN and a dense layer
    on a feature map in the body; then a head of strided convolutions and pools (`same` with
    odd and even sizes), upsampling, zero padding, a concatenation along a spatial axis and a
    reshape to a sequence, before the classifier."""

    def __init__(self, draw, pool, rank):
        super().__init__(draw, pool, rank > 0)
        self.rank = rank

    def _kernel(self, k):
        return str(k) if self.draw(st.booleans()) else "(" + ", ".join([str(k)] * self.rank) + ")"

    def input_line(self, channels):
        low, high = {0: (1, 1), 1: (5, 12), 2: (4, 9), 3: (3, 6)}[self.rank]
        sizes = [self.draw(st.integers(low, high)) for _ in range(self.rank)]
        return f"input [{', '.join(map(str, [*sizes, channels]))}]"

    def width_layer(self, width_text):
        if not self.image:
            return self.draw(st.sampled_from([f"dense {width_text}", f"dense {width_text} relu",
                                              f"dense {width_text} bias=false"]))
        separable = [f"sepconv {width_text} k=3 pad=same",
                     f"sepconv {width_text} k=2 pad=same multiplier=2 bias=false"]
        return self.draw(st.sampled_from([
            *(separable if self.rank < 3 else []),  # Keras has no 3D separable convolution
            f"conv {width_text} k=1",
            f"conv {width_text} k={self._kernel(3)} pad=same relu",
            f"conv {width_text} k=3 pad=1",
            f"conv {width_text} k=2 pad=same",  # asymmetric: the extra row after
            f"conv {width_text} k=4 pad=same bias=false",
            f"conv {width_text} k=3 d=2 pad=same",
            f"conv {width_text} k=3 d=2 pad=2 tanh",
            f"dense {width_text} last_axis=true",
        ]))

    def same_layer(self, read):
        lines = ["relu", "tanh", "dropout 0.25", "batchnorm", "batchnorm scale=false",
                 "batchnorm center=false", "batchnorm scale=false center=false momentum=0.9",
                 "leaky_relu", "softmax"]
        if self.image:
            if self.rank < 3:  # Keras has no 3D depthwise convolution
                lines += ["depthwiseconv k=3 pad=same", "depthwiseconv k=2 pad=same bias=false",
                          "depthwiseconv k=3 d=2 pad=same relu6"]
            lines += ["maxpool k=3 s=1 pad=same",
                      "maxpool k=2 s=1 pad=same", "avgpool k=2 s=1 pad=same",
                      "avgpool k=3 s=1 pad=1", "lrn", "lrn radius=1 alpha=0.001 beta=0.5"]
            channels = read.width.constant if not read.width.terms else 0
            divisors = [g for g in range(2, channels + 1) if channels % g == 0]
            if divisors:
                lines.append(f"conv {channels} k=3 pad=same groups="
                             f"{self.draw(st.sampled_from(divisors))}")
            if self.rank < 3 and self.draw(st.integers(0, 5)) == 0:
                return "depthwiseconv k=3 pad=same multiplier=2", read.width.times(2)
        return self.draw(st.sampled_from(lines)), read.width

    def head(self):
        if self.image:
            channels = self.draw(st.integers(2, 5))
            self.emit(1, f"conv {channels} k=1")
            for k in range(self.draw(st.integers(1, 3))):
                self.emit(1, self.draw(st.sampled_from(self.spatial_lines(channels, k))))
            if self.rank > 1 and self.draw(st.booleans()):
                # a sequence of the positions, channels last: 1D from here on
                self.emit(1, f"reshape [-1, {channels}]")
                self.rank = 1
                self.emit(1, self.draw(st.sampled_from(
                    [f"conv {channels} k=2 s=2 pad=same", f"conv {channels} k=3 pad=same",
                     "maxpool k=2 pad=same", f"dense {channels} last_axis=true"])))
            self.emit(1, self.draw(st.sampled_from(
                ["globalavgpool", "globalmaxpool", "flatten",
                 "globalavgpool keepdims=true\n    flatten"])))
        if self.draw(st.booleans()) or self.image:
            self.emit(1, f"dense {self.draw(st.integers(2, 5))} softmax")

    def spatial_lines(self, channels, k):
        """Lines that change the spatial size (the channels stay `channels`); `k` numbers a
        label."""
        upsample = {1: "upsample 2", 2: "upsample (2, 3) interpolation=bilinear",
                    3: "upsample (1, 2, 2)"}[self.rank]
        return [
            f"conv {channels} k=3 s=2 pad=same", f"conv {channels} k=2 s=2 pad=same",
            f"conv {channels} k=4 s=3 pad=same", f"conv {channels} k=1 s=2 pad=same",
            f"conv {channels} k=3 s=2 pad=2",
            *([f"sepconv {channels} k=3 s=2 pad=same", "depthwiseconv k=3 s=2 pad=same"]
              if self.rank < 3 else []),
            "maxpool k=3 s=2 pad=same", "maxpool pad=same",
            "avgpool k=3 s=2 pad=same", "avgpool pad=same", "avgpool k=3 s=2 pad=1",
            upsample, "zeropad 1", "zeropad 2\n    maxpool k=3 s=2",
            f"spatial{k}: relu\n    tanh\n    concat @spatial{k} axis=1",
        ]


def torch_networks(pool):
    @st.composite
    def draw_network(draw):
        return TorchGenerator(draw, pool, draw(st.integers(0, 3))).network()
    return draw_network()
