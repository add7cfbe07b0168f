"""One rank of the binding's multi-rank test (test_group.py runs three under mpirun): data-parallel
training of a small MLP with DistributedDataParallel over a gloo process group, made a tensortap
group with set_group, with one flipped bit in rank 2's copy of a parameter and a NaN in rank 1's
(all-reduced, so replicated) gradient at known steps.

usage: group_program.py torch|mpi4py RUN_DIR REFERENCE_JSON
  torch:  set_group() on torch's default group (mapped onto MPI_COMM_WORLD by tensortap);
  mpi4py: set_group(MPI.COMM_WORLD).
Rank 0 writes REFERENCE_JSON: the l2 of its own copy of a gradient (one replica), per step.
"""

import json
import os
import sys

import torch
import torch.distributed as dist

import tensortap as ttap
from training_support import batches, make_mlp

STEPS = 8
FLIP_RANK, FLIP_STEP, FLIP_PARAMETER = 2, 4, "2.weight"
NAN_RANK, NAN_STEP, NAN_GRADIENT = 1, 7, "0.weight"


def flip_lowest_bit(tensor):
    bits = tensor.view(-1).view(torch.int32)
    bits[0] ^= 1


def main():
    mode, run_dir, reference_path = sys.argv[1:4]
    rank = int(os.environ["OMPI_COMM_WORLD_RANK"])
    size = int(os.environ["OMPI_COMM_WORLD_SIZE"])
    dist.init_process_group("gloo", init_method=f"file://{run_dir}.rendezvous", rank=rank,
                            world_size=size)
    ttap.init(run_dir, budget=0, flush_ms=100)
    if mode == "torch":
        ttap.set_group()
    else:
        from mpi4py import MPI

        ttap.set_group(MPI.COMM_WORLD)

    model = make_mlp(seed=0)  # the same initial parameters on every rank
    parameters = dict(model.named_parameters())
    # DDP averages the gradients in backward: every rank holds the same gradient, which the
    # binding declares replicated (merged as one replica, fingerprinted).
    trained = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(trained.parameters(), lr=0.05)
    ttap.watch(trained, params=True, optimizer=opt)
    reference = {}
    for step, (x, y) in enumerate(batches(STEPS, seed=10 + rank)):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(trained(x), y)
        loss.backward()
        with torch.no_grad():
            if rank == FLIP_RANK and step == FLIP_STEP:
                flip_lowest_bit(parameters[FLIP_PARAMETER])
            if rank == NAN_RANK and step == NAN_STEP:
                parameters[NAN_GRADIENT].grad[3, 5] = float("nan")
        reference[step] = torch.linalg.vector_norm(parameters["4.weight"].grad.double()).item()
        ttap.log("loss", loss.item())
        opt.step()
    ttap.close()
    if rank == 0:
        with open(reference_path, "w") as f:
            json.dump(reference, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
