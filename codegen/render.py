"""Jinja2 rendering of the model headers and the board files from firmware_template/."""

from __future__ import annotations

import jinja2

from bs4nn.codegen.boards import TEMPLATE_ROOT
from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.packing import pack_signs, row_words

WORDS_PER_LINE = 8


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_ROOT)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def model_context(model: IntModel, command: str) -> dict:
    layers = []
    for signs in model.signs:
        words = pack_signs(signs)
        lines = [
            ", ".join(f"0x{w:08x}u" for w in words[i : i + WORDS_PER_LINE]) + ","
            for i in range(0, words.size, WORDS_PER_LINE)
        ]
        layers.append(
            {
                "n_in": signs.shape[1],
                "n_out": signs.shape[0],
                "lines": lines,
                "words": int(words.size),
            }
        )
    return {
        "model": model,
        "model_hash": model.model_hash,
        "source": model.source or "(arrays)",
        "command": command,
        "layers": layers,
        "layer_words": [layer["words"] for layer in layers],
        "lane_words": sum(row_words(n) for n in model.layer_sizes[1:]),
        "weight_bytes": 4 * sum(layer["words"] for layer in layers),
        "hash_bytes": [f"0x{b:02x}" for b in bytes.fromhex(model.model_hash)],
    }


def render_model_sources(model: IntModel, command: str) -> dict[str, str]:
    """{'bs4nn_model.h': text, 'bs4nn_model.c': text}"""
    env = environment()
    ctx = model_context(model, command)
    return {
        name: env.get_template(f"model/{name}.j2").render(ctx)
        for name in ("bs4nn_model.h", "bs4nn_model.c")
    }


def render_file(relative_template: str, context: dict) -> str:
    return environment().get_template(relative_template).render(context)
