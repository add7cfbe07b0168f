# Type stub of the compiled _tensortap extension (collectors/python/module.cc): what the tensortap
# package builds on. Users call the package's functions, not these.
from typing import Callable, Optional, Tuple

__version__: str

F32: int
F16: int
BF16: int
F8_E4M3: int
F8_E5M2: int
F64: int
GRAD: int
PARAM: int
ACTIVATION: int
OTHER: int
COLLECTIVE: int
ROLE_AUTO: int
ROLE_CONTRIBUTION: int
ROLE_REPLICATED: int
ROLE_SHARDED: int

class TensorTapError(RuntimeError): ...

def effective_config(run_dir: Optional[str], options: str) -> dict: ...

class Session:
    def __init__(
        self,
        run_dir: Optional[str],
        options: str,
        describe: Callable[[str, object], Optional[Tuple[int, int, int, bool]]],
        warn: Callable[[str, str], None],
    ) -> None: ...
    def add_watched(
        self,
        name: str,
        owner: object,
        from_grad: bool,
        kind: int,
        local_shard: bool = ...,
        role: int = ...,
    ) -> int: ...
    def remove_watched(self, index: int) -> None: ...
    def bound_names(self) -> list[str]: ...
    def step(self, step: int, current_stream: Callable[[], int]) -> None: ...
    def observe(
        self, name: str, ptr: int, dtype: int, numel: int, kind: int, step: int, stream: int
    ) -> None: ...
    def log_scalar(self, name: str, value: float, step: int) -> None: ...
    def set_group(self, kind: str, comm: int) -> None: ...
    def run_dir(self) -> str: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
