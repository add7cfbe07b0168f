"""One rank of the sharded/replicated gradient test, under `torchrun --nproc-per-node 2` on CPU
(gloo): an MLP trained with DDP or FSDP2 (fully_shard: DTensor parameters and gradients), watched
by tensortap, clipped each step; next to it, on every rank, an unsharded reference model trained
on the whole global batch. Writes RUN/MODE/rank<R>/ttap.db and RUN/MODE/rank<R>.json: the
reference's per-parameter gradient l2 and the norm clip_grad_norm_ returned, per step.

Under mpirun instead (OMPI_COMM_WORLD_RANK set) the ranks form a tensortap group
(ttap.set_group(); the binding declares the roles: FSDP2's DTensor shards sharded, DDP's gradients
replicated) and rank 0 writes one store, RUN/MODE/group/ttap.db.

usage: distributed_program.py MODES RUN   (MODES: ddp, fsdp2 or both, "ddp,fsdp2", run one after
the other in the same ranks; each mode's files under RUN/MODE)
"""

import json
import os
import sys

import torch
import torch.distributed as dist

import tensortap as ttap
from training_support import batches, make_mlp

STEPS = 6
GLOBAL_BATCH = 32


def run_mode(mode, out, under_mpi):
    """One training run with DDP or FSDP2, its outputs under OUT/MODE."""
    out = os.path.join(out, mode)
    os.makedirs(out, exist_ok=True)
    rank, world = dist.get_rank(), dist.get_world_size()
    model, reference = make_mlp(seed=0), make_mlp(seed=0)
    if mode == "ddp":
        trained = torch.nn.parallel.DistributedDataParallel(model)
    else:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh("cpu", (world,))
        for layer in model:
            if isinstance(layer, torch.nn.Linear):
                fully_shard(layer, mesh=mesh)
        trained = fully_shard(model, mesh=mesh)
    opt = torch.optim.SGD(trained.parameters(), lr=0.1)
    reference_opt = torch.optim.SGD(reference.parameters(), lr=0.1)

    if under_mpi:
        # One group, one store: FSDP2's shards merged into the whole gradient, DDP's replicas as
        # one replica.
        ttap.init(os.path.join(out, "group"), budget=0)
        ttap.set_group()
    else:
        # Each rank its own store (no MPI under torchrun, so no tensortap group: see the README).
        ttap.init(os.path.join(out, f"rank{rank}"), budget=0)
    # In the group the parameters too: FSDP2's are shards (merged into the whole), DDP's replicas.
    ttap.watch(trained, optimizer=opt, params=under_mpi)
    result = {"reference": {}, "clip": {}}
    share = GLOBAL_BATCH // world
    for step, (x, y) in enumerate(batches(STEPS, batch_size=GLOBAL_BATCH)):
        mine = slice(rank * share, (rank + 1) * share)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(trained(x[mine]), y[mine]).backward()
        total = torch.nn.utils.clip_grad_norm_(trained.parameters(), max_norm=0.5)
        if hasattr(total, "full_tensor"):  # a DTensor norm (FSDP2): the whole gradient's
            total = total.full_tensor()
        result["clip"][step] = float(total)
        opt.step()

        reference_opt.zero_grad()
        torch.nn.functional.cross_entropy(reference(x), y).backward()
        for name, p in reference.named_parameters():
            result["reference"][f"{step} {name}.grad"] = \
                torch.linalg.vector_norm(p.grad.double()).item()
        torch.nn.utils.clip_grad_norm_(reference.parameters(), max_norm=0.5)
        reference_opt.step()
    ttap.close()
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(result, f)


def main():
    modes, out = sys.argv[1].split(","), sys.argv[2]
    under_mpi = "OMPI_COMM_WORLD_RANK" in os.environ
    if under_mpi:
        rank = int(os.environ["OMPI_COMM_WORLD_RANK"])
        size = int(os.environ["OMPI_COMM_WORLD_SIZE"])
        dist.init_process_group("gloo", init_method=f"file://{out}/rendezvous", rank=rank,
                                world_size=size)
    else:
        dist.init_process_group("gloo")
    # Both modes in one launch: the ranks' start-up (torch's import, the rendezvous) is paid once.
    for mode in modes:
        run_mode(mode, out, under_mpi)
    dist.destroy_process_group()




if __name__ == "__main__":
    main()
