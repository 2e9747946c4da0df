"""Training a PyTorch model: the checkpoint directory agreed by every process, the epoch loop
(mixed precision, ``torch.compile``, DistributedDataParallel), ``epoch-NNNN.pt`` checkpoints,
the CSV log, one run or a grid, and the ``final:`` line.
"""

import contextlib
import csv
import math
import os
import sys
import time
from pathlib import Path

from .checkpoints import (
    _LOG_FILE,
    _clear_checkpoints,
    _Keeper,
    _locked,
    _plan_checkpoints,
    _save_checkpoint,
    _truncate_log,
)
from .checks import _shape_text
from .data import load_network_data
from .errors import DataError, _OutputError, _reason
from .fingerprint import _fingerprint_parameters
from .grid import _grid_row, _train_grid
from .torch_distributed import _distributed, _joined
from .torch_settings import _make_optimizer, _per_example_loss, _per_example_metric, _recipe
from .training import _diverged, _final_line

_START_FRESH = "start again with --overwrite, or train into another --checkpoint-dir"


def _train_torch(args, network, settings):
    """The ``train`` command for a PyTorch model: settings checked, then (on every process of
    a torchrun group alike) the checkpoint plan, the data, one run or a grid."""
    if args.strategy != "default":
        raise DataError(
            "SL509",
            f"--strategy {args.strategy} is a TensorFlow strategy; the PyTorch program is "
            "distributed by torchrun",
            "run `torchrun --nproc_per_node N model.py train ...` (--strategy default)",
        )
    _recipe(settings, network.from_logits)  # SL509 before anything is read
    _keep_triton_out_beside_tensorflow()
    import torch

    directory = Path(args.checkpoint_dir or os.path.join("checkpoints", network.name))
    with _joined() as cluster, contextlib.ExitStack() as held:
        if cluster.world > 1 and cluster.chief:
            print(
                f"distributed: {cluster.world} processes ({cluster.backend}, {cluster.device.type})"
            )

        def plan_and_lock():
            held.enter_context(_locked(directory))
            return (
                None
                if args.grid
                else _plan_checkpoints(directory, network, args.resume, args.overwrite)
            )

        plan = cluster.agreed(plan_and_lock)
        payload = None
        if plan is not None and plan.checkpoint is not None:
            payload = cluster.agreed(lambda: _read_checkpoint(plan.checkpoint))
            settings = _resumed_settings(settings, payload, args.lr)
        if plan is not None and plan.epoch >= settings.epochs:
            if cluster.chief:
                print(
                    f"{network.name}: {plan.epoch} epochs already trained (--epochs "
                    f"{settings.epochs}); nothing to do"
                )
                print(_final_line(plan.state.get("logs", {}), plan.epoch, 0.0, 0))
            return 0
        recipe = _recipe(settings, network.from_logits)
        data = load_network_data(args, network, settings)
        if cluster.chief:
            print(
                f"data: {data.description}: {data.train_count} training, "
                f"{data.validation_count} validation examples"
            )
        trainer = _Trainer(args, network, data, cluster, torch)
        with _compiler_failures(args.jit):
            if args.grid:

                def train_combination(run_settings, log_path):
                    return trainer.combination(run_settings, log_path)

                return _train_grid(
                    args, network, settings, data, None, directory, args.grid,
                    train=train_combination, chief=cluster.chief,
                )  # fmt: skip
            return trainer.single(settings, recipe, directory, plan, payload)


@contextlib.contextmanager
def _compiler_failures(jit):
    """With ``--jit``, a failure of ``torch.compile`` (which compiles at the first step) as
    SL509 rather than an internal error."""
    try:
        yield
    except Exception as error:
        compiler = type(error).__module__.startswith(("torch._dynamo", "torch._inductor"))
        if not (jit and compiler):
            raise
        first_line = (str(error) or type(error).__name__).splitlines()[0]
        raise DataError(
            "SL509",
            f"--jit: torch.compile failed: {first_line}",
            "train without --jit (on a CPU, torch.compile needs a working C++ compiler)",
        ) from None


def _keep_triton_out_beside_tensorflow():
    """Triton, which PyTorch imports when it first needs ``torch._dynamo`` (building an
    optimizer does), crashes with a segmentation fault in a process that has loaded
    TensorFlow (Triton 3.8 beside TensorFlow 2.21). Where TensorFlow is loaded, PyTorch is
    told that Triton is not installed: it then compiles for the CPU without it, and GPU
    kernels of ``torch.compile`` are unavailable in that process only."""
    if "tensorflow" in sys.modules and "triton" not in sys.modules:
        sys.modules["triton"] = None


def _read_checkpoint(path):
    """A checkpoint's contents, loaded with ``weights_only=True`` (tensors and plain data,
    never code), or SL510."""
    import torch

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or not {"model", "optimizer", "epoch"} <= set(payload):
            raise ValueError("not a checkpoint of the PyTorch runtime")
    except Exception as error:  # noqa: BLE001 -- a damaged file fails in many ways
        first_line = (str(error) or type(error).__name__).splitlines()[0]
        raise DataError(
            "SL510", f"cannot load checkpoint {path}: {first_line}", _START_FRESH
        ) from None
    payload["path"] = str(path)
    return payload


def _resumed_settings(settings, payload, lr):
    """A resumed run keeps the checkpoint's optimizer, its options and its loss (``--lr``
    still applies), as the Keras side does."""
    import dataclasses

    saved = payload.get("settings") or {}
    options = dict(saved.get("optimizer_options", settings.optimizer_options))
    if lr is not None:
        options["learning_rate"] = lr
    return dataclasses.replace(
        settings,
        optimizer=saved.get("optimizer", settings.optimizer),
        optimizer_options=options,
        loss=saved.get("loss", settings.loss),
    )


def _prefetched(batches, depth=2):
    """The items of `batches`, read ahead by a thread (at most `depth` waiting); an error
    raised reading them is raised here."""
    import queue
    import threading

    items = queue.Queue(depth)
    stop = threading.Event()

    def put(item):
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                items.put(item, timeout=0.1)
                return True
        return False

    def read():
        try:
            for batch in batches:
                if not put(("batch", batch)):
                    return
            put(("end", None))
        except BaseException as error:  # noqa: BLE001 -- handed to the reading thread
            put(("error", error))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        while True:
            kind, item = items.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()


class _EpochLog:
    """``training-log.csv`` as Keras's CSVLogger writes it: ``epoch`` (from 0), then the
    metrics in sorted order, one row per epoch."""

    def __init__(self, path, append):
        self.path = path
        self.append = append and path.exists() and path.stat().st_size > 0
        self.columns = None

    def write(self, epoch, logs):
        if self.columns is None:
            self.columns = ["epoch", *sorted(logs)]
        try:
            with self.path.open("a" if self.append else "w", newline="") as stream:
                writer = csv.writer(stream)
                if not self.append:
                    writer.writerow(self.columns)
                writer.writerow([epoch, *(logs.get(key, "") for key in self.columns[1:])])
        except OSError as error:
            raise _OutputError(self.path, f"cannot be written: {_reason(error)}") from None
        self.append = True


class _Trainer:
    """Trains the network's PyTorch model on `data`: one resumable run, or a grid's
    combination; on every process of a torchrun group alike."""

    def __init__(self, args, network, data, cluster, torch):
        self.args = args
        self.network = network
        self.data = data
        self.cluster = cluster
        self.torch = torch
        self.device = cluster.device
        mixed = bool(args.mixed_precision)
        cuda = self.device.type == "cuda"
        self.autocast_dtype = (torch.float16 if cuda else torch.bfloat16) if mixed else None
        self.scaled = mixed and cuda

    # ---- building --------------------------------------------------------------------------
    def _model(self, recipe):
        """A fresh model (weights from the seed), its optimizer and gradient scaler."""
        torch = self.torch
        torch.manual_seed(self.args.seed)
        module = self.network.build_model().to(self.device)
        optimizer = _make_optimizer(recipe, module.parameters())
        scaler = torch.amp.GradScaler("cuda", enabled=self.scaled)
        return module, optimizer, scaler

    def _runner(self, module):
        """What the training steps call: the module, in DistributedDataParallel with more
        than one process, compiled with ``--jit``."""
        runner = _distributed(module, self.cluster)
        if self.args.jit:
            runner = self.torch.compile(runner)
        return runner

    # ---- one epoch -------------------------------------------------------------------------
    def _tensors(self, x, y):
        """The model's arguments (a tuple: one per input, in forward's order) and the labels
        (a tuple by output with several)."""
        torch = self.torch
        examples = x.values() if isinstance(x, dict) else (x,)
        inputs = []
        for array in examples:
            tensor = torch.from_numpy(array).to(self.device, non_blocking=True)
            if tensor.dim() >= 3:  # examples of rank >= 2: channels last -> channels first
                tensor = tensor.movedim(-1, 1).contiguous()
            inputs.append(tensor)
        labels = y.values() if isinstance(y, dict) else (y,)
        labels = tuple(torch.from_numpy(v).to(self.device, non_blocking=True) for v in labels)
        return tuple(inputs), labels if isinstance(y, dict) else labels[0]

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return self.torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def _outputs(self):
        """The output names of a network with several outputs (a tuple from forward), else
        None."""
        units = self.network.output_units
        return tuple(units) if isinstance(units, dict) else None

    def _losses(self, recipe, output, labels):
        """Each example's loss; with several outputs the sum of each output's (Keras's total
        loss, all weights 1)."""
        if self._outputs() is None:
            return _per_example_loss(recipe, output, labels)
        return sum(_per_example_loss(recipe, o, t) for o, t in zip(output, labels))

    def _metric_names(self, recipe):
        """The metrics' log names: by output with several (`logits_accuracy`, as Keras)."""
        outputs = self._outputs()
        if outputs is None:
            return list(recipe.metrics)
        return [f"{output}_{name}" for name in recipe.metrics for output in outputs]

    def _totals(self, recipe, output, labels, losses):
        """[loss sum, metric sums..., examples] of a batch, as a tensor on the device."""
        sums = [losses.detach().sum()]
        several = self._outputs() is not None
        pairs = tuple(zip(output, labels)) if several else ((output, labels),)
        with self.torch.no_grad():
            for name in recipe.metrics:
                for one_output, one_labels in pairs:
                    sums.append(_per_example_metric(recipe, name, one_output.detach(),
                                                    one_labels).sum())
        sums.append(self.torch.tensor(float(len(pairs[0][1])), device=self.device))
        return self.torch.stack([value.float() for value in sums])

    def _logs(self, recipe, totals, prefix=""):
        count = max(totals[-1], 1.0)
        logs = {f"{prefix}loss": totals[0] / count}
        for index, name in enumerate(self._metric_names(recipe), 1):
            logs[prefix + name] = totals[index] / count
        return logs

    def _train_epoch(self, recipe, runner, optimizer, scaler, batch, epoch):
        """One pass over the training data; (logs, None), or (logs so far, (epoch, batch,
        loss)) at the first batch whose loss is NaN or infinite."""
        cluster, count = self.cluster, self.data.train_count
        runner.train()
        totals = None
        step = 0
        share = (cluster.rank, cluster.world)
        batches = _prefetched(self.data.batches(batch, epoch, training=True, share=share))
        for index, (x, y) in enumerate(batches):
            global_size = min(batch, count - index * batch)
            if global_size < cluster.world:  # a last global batch too small to share: left out
                continue
            step += 1
            inputs, labels = self._tensors(x, y)
            with self._autocast():
                output = runner(*inputs)
            losses = self._losses(recipe, output, labels)
            # the mean over the global batch, once DistributedDataParallel averages gradients
            loss = losses.sum() * (cluster.world / global_size)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            self._step(recipe, optimizer, scaler)
            batch_totals = cluster.sum(self._totals(recipe, output, labels, losses)).tolist()
            if not math.isfinite(batch_totals[0]):
                batches.close()
                value = batch_totals[0] / max(batch_totals[-1], 1.0)
                return self._logs(recipe, totals or batch_totals), (epoch + 1, step, value)
            totals = (
                batch_totals if totals is None else [a + b for a, b in zip(totals, batch_totals)]
            )
        return self._logs(recipe, totals or [0.0] * (len(self._metric_names(recipe)) + 2)), None

    def _step(self, recipe, optimizer, scaler):
        """The optimizer's step, with Keras's clipping and decoupled weight decay."""
        torch = self.torch
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        if recipe.clipnorm is not None or recipe.clipvalue is not None:
            scaler.unscale_(optimizer)
            for parameter in parameters:
                if parameter.grad is None:
                    continue
                if recipe.clipnorm is not None:
                    torch.nn.utils.clip_grad_norm_([parameter], recipe.clipnorm)
                if recipe.clipvalue is not None:
                    torch.nn.utils.clip_grad_value_([parameter], recipe.clipvalue)
        if recipe.weight_decay:
            with torch.no_grad():
                for group in optimizer.param_groups:
                    for parameter in group["params"]:
                        parameter.mul_(1 - group["lr"] * recipe.weight_decay)
        scaler.step(optimizer)
        scaler.update()

    def _validate(self, recipe, module, batch):
        """The metrics on the held-out examples (``val_`` keys), or {} without them."""
        if not self.data.validation_count:
            return {}
        torch, cluster = self.torch, self.cluster
        module.train(False)  # evaluation mode
        totals = None
        share = (cluster.rank, cluster.world)
        with torch.no_grad():
            for x, y in _prefetched(self.data.batches(batch, training=False, share=share)):
                if not len(next(iter(x.values())) if isinstance(x, dict) else x):
                    batch_totals = torch.zeros(len(self._metric_names(recipe)) + 2,
                                               device=self.device)
                else:
                    inputs, labels = self._tensors(x, y)
                    with self._autocast():
                        output = module(*inputs)
                    losses = self._losses(recipe, output, labels)
                    batch_totals = self._totals(recipe, output, labels, losses)
                totals = batch_totals if totals is None else totals + batch_totals
        return self._logs(recipe, cluster.sum(totals).tolist(), prefix="val_")

    def _epoch(self, recipe, module, runner, optimizer, scaler, batch, epoch):
        logs, where = self._train_epoch(recipe, runner, optimizer, scaler, batch, epoch)
        if where is None:
            logs.update(self._validate(recipe, module, batch))
        return logs, where

    def _report(self, epoch, epochs, seconds, logs):
        if self.cluster.chief and self.args.verbose:
            metrics = " - ".join(f"{key}: {value:.4f}" for key, value in sorted(logs.items()))
            print(f"Epoch {epoch}/{epochs} - {seconds:.1f}s - {metrics}", flush=True)

    # ---- a run -----------------------------------------------------------------------------
    def single(self, settings, recipe, directory, plan, payload):
        """One training run with a checkpoint every epoch, resumable."""
        cluster, network = self.cluster, self.network
        if plan.clear and cluster.chief:
            _clear_checkpoints(directory)
        module, optimizer, scaler = self._model(recipe)
        if payload is not None:
            _restore(payload, network, module, optimizer, scaler, self.args.lr)
            if cluster.chief:
                print(f"resuming from epoch {plan.epoch} ({plan.checkpoint})")
                _truncate_log(directory / _LOG_FILE, plan.epoch)
        runner = self._runner(module)
        monitor = "val_loss" if self.data.validation_count else "loss"
        keeper = _Keeper(self.args.keep, monitor, (plan.state or {}).get("best"), ".pt")
        log = _EpochLog(directory / _LOG_FILE, append=payload is not None)
        saved, logs = plan.epoch, dict((plan.state or {}).get("logs", {}))
        start = time.perf_counter()
        for epoch in range(plan.epoch, settings.epochs):
            began = time.perf_counter()
            logs, where = self._epoch(
                recipe, module, runner, optimizer, scaler, settings.batch, epoch
            )
            if where is not None:
                raise _diverged(where, saved)
            self._report(epoch + 1, settings.epochs, time.perf_counter() - began, logs)
            if cluster.chief:
                log.write(epoch, logs)
                contents = _contents(network, settings, module, optimizer, scaler, epoch + 1)
                _save_checkpoint(_writer(contents), directory, epoch + 1, network, logs, keeper)
            saved = epoch + 1
        seconds = time.perf_counter() - start
        if cluster.chief:
            best = keeper.best
            kept = f" (best by {best['monitor']}: {best['checkpoint']})" if best else ""
            print(f"checkpoints: {directory}{kept}")
            examples = self.data.train_count * (settings.epochs - plan.epoch)
            print(_final_line(logs, settings.epochs, seconds, examples))
        return 0

    def combination(self, settings, log_path):
        """A grid's combination from fresh weights, without checkpoints; its results row and
        where its loss became NaN or infinite (None if it did not)."""
        recipe = _recipe(settings, self.network.from_logits)
        module, optimizer, scaler = self._model(recipe)
        runner = self._runner(module)
        log = _EpochLog(log_path, append=False)
        logs, where = {}, None
        start = time.perf_counter()
        for epoch in range(settings.epochs):
            logs, where = self._epoch(
                recipe, module, runner, optimizer, scaler, settings.batch, epoch
            )
            if where is not None:
                break
            if self.cluster.chief:
                log.write(epoch, logs)
        seconds = time.perf_counter() - start
        row = _grid_row(settings, logs, recipe.learning_rate, seconds, self.data.train_count)
        return row, where


def _contents(network, settings, module, optimizer, scaler, epoch):
    """What ``epoch-NNNN.pt`` holds: the state dicts, the epoch, the settings a resumed run
    keeps, and what ``--resume`` checks (the input shape, the parameter count)."""
    model_state = module.state_dict()
    parameters = sum(
        tensor.numel() for name, tensor in model_state.items()
        if not name.endswith("num_batches_tracked")
    )  # fmt: skip
    return {
        "model": model_state,
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler.is_enabled() else {},
        "epoch": epoch,
        "network": network.name,
        "input_shape": list(network.input_shape),
        "parameters": parameters,
        "settings": {
            "optimizer": settings.optimizer,
            "optimizer_options": dict(settings.optimizer_options),
            "loss": settings.loss,
        },
    }


def _writer(contents):
    def write(path):
        import torch

        try:
            torch.save(contents, path)
        except RuntimeError as error:  # the zip writer's failure (a full disk, ...)
            raise OSError(
                str(error).splitlines()[0] if str(error) else "torch.save failed"
            ) from None

    return write


def _restore(payload, network, module, optimizer, scaler, lr):
    """Load a checkpoint's states into the model, optimizer and scaler, after checking that
    it is of this network (its input shape, its parameter count)."""
    path = payload["path"]
    taken = tuple(payload.get("input_shape") or ())
    if taken != network.input_shape:
        raise DataError(
            "SL510",
            f"checkpoint {path} is of a network with input {_shape_text(taken)}, "
            f"but this network's input is {_shape_text(network.input_shape)}",
            _START_FRESH,
        )
    expected = _fingerprint_parameters(network.fingerprint)
    if expected is not None and payload.get("parameters") != expected:
        raise DataError(
            "SL510",
            f"checkpoint {path} holds {payload.get('parameters')} parameters, "
            f"but this network has {expected:,}",
            _START_FRESH,
        )
    try:
        module.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        if scaler.is_enabled() and payload.get("scaler"):
            scaler.load_state_dict(payload["scaler"])
    except (RuntimeError, ValueError, KeyError, TypeError) as error:
        first_line = (str(error) or type(error).__name__).splitlines()[0]
        raise DataError(
            "SL510", f"cannot load checkpoint {path}: {first_line}", _START_FRESH
        ) from None
    if lr is not None:
        for group in optimizer.param_groups:
            group["lr"] = lr
