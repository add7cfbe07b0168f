"""The communicator behind Session.set_group: what the C API's ttap_set_group takes, found for an
mpi4py communicator or a torch.distributed process group.

torch process groups do not expose the communicator under them (gloo has none that MPI or NCCL
could use, and ProcessGroupNCCL in torch 1.13 keeps its ncclComm_t private), so tensortap's
cross-rank reduction runs over MPI: a group that spans every rank of the MPI job maps to a split
of MPI_COMM_WORLD ordered by the group's ranks, so the group's rank numbers are torch's. A group
of one needs no communicator. The reduction uses the summaries only (a few kilobytes per sample,
on tensortap's collector thread), never the training tensors, so it does not touch the group's
own backend.
"""

import os
import sys

# Set by the MPI launchers this works under (Open MPI, MPICH/Hydra, PMIx, Slurm's PMI).
_MPI_LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


class GroupCommunicator:
    """kind and comm for ttap_set_group; release() after the call (ttap_set_group duplicates it)."""

    def __init__(self, kind, comm=0, owned=None):
        self.kind = kind
        self.comm = comm  # the address of an MPI_Comm, or 0
        self._owned = owned  # an mpi4py communicator made here, freed by release()

    def release(self):
        if self._owned is not None:
            self._owned.Free()
            self._owned = None


def group_communicator(group):
    """The communicator for `group`: an mpi4py communicator, a torch.distributed ProcessGroup, or
    None for torch's default group. Raises TypeError/ValueError/RuntimeError saying what is
    missing. Collective over the group's ranks when it splits MPI_COMM_WORLD."""
    if _is_mpi4py_communicator(group):
        from mpi4py import MPI

        if group == MPI.COMM_NULL:
            raise ValueError("set_group: MPI.COMM_NULL is not a group (this rank is not in it)")
        return GroupCommunicator("mpi", MPI._addressof(group))
    return _torch_group_communicator(group)


def _is_mpi4py_communicator(obj):
    mpi = sys.modules.get("mpi4py.MPI")
    return mpi is not None and isinstance(obj, mpi.Comm)


def _torch_group_communicator(group):
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(
            "set_group: torch.distributed is not initialized: call "
            "torch.distributed.init_process_group() first, or pass an mpi4py communicator"
        )
    if group is None:
        group = dist.group.WORLD
    elif not isinstance(group, dist.ProcessGroup):
        raise TypeError(
            "set_group takes a torch.distributed ProcessGroup, an mpi4py communicator or None "
            f"(torch's default group), got {type(group).__name__}"
        )
    size = dist.get_world_size(group)
    rank = dist.get_rank(group)
    if rank < 0:
        raise ValueError("set_group: this process is not a member of the group")
    if size == 1:
        return GroupCommunicator("single")
    mpi = _mpi_for_torch_group(size)
    world = mpi.COMM_WORLD
    if world.Get_size() != size:
        # Every rank sees the same two sizes, so every rank raises: none is left waiting.
        raise ValueError(
            f"set_group: the process group has {size} ranks but the MPI job has "
            f"{world.Get_size()}: tensortap maps only a group of every rank of the job onto MPI. "
            "For a subgroup (one data-parallel group of several), pass the matching mpi4py "
            "communicator (e.g. MPI.COMM_WORLD.Split(color, key))"
        )
    # Collective over MPI_COMM_WORLD (every rank calls set_group with this group); key orders
    # tensortap's ranks as the torch group's.
    comm = world.Split(0, rank)
    return GroupCommunicator("mpi", mpi._addressof(comm), owned=comm)


def _mpi_for_torch_group(size):
    if "mpi4py.MPI" not in sys.modules and not any(
            v in os.environ for v in _MPI_LAUNCHER_VARIABLES):
        raise RuntimeError(
            f"set_group: this {size}-rank process group cannot be reduced over: torch process "
            "groups do not expose their communicator, and tensortap reduces across ranks over MPI, "
            "which this process was not started under. Launch the ranks with mpirun (mpi4py "
            "installed), or pass an mpi4py communicator; without set_group every rank stores its "
            "own summaries"
        )
    try:
        from mpi4py import MPI  # initializes MPI (thread level MULTIPLE) unless already done
    except ImportError as e:
        raise RuntimeError(
            f"set_group: reducing across ranks needs mpi4py (pip install mpi4py, or Debian's "
            f"python3-mpi4py): {e}"
        ) from e
    return MPI
