"""Distribution of the PyTorch program: under ``torchrun`` (``WORLD_SIZE`` > 1) every process
joins ``torch.distributed`` (NCCL on CUDA, Gloo on CPU), trains on its share of every global
batch and sums its metrics with the others'; rank 0 (the chief) alone writes and prints.
"""

import contextlib
import dataclasses
import os

from .errors import DataError


@dataclasses.dataclass
class _Cluster:
    """This process's place: its rank among `world` processes and its device."""

    rank: int
    world: int
    device: object
    backend: str = ""

    @property
    def chief(self):
        return self.rank == 0

    def sum(self, values):
        """`values` (a 1-D float tensor on the device) summed over every process."""
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values

    def from_chief(self, value):
        """The chief's `value` (any picklable object), on every process."""
        if self.world == 1:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def agreed(self, decide):
        """``decide()`` run on the chief alone; its result, or the diagnostic it raised, on
        every process (so that no process waits for one that has stopped)."""
        from .errors import _OutputError

        outcome = None
        if self.chief:
            try:
                outcome = ("result", decide())
            except DataError as error:
                outcome = ("diagnostic", error.code, error.message, error.hint)
            except _OutputError as error:
                outcome = ("output", str(error.path), error.reason)
        outcome = self.from_chief(outcome)
        if outcome[0] == "diagnostic":
            _, code, message, hint = outcome
            raise DataError(code, message, hint)
        if outcome[0] == "output":
            raise _OutputError(*outcome[1:])
        return outcome[1]


def _world_size():
    try:
        return int(os.environ.get("WORLD_SIZE") or 1)
    except ValueError:
        raise DataError(
            "SL509", f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not a number of processes"
        ) from None


@contextlib.contextmanager
def _joined():
    """This process's :class:`_Cluster`: alone, on CUDA when it is available; under torchrun,
    one of the process group (on the GPU ``LOCAL_RANK`` with CUDA), which it leaves at the end."""
    import torch

    world = _world_size()
    cuda = torch.cuda.is_available()
    if world <= 1:
        yield _Cluster(0, 1, torch.device("cuda" if cuda else "cpu"))
        return
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK") or 0)
    if cuda:
        torch.cuda.set_device(local_rank)
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    backend = "nccl" if cuda else "gloo"
    try:
        dist.init_process_group(backend)
    except (ValueError, RuntimeError) as error:
        raise DataError(
            "SL509",
            f"cannot join the torchrun process group ({backend}): {error}",
            "start every process with torchrun, which sets RANK, WORLD_SIZE, MASTER_ADDR "
            "and MASTER_PORT",
        ) from None
    try:
        yield _Cluster(dist.get_rank(), dist.get_world_size(), device, backend)
    finally:
        dist.destroy_process_group()


def _distributed(module, cluster):
    """`module` wrapped in DistributedDataParallel when there is more than one process."""
    if cluster.world == 1:
        return module
    import warnings

    from torch.nn.parallel import DistributedDataParallel

    # a gradient of a convolution over one channel has its own strides; harmless, and said
    # once a step otherwise
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    if cluster.device.type == "cuda":
        return DistributedDataParallel(module, device_ids=[cluster.device.index])
    return DistributedDataParallel(module)
