"""Flash and RAM a model needs on a board, computed before any build, and the refusal when it
does not fit. The build (`bs4nn build`) prints the real section sizes afterwards."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.packing import packed_words, row_words
from bs4nn.codegen.render import TEMPLATE_ROOT
from bs4nn.trainer.errors import Bs4nnError

TARGETS_FILE = TEMPLATE_ROOT / "boards" / "targets.json"
# Budgets for what is not the model: firmware code and the serial I/O buffers (frame buffers,
# RX ring, one image). Measured builds stay below these (bench/firmware_size.py).
CODE_BUDGET_BYTES = 8 * 1024
IO_BUFFER_BYTES = 4 * 1024
# The default kernel (of make-built firmware too, unless `make KERNEL=...`)
DEFAULT_KERNEL = "sliced"


def load_targets() -> dict[str, dict]:
    with open(TARGETS_FILE) as f:
        return json.load(f)


def target_info(target: str) -> dict:
    targets = load_targets()
    if target not in targets:
        raise Bs4nnError(f"unknown target {target!r}; choose one of: {', '.join(sorted(targets))}")
    return targets[target]


def inference_state_bytes(layer_sizes: tuple[int, ...]) -> int:
    """RAM of the default (sliced) kernel's inference state, mirroring bs4nn_state_t in
    firmware_template/core/bs4nn_kernel.h: per lane word (32 neurons of a non-input layer) its
    bit planes (enough for the largest fan-in, at least 4), the alive mask and a uint32
    trigger; a uint16 synced count per lane word of the first layer; then the uint16 input
    order and tmax + 2 uint16 bucket starts."""
    lane_words = sum(row_words(n) for n in layer_sizes[1:])
    planes = max(4, max(layer_sizes[:-1]).bit_length())
    size = 4 * lane_words * (planes + 2) + 2 * row_words(layer_sizes[1])
    size += 2 * layer_sizes[0] + 2 * 258
    return -(-size // 4) * 4  # the struct is word-aligned


@dataclass(frozen=True)
class Footprint:
    target: str
    weight_bytes_per_layer: list[int]  # packed, with the last word's padding
    unpadded_weight_bytes: int  # sum of ceil(n_in * n_out / 8)
    weight_bytes: int
    flash_estimate: int  # weights + code budget
    ram_state_bytes: int
    ram_estimate: int  # state + I/O buffers
    flash_bytes: int  # the target's
    ram_bytes: int

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        out = [f"footprint for {self.target}:"]
        for layer, nbytes in enumerate(self.weight_bytes_per_layer):
            out.append(f"  weights layer {layer}: {nbytes:,} bytes (1 bit per synapse)")
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
            f"with I/O buffers, of {self.ram_bytes:,} bytes"
        )
        return out


def footprint(model: IntModel, target: str) -> Footprint:
    info = target_info(target)
    sizes = model.layer_sizes
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    per_layer = [4 * packed_words(n_in, n_out) for n_in, n_out in pairs]
    unpadded = sum(-(-n_in * n_out // 8) for n_in, n_out in pairs)
    state = inference_state_bytes(sizes)
    weights = sum(per_layer)
    return Footprint(
        target=target,
        weight_bytes_per_layer=per_layer,
        unpadded_weight_bytes=unpadded,
        weight_bytes=weights,
        flash_estimate=weights + CODE_BUDGET_BYTES,
        ram_state_bytes=state,
        ram_estimate=state + IO_BUFFER_BYTES,
        flash_bytes=int(info["flash_bytes"]),
        ram_bytes=int(info["ram_bytes"]),
    )


def check_fits(fp: Footprint) -> None:
    """Refuse, before any build, a model that does not fit the target, naming the sizes."""
    problems = []
    if fp.flash_estimate > fp.flash_bytes:
        problems.append(
            f"flash needs ~{fp.flash_estimate:,} bytes ({fp.weight_bytes:,} of packed "
            f"weights + {CODE_BUDGET_BYTES:,} code) but {fp.target} has "
            f"{fp.flash_bytes:,}"
        )
    if fp.ram_estimate > fp.ram_bytes:
        problems.append(
            f"RAM needs ~{fp.ram_estimate:,} bytes ({fp.ram_state_bytes:,} inference "
            f"state + {IO_BUFFER_BYTES:,} I/O) but {fp.target} has {fp.ram_bytes:,}"
        )
    if problems:
        raise Bs4nnError(
            "model does not fit "
            + fp.target
            + ": "
            + "; ".join(problems)
            + ". Use a smaller network or a larger board (--target)."
        )
