"""Keras as the oracle for a generated program: every layer of the analysis against the layer
of the same name in the built model — output shape, trainable and non-trainable counts — and
the wiring: the layers each one reads, by name, against the analysis's `inputs`. Keras layers
that the analysis does not list (the `NAME_pad` zero padding before an explicitly padded layer)
are looked through to the analysed layers they read."""
import numpy as np


def weight_count(weights) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def _history(value, found):
    """The names of the layers whose tensors a serialized call argument holds, in order."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            found.append(value["config"]["keras_history"][0])
        else:
            for item in value.values():
                _history(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _history(item, found)
    return found


def inbound_layers(model) -> dict:
    """Layer name → the names of the layers it reads (its first call), from the model's config."""
    inbound = {}
    for layer in model.get_config()["layers"]:
        nodes = layer["inbound_nodes"]
        inbound[layer["name"]] = _history(nodes[0]["args"], []) if nodes else []
    return inbound


def model_io(model) -> tuple[list[str], list[str]]:
    """The names of the model's input layers and output layers, in order, from its config."""
    config = model.get_config()

    def names(entries):
        if entries and isinstance(entries[0], str):  # one: [name, node, tensor]
            entries = [entries]
        return [entry[0] for entry in entries]

    return names(config["input_layers"]), names(config["output_layers"])


def differences(analysis, model) -> list[str]:
    """Every way `model` differs from `analysis` (empty when it is the analysed network)."""
    problems = []
    by_name = {layer.name: layer for layer in model.layers}
    analysed = {r.name for r in analysis.layers}
    inbound = inbound_layers(model)

    def analysed_inputs(name):
        found = []
        for source in inbound.get(name, []):
            found += [source] if source in analysed else analysed_inputs(source)
        return found

    for extra in sorted(set(by_name) - analysed):
        base = extra[:-len("_pad")]
        if not extra.endswith("_pad") or base not in analysed or inbound[base] != [extra]:
            problems.append(f"`{extra}`: a Keras layer the analysis does not have")
    for r in analysis.layers:
        layer = by_name.get(r.name)
        if layer is None:
            problems.append(f"`{r.name}`: not in the model")
            continue
        shape = tuple(layer.output.shape[1:])
        if shape != tuple(int(d) for d in r.shape):
            problems.append(f"`{r.name}`: shape {shape}, analysed {list(r.shape)}")
        for what, weights, count in (("trainable", layer.trainable_weights, r.trainable),
                                     ("non-trainable", layer.non_trainable_weights,
                                      r.non_trainable)):
            if weight_count(weights) != int(count):
                problems.append(f"`{r.name}`: {weight_count(weights)} {what} parameters, "
                                f"analysed {count}")
        # Keras's attention is called `layer(query, value)`: self-attention reads its input twice
        wanted = list(r.inputs) * 2 if r.op == "mha" and len(r.inputs) == 1 else list(r.inputs)
        if analysed_inputs(r.name) != wanted:
            problems.append(f"`{r.name}` reads {analysed_inputs(r.name)}, analysed "
                            f"{list(r.inputs)}")
    if model.count_params() != int(analysis.total("params")):
        problems.append(f"{model.count_params()} parameters, analysed "
                        f"{analysis.total('params')}")
    if getattr(analysis, "several_io", False):  # which layers are the inputs and outputs
        inputs, outputs = model_io(model)
        if inputs != list(analysis.input_paths):
            problems.append(f"model inputs {inputs}, analysed {list(analysis.input_paths)}")
        if outputs != list(analysis.output_paths):
            problems.append(f"model outputs {outputs}, analysed {list(analysis.output_paths)}")
        for name in inputs:
            dtype = by_name[name].output.dtype if name in by_name else None
            wanted = _analysed_dtype(analysis.by_name(name))
            if dtype != wanted:
                problems.append(f"input `{name}`: dtype {dtype}, analysed {wanted}")
    return problems


def _analysed_dtype(node) -> str:
    value = node.options.get("dtype") if node is not None else None
    return "float32" if value is None else str(getattr(value, "name", value))
