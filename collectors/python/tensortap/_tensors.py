"""How a torch tensor is handed to the runtime: a raw pointer, a dtype code and an element count,
read in place (never a copy, never a host-device sync). A tensor that cannot be read that way is
reported with the reason, and the caller skips it with one warning.
"""

import torch

from . import _tensortap

# The dtypes the summary kernels read. float8 exists from PyTorch 2.1 on.
DTYPE_CODES = {
    torch.float32: _tensortap.F32,
    torch.float16: _tensortap.F16,
    torch.bfloat16: _tensortap.BF16,
    torch.float64: _tensortap.F64,
}
for _attr, _code in (("float8_e4m3fn", _tensortap.F8_E4M3), ("float8_e5m2", _tensortap.F8_E5M2)):
    if hasattr(torch, _attr):
        DTYPE_CODES[getattr(torch, _attr)] = _code

SUPPORTED_DTYPES = ", ".join(str(d).replace("torch.", "") for d in DTYPE_CODES)


def is_dense(tensor):
    """Whether the elements fill one gap-free, overlap-free block of memory starting at data_ptr().

    Contiguous tensors do, and so do permuted ones (a transpose, channels_last): the summaries do
    not depend on element order, so those are read as the block they are. Strided slices with gaps
    and expanded (stride 0) views do not.
    """
    if tensor.is_contiguous():
        return True
    expected = 1
    for stride, size in sorted((st, s) for s, st in zip(tensor.shape, tensor.stride()) if s != 1):
        if stride != expected:
            return False
        expected *= size
    return True


def is_dtensor(tensor):
    """Whether `tensor` is a DTensor (FSDP2, tensor parallel): its summaries are its local
    shard's, and a group's merge over the ranks makes them the whole tensor's."""
    return isinstance(tensor, torch.Tensor) and hasattr(tensor, "_local_tensor") and \
        hasattr(tensor, "device_mesh")


def group_role(tensor):
    """What a DTensor's local shard is to a tensortap group (ttap_set_role): ROLE_SHARDED when the
    tensor is split over its mesh (FSDP2, a tensor-parallel shard: the group merges the shards into
    the whole), ROLE_REPLICATED when every rank holds all of it, else ROLE_AUTO (not a DTensor, or
    partial sums: the kind and the sharded=/replicated= globs decide)."""
    placements = getattr(tensor, "placements", None) if is_dtensor(tensor) else None
    if not placements:
        return _tensortap.ROLE_AUTO
    if any(p.is_shard() for p in placements):
        return _tensortap.ROLE_SHARDED
    if all(p.is_replicate() for p in placements):
        return _tensortap.ROLE_REPLICATED
    return _tensortap.ROLE_AUTO


def flat_view(tensor):
    """(data_ptr, dtype code, numel, on_cuda) for the runtime, or a string saying why not."""
    if not isinstance(tensor, torch.Tensor):
        return f"is a {type(tensor).__name__}, not a torch.Tensor"
    if is_dtensor(tensor):
        tensor = tensor._local_tensor
    if tensor.layout != torch.strided:
        return f"has layout {tensor.layout} (only dense strided tensors are summarized)"
    code = DTYPE_CODES.get(tensor.dtype)
    if code is None:
        return f"has dtype {tensor.dtype} (summarized: {SUPPORTED_DTYPES})"
    device = tensor.device.type
    if device not in ("cpu", "cuda"):
        return f"is on device '{device}' (summarized: cpu and cuda tensors)"
    if tensor.is_neg():
        return "is a lazily negated view (torch._neg_view); summarize the tensor it views"
    numel = tensor.numel()
    if numel and not is_dense(tensor):
        return (
            f"is a non-contiguous view with gaps or repeats (shape {tuple(tensor.shape)}, stride "
            f"{tensor.stride()}): tensortap reads tensors in place and never copies them"
        )
    return (tensor.data_ptr(), code, numel, device == "cuda")
