"""Flash and RAM a model needs on a board, computed before any build, and the refusal when it
does not fit. The build (`bs4nn build`) prints the real section sizes afterwards."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bs4nn.codegen.boards import board_info
from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.packing import packed_words, row_words
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.semantics import TMAX, weight_layer_name

# Budgets for what is not the model: firmware code and the serial I/O buffers (frame buffers,
# RX ring, one image). Measured builds stay below these on every emulated board
# (python bench/firmware_size.py MODEL --board all).
CODE_BUDGET_BYTES = 8 * 1024
IO_BUFFER_BYTES = 4 * 1024
# The default kernel (of make-built firmware too, unless `make KERNEL=...`)
DEFAULT_KERNEL = "sliced"
# ... for models whose first weight layer it cannot hold (it keeps row offsets in uint16):
# packed, or ref where packed's 16-bit counters are too small (16,384 inputs or more)
SLICED_MAX_LAYER0_WORDS = 65536
PACKED_MAX_INPUTS = 16383


def kernel_for(layer_sizes: tuple[int, ...]) -> str:
    """The kernel an export builds by default: DEFAULT_KERNEL, unless the first weight layer
    has more than SLICED_MAX_LAYER0_WORDS words (e.g. 784 inputs and more than 2,656
    neurons)."""
    if layer_sizes[0] * row_words(layer_sizes[1]) <= SLICED_MAX_LAYER0_WORDS:
        return DEFAULT_KERNEL
    return "packed" if layer_sizes[0] <= PACKED_MAX_INPUTS else "ref"


def inference_state_bytes(layer_sizes: tuple[int, ...], kernel: str = DEFAULT_KERNEL) -> int:
    """RAM of a kernel's inference state, mirroring bs4nn_state_t in
    firmware_template/core/bs4nn_kernel.h. sliced: per lane word (32 neurons of a non-input
    layer) its bit planes (enough for the largest fan-in, at least 4), the alive mask and a
    uint32 trigger; a uint32 synced count per lane word of the first layer. ref and packed:
    a counter per neuron and one slot per layer (int16, int32 from 16,384 inputs). Then, for
    all, the uint16 input order and tmax + 2 uint16 bucket starts."""
    if kernel == "sliced":
        lane_words = sum(row_words(n) for n in layer_sizes[1:])
        planes = max(4, max(layer_sizes[:-1]).bit_length())
        size = 4 * lane_words * (planes + 2) + 4 * row_words(layer_sizes[1])
    else:
        count_bytes = 2 if layer_sizes[0] <= PACKED_MAX_INPUTS else 4
        size = -(-count_bytes * (sum(layer_sizes[1:]) + len(layer_sizes) - 1) // 4) * 4
    size += 2 * layer_sizes[0] + 2 * (TMAX + 2)
    return -(-size // 4) * 4  # the struct is word-aligned


def stack_bytes(n_output: int) -> int:
    """The stack the firmware reserves (boards/cortex-m/firmware.ld.j2). The INFER path's
    frames grow with the outputs (per output: counts, fired flags, the result's output step;
    -fstack-usage on the Cortex-M4: ~400 bytes at 10 outputs, 2,140 at 255): 2 KB up to 128
    outputs, more above, with room for the UART interrupt's frame."""
    return max(2048, 1024 + 8 * n_output)


@dataclass(frozen=True)
class Footprint:
    board: str
    weight_bytes_per_layer: list[int]  # packed, with the last word's padding
    unpadded_weight_bytes: int  # sum of ceil(n_in * n_out / 8)
    weight_bytes: int
    flash_estimate: int  # weights + code budget
    ram_state_bytes: int
    stack_bytes: int
    ram_estimate: int  # state + I/O buffers + stack
    flash_bytes: int  # the board's
    ram_bytes: int
    kernel: str  # what the export builds by default (kernel_for)

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        out = [f"footprint for {self.board}:"]
        count = len(self.weight_bytes_per_layer)
        for layer, nbytes in enumerate(self.weight_bytes_per_layer):
            name = weight_layer_name(layer, count)
            out.append(f"  {name}: {nbytes:,} bytes (1 bit per synapse)")
        out.append(
            f"  weights total: {self.weight_bytes:,} bytes "
            f"({self.unpadded_weight_bytes:,} + word padding)"
        )
        out.append(
            f"  flash: ~{self.flash_estimate:,} of {self.flash_bytes:,} bytes "
            f"(weights + {CODE_BUDGET_BYTES:,} code budget)"
        )
        out.append(
            f"  RAM: inference state {self.ram_state_bytes:,} bytes, ~{self.ram_estimate:,} "
            f"with I/O buffers and the {self.stack_bytes:,}-byte stack, of {self.ram_bytes:,} bytes"
        )
        if self.kernel != DEFAULT_KERNEL:
            out.append(
                f"  kernel: {self.kernel} (the first weight layer has more than the "
                f"{SLICED_MAX_LAYER0_WORDS:,} words the {DEFAULT_KERNEL} kernel can hold)"
            )
        return out


def footprint(model: IntModel, board: str) -> Footprint:
    info = board_info(board)
    sizes = model.layer_sizes
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    per_layer = [4 * packed_words(n_in, n_out) for n_in, n_out in pairs]
    unpadded = sum(-(-n_in * n_out // 8) for n_in, n_out in pairs)
    kernel = kernel_for(sizes)
    state = inference_state_bytes(sizes, kernel)
    stack = stack_bytes(sizes[-1])
    weights = sum(per_layer)
    return Footprint(
        board=board,
        weight_bytes_per_layer=per_layer,
        unpadded_weight_bytes=unpadded,
        weight_bytes=weights,
        flash_estimate=weights + CODE_BUDGET_BYTES,
        ram_state_bytes=state,
        stack_bytes=stack,
        ram_estimate=state + IO_BUFFER_BYTES + stack,
        flash_bytes=int(info["flash_bytes"]),
        ram_bytes=int(info["ram_bytes"]),
        kernel=kernel,
    )


def check_fits(fp: Footprint) -> None:
    """Refuse, before any build, a model that does not fit the board, naming the sizes."""
    problems = []
    if fp.flash_estimate > fp.flash_bytes:
        problems.append(
            f"flash needs ~{fp.flash_estimate:,} bytes ({fp.weight_bytes:,} of packed "
            f"weights + {CODE_BUDGET_BYTES:,} code) but {fp.board} has "
            f"{fp.flash_bytes:,}"
        )
    if fp.ram_estimate > fp.ram_bytes:
        problems.append(
            f"RAM needs ~{fp.ram_estimate:,} bytes ({fp.ram_state_bytes:,} inference "
            f"state + {IO_BUFFER_BYTES:,} I/O + {fp.stack_bytes:,} stack) but {fp.board} has "
            f"{fp.ram_bytes:,}"
        )
    if problems:
        raise Bs4nnError(
            "model does not fit "
            + fp.board
            + ": "
            + "; ".join(problems)
            + ". Use a smaller network or a larger board (--board)."
        )
