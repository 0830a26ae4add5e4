import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from badinput import tiny_model

from bs4nn.cli import main
from bs4nn.codegen.export import export_firmware, read_manifest
from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.packing import unpack_signs
from bs4nn.trainer.errors import Bs4nnError
from bs4nn.trainer.model import model_from_arrays


def random_model(sizes, seed=0):
    rng = np.random.default_rng(seed)
    weights = [
        rng.normal(size=(n_out, n_in)) for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    return model_from_arrays(weights, [1.5] * len(weights), [7.0] * len(weights), dataset="mnist")


def c_array(text: str, name: str) -> list[int]:
    # (an attribute such as BS4NN_IN_FLASH may stand between the brackets and the "=")
    body = re.search(name + r"\[[^\]]*\][^=;]*= \{(.*?)\};", text, re.S).group(1)
    return [int(v.rstrip("u"), 0) for v in re.findall(r"0x[0-9a-f]+u?|-?\d+", body)]


def test_export_writes_tree_and_headers_that_decode_to_the_model(tmp_path):
    model = random_model([784, 37, 10])
    path = tmp_path / "m.bs4nn"
    model.save(path)
    result = export_firmware(path, tmp_path / "fw", command="bs4nn export m.bs4nn --out fw")
    out = result.out_dir
    for rel in (
        "Makefile",
        "core/bs4nn_infer.c",
        "protocol/bs4nn_frame.c",
        "generated/bs4nn_model.h",
        "generated/bs4nn_model.c",
    ):
        assert (out / rel).is_file(), rel
    header = (out / "generated/bs4nn_model.h").read_text()
    source = (out / "generated/bs4nn_model.c").read_text()
    for text in (header, source):
        assert text.startswith("/* GENERATED FILE - do not edit.")
        assert "bs4nn export m.bs4nn --out fw" in text
        assert model.content_hash in text
    assert "#define BS4NN_N_INPUT 784\n" in header
    assert "#define BS4NN_TOTAL_NEURONS 47 " in header
    assert "#define BS4NN_LAYER0_WORDS 1568\n" in header  # 784 rows of ceil(37 / 32) words
    assert "#define BS4NN_LANE_WORDS 3 " in header  # 2 + 1 words of 32 neurons
    assert "#define BS4NN_MAX_FAN_IN 784 " in header
    intmodel = IntModel.load(path)
    assert c_array(source, "bs4nn_default_thresholds") == list(intmodel.thresholds) == [5, 5]
    assert bytes(c_array(source, "bs4nn_model_hash")) == bytes.fromhex(model.content_hash)
    # the comment counts weight layers from 1, as messages do; the C array from 0
    comment = "/* weight layer 2 of 2: 37 inputs x 10 neurons */\n"
    assert comment + "static const uint32_t bs4nn_weights_l1[" in source
    for layer, (n_in, n_out) in enumerate([(784, 37), (37, 10)]):
        words = np.array(c_array(source, f"bs4nn_weights_l{layer}"), dtype=np.uint32)
        np.testing.assert_array_equal(unpack_signs(words, n_in, n_out), intmodel.signs[layer])
    manifest = read_manifest(out)
    assert manifest["model_hash"] == model.content_hash
    assert manifest["board"] == "qemu-mps2-an386"
    assert manifest["footprint"]["weight_bytes_per_layer"] == [6272, 148]


def test_reexport_replaces_generated_files(tmp_path):
    export_firmware(IntModel.from_model(random_model([784, 8, 10], seed=1)), tmp_path / "fw")
    (tmp_path / "fw/build").mkdir()  # what `bs4nn build` adds: kept
    second = random_model([784, 8, 10], seed=2)
    export_firmware(IntModel.from_model(second), tmp_path / "fw")
    assert (
        json.loads((tmp_path / "fw/bs4nn_export.json").read_text())["model_hash"]
        == second.content_hash
    )
    assert second.content_hash in (tmp_path / "fw/generated/bs4nn_model.h").read_text()
    assert (tmp_path / "fw/build").is_dir()


def tree(root):
    return {
        p.relative_to(root).as_posix(): p.read_bytes() if p.is_file() else None
        for p in sorted(root.rglob("*"))
    }


def test_export_failing_midway_leaves_nothing_half_made(tmp_path, monkeypatch):
    """The tree is built beside --out: a failure leaves no new folder (nor its parents), and
    an earlier export exactly as it was."""
    import bs4nn.codegen.export as export

    def broken(*args):
        raise Bs4nnError("rendering failed")

    first = IntModel.from_model(random_model([784, 8, 10], seed=1))
    export_firmware(first, tmp_path / "fw")
    (tmp_path / "fw" / "build").mkdir()  # what `bs4nn build` adds
    before = tree(tmp_path)
    monkeypatch.setattr(export, "render_model_sources", broken)
    second = IntModel.from_model(random_model([784, 8, 10], seed=2))
    for out in (tmp_path / "fw", tmp_path / "new" / "deeper" / "fw"):
        with pytest.raises(Bs4nnError, match="^rendering failed$"):
            export_firmware(second, out)
        assert tree(tmp_path) == before


def renames_that(monkeypatch, act):
    """os.rename (Path.rename too) calls `act(n)` before its n-th call (from 1), and again,
    with -n, after it."""
    import os

    real, calls = os.rename, []

    def rename(src, dst):
        calls.append(src)
        act(len(calls))
        real(src, dst)
        act(-len(calls))

    monkeypatch.setattr(os, "rename", rename)
    return calls


def replaced(folder):
    """What the Ctrl-C left of what the export in `folder` replaced: its `.fw.*.old` sibling."""
    import re

    (old,) = [p for p in folder.iterdir() if re.fullmatch(r"\.fw\.[^.]+\.old", p.name)]
    return old


def test_ctrl_c_while_the_export_is_put_in_place_waits_for_the_whole_tree(tmp_path, monkeypatch):
    """SIGINT right after the first rename that puts the new tree in place: the renames end
    first, then KeyboardInterrupt comes out, with the new export complete (the build kept);
    what it replaced, left beside it, goes with the next export there."""
    import os
    import signal

    first = IntModel.from_model(random_model([784, 8, 10], seed=1))
    second = IntModel.from_model(random_model([784, 8, 10], seed=2))
    for name in ("whole", "cut"):
        export_firmware(first, tmp_path / name / "fw", command="bs4nn export")
        (tmp_path / name / "fw" / "build").mkdir()
        (tmp_path / name / "fw" / "build" / "firmware.elf").write_bytes(b"elf")
    export_firmware(second, tmp_path / "whole" / "fw", command="bs4nn export")

    def ctrl_c_after_the_first(n):
        if n == -1:
            os.kill(os.getpid(), signal.SIGINT)

    calls = renames_that(monkeypatch, ctrl_c_after_the_first)
    with pytest.raises(KeyboardInterrupt):
        export_firmware(second, tmp_path / "cut" / "fw", command="bs4nn export")
    old = replaced(tmp_path / "cut")
    assert sorted(p.name for p in (tmp_path / "cut").iterdir()) == [old.name, "fw"]  # no .part
    assert tree(tmp_path / "cut" / "fw") == tree(tmp_path / "whole" / "fw")
    assert "firmware.elf" not in {p.name for p in old.rglob("*")}  # the build stays in fw
    assert len(calls) > 2  # the signal came before the last rename
    monkeypatch.undo()
    export_firmware(second, tmp_path / "cut" / "fw", command="bs4nn export")
    assert tree(tmp_path / "cut") == tree(tmp_path / "whole")


def test_ctrl_c_while_another_boards_export_is_replaced_leaves_none_of_it(tmp_path, monkeypatch):
    """The other board's Makefile and build go in the same renames as the new tree comes in: a
    SIGINT among them leaves the new export alone, as an export not interrupted does (the
    other board's build, left beside it, goes with the next export there)."""
    import os
    import signal

    model = ones_model([784, 8, 10])
    for name in ("whole", "cut"):
        export_firmware(model, tmp_path / name / "fw", board="qemu-microbit", command="c")
        (tmp_path / name / "fw" / "build").mkdir()
        (tmp_path / name / "fw" / "build" / "firmware.elf").write_bytes(b"elf")
    export_firmware(model, tmp_path / "whole" / "fw", board="nucleo_f446re", command="c")

    def ctrl_c_after_the_first(n):
        if n == -1:
            os.kill(os.getpid(), signal.SIGINT)

    renames_that(monkeypatch, ctrl_c_after_the_first)
    with pytest.raises(KeyboardInterrupt):
        export_firmware(model, tmp_path / "cut" / "fw", board="nucleo_f446re", command="c")
    old = replaced(tmp_path / "cut")
    assert sorted(p.name for p in (tmp_path / "cut").iterdir()) == [old.name, "fw"]
    assert tree(tmp_path / "cut" / "fw") == tree(tmp_path / "whole" / "fw")
    assert "build" not in tree(tmp_path / "whole")
    assert (old / "build" / "firmware.elf").read_bytes() == b"elf"
    monkeypatch.undo()
    export_firmware(model, tmp_path / "cut" / "fw", board="nucleo_f446re", command="c")
    assert tree(tmp_path / "cut") == tree(tmp_path / "whole")


def test_a_rename_failing_midway_puts_the_earlier_export_back(tmp_path, monkeypatch):
    """The second rename fails (an earlier entry already moved aside and the new one in): the
    earlier export is back as it was, nothing beside it, and the error names --out."""
    import errno

    out = tmp_path / "fw"
    export_firmware(IntModel.from_model(random_model([784, 8, 10], seed=1)), out)
    (out / "build").mkdir()
    (out / "build" / "firmware.elf").write_bytes(b"elf")
    before = tree(tmp_path)

    def fail_the_second(n):
        if n == 2:
            raise OSError(errno.EIO, "Input/output error")

    renames_that(monkeypatch, fail_the_second)
    with pytest.raises(Bs4nnError) as exc:
        export_firmware(IntModel.from_model(random_model([784, 8, 10], seed=2)), out)
    assert str(exc.value) == (
        f"cannot write {out}: Input/output error; check the path, or choose another"
    )
    assert tree(tmp_path) == before


def test_a_full_disk_names_the_export_folder(tmp_path, monkeypatch):
    import errno

    import bs4nn.codegen.export as export

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export, "render_model_sources", full)
    out = tmp_path / "fw"
    with pytest.raises(Bs4nnError) as exc:
        export_firmware(IntModel.from_model(random_model([784, 8, 10], seed=1)), out)
    assert str(exc.value) == (
        f"cannot write {out}: No space left on device; free space on the disk, or choose another "
        "path"
    )
    assert list(tmp_path.iterdir()) == []


def test_export_into_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    export_firmware(IntModel.from_model(random_model([784, 8, 10], seed=1)), ".")
    second = random_model([784, 8, 10], seed=2)
    export_firmware(IntModel.from_model(second), ".")
    assert read_manifest(tmp_path)["model_hash"] == second.content_hash
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "Makefile",
        "board",
        "bs4nn_export.json",
        "core",
        "generated",
        "protocol",
    ]


def test_refuses_model_too_large_for_board_before_building(tmp_path):
    big = IntModel(
        layer_sizes=(784, 4096, 4096, 10),
        thresholds=(1, 1, 1),
        signs=(
            np.ones((4096, 784), np.int8),
            np.ones((4096, 4096), np.int8),
            np.ones((10, 4096), np.int8),
        ),
        tmax=256,
        model_hash="0" * 64,
    )
    with pytest.raises(
        Bs4nnError,
        match=r"model does not fit nucleo_f446re: flash needs "
        r"~2,523,136 bytes \(2,514,944 of packed weights",
    ):
        export_firmware(big, tmp_path / "fw", board="nucleo_f446re")
    assert not (tmp_path / "fw").exists()


def test_unknown_board_names_the_choices(tmp_path):
    with pytest.raises(Bs4nnError, match="unknown board 'stm32'; choose one of: .*nucleo_f446re"):
        export_firmware(IntModel.from_model(random_model([784, 8, 10])), tmp_path, board="stm32")


@pytest.mark.parametrize("kernel", ["sliced", "packed", "ref"])
# (7, 5, 3): a fan-in below 8, where the sliced kernel still keeps 4 bit planes
@pytest.mark.parametrize("sizes", [(784, 600, 10), (784, 37, 11), (100, 30, 20, 10), (7, 5, 3)])
def test_footprint_state_matches_the_compiled_state_struct(tmp_path, sizes, kernel):
    import subprocess

    from bs4nn.codegen.ccheck import build_library
    from bs4nn.codegen.footprint import inference_state_bytes

    export_firmware(IntModel.from_model(random_model(list(sizes))), tmp_path / "fw")
    lib = build_library(tmp_path / "fw", kernel=kernel)
    nm = subprocess.run(
        ["nm", "-S", "--defined-only", str(lib)], capture_output=True, text=True, check=True
    ).stdout
    size = next(
        int(line.split()[1], 16) for line in nm.splitlines() if line.endswith(" bs4nn_state")
    )
    assert inference_state_bytes(sizes, kernel) == size


@pytest.mark.parametrize(
    ("sizes", "kernel"),
    [
        ((784, 2656, 10), "sliced"),  # 784 x 83 words = 65,072: uint16 row offsets reach them
        ((784, 2657, 10), "packed"),  # 784 x 84 words = 65,856
        ((2048, 1024, 10), "sliced"),  # 2,048 x 32 words = 65,536: the most it holds
        ((2048, 1025, 10), "packed"),
        ((16383, 161, 10), "packed"),  # 16,383 x 6 words, inputs within packed's counters
        ((16384, 161, 10), "ref"),
    ],
)
def test_default_kernel_follows_the_first_layers_words(sizes, kernel):
    from bs4nn.codegen.footprint import kernel_for

    assert kernel_for(sizes) == kernel


def test_ctrl_c_during_the_check_says_the_tree_is_complete_but_unchecked(
    tmp_path, monkeypatch, capsys
):
    import bs4nn.codegen.agreement as agreement
    from bs4nn.cli import main

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(agreement, "compare_with_trainer", interrupted)
    model = tmp_path / "m.bs4nn"
    random_model([784, 8, 10], seed=1).save(model)
    out = tmp_path / "fw"
    assert main(["export", str(model), "--out", str(out), "--check-images", "20"]) == 130
    assert capsys.readouterr().err == (
        f"{out} is complete; its check against the trainer's evaluation did not finish (the same "
        "export again checks it)\nbs4nn export: interrupted\n"
    )
    assert read_manifest(out)["model_hash"] == IntModel.load(model).model_hash


def test_a_check_that_differs_names_each_test_image(tmp_path, monkeypatch, capsys):
    # the check's images are the first N of the test split: "test image 3", as bench says
    import bs4nn.trainer.evaluate as evaluate
    from bs4nn.cli import main

    real = evaluate.forward_batch

    def one_label_wrong(model, images):
        out = real(model, images)
        out.labels[3] = (out.labels[3] + 1) % 10
        return out

    monkeypatch.setattr(evaluate, "forward_batch", one_label_wrong)
    model = tmp_path / "m.bs4nn"
    random_model([784, 8, 10], seed=1).save(model)
    assert main(["export", str(model), "--out", str(tmp_path / "fw"), "--check-images", "20"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "integer model differs from the trainer evaluation on 1 of 20 test images:"
    shown = re.fullmatch(r"  test image 3: labels ref=(\d) got=(\d)", err[1])
    assert shown and int(shown[2]) == (int(shown[1]) + 1) % 10
    assert len(err) == 2


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
@pytest.mark.parametrize(
    "board, image, emulator",
    [
        ("rp2040js-pico", "build/firmware.bin", "harness.js"),
        ("qemu-mps2-an386", "build/firmware.elf", "qemu-system-arm"),
    ],
)
def test_make_run_builds_what_the_emulator_loads(tmp_path, board, image, emulator):
    # rp2040js loads the .bin, which `make run` did not build in a clean tree
    out = tmp_path / "fw"
    export_firmware(IntModel.from_model(random_model([784, 8, 10], seed=1)), out, board=board)
    made = subprocess.run(
        ["make", "-n", "-C", str(out), "run"], capture_output=True, text=True, check=True
    ).stdout
    plan = made.replace("\\\n", " ").splitlines()  # a command continued over lines: one line
    runs = [i for i, cmd in enumerate(plan) if emulator in cmd]
    makes = [i for i, cmd in enumerate(plan) if cmd.endswith(f" {image}") or f"-o {image}" in cmd]
    makes = [i for i in makes if i not in runs]
    assert makes and runs and makes[-1] < runs[0], plan
    assert image in plan[runs[0]]


def test_an_export_for_another_board_replaces_the_earlier_one_and_its_build(tmp_path, capsys):
    from bs4nn.cli import main

    model = tmp_path / "m.bs4nn"
    random_model([784, 8, 10], seed=1).save(model)
    out = tmp_path / "fw"
    argv = ["export", str(model), "--out", str(out), "--check-images", "0"]
    assert main([*argv, "--board", "qemu-microbit"]) == 0
    (out / "build").mkdir()  # what `bs4nn build` adds
    (out / "build" / "firmware.elf").write_bytes(b"the microbit's")
    assert main([*argv, "--board", "qemu-microbit"]) == 0  # the same board: the build stays
    assert (out / "build" / "firmware.elf").is_file()
    capsys.readouterr()
    assert main([*argv, "--board", "nucleo_f446re"]) == 0
    said = capsys.readouterr().out.splitlines()
    assert "replaced the qemu-microbit export that was there, and its build" in said
    fresh = tmp_path / "fresh"
    export_firmware(IntModel.load(model), fresh, board="nucleo_f446re")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in fresh.iterdir())
    assert read_manifest(out)["board"] == "nucleo_f446re"


def ones_model(sizes) -> IntModel:
    """Every weight +1 (the footprint depends on the sizes only)."""
    return IntModel(
        layer_sizes=tuple(sizes),
        thresholds=(1,) * (len(sizes) - 1),
        signs=tuple(np.ones((o, i), np.int8) for i, o in zip(sizes[:-1], sizes[1:], strict=True)),
        tmax=256,
        model_hash="0" * 64,
    )


def test_refuses_model_whose_ram_does_not_fit_before_building(tmp_path):
    # 5,000 inputs x 10 x 10: 28 KB of flash fits the micro:bit's 256 KB, its RAM does not
    with pytest.raises(Bs4nnError) as exc:
        export_firmware(ones_model([5000, 10, 10]), tmp_path / "fw", board="qemu-microbit")
    assert str(exc.value).startswith(
        "model does not fit qemu-microbit: RAM needs ~16,784 bytes (10,640 inference state + "
        "4,096 I/O + 2,048 stack) but qemu-microbit has 16,384. "
    )
    assert not (tmp_path / "fw").exists()


def test_the_state_grows_to_32_bit_counters_from_16384_inputs():
    from bs4nn.codegen.footprint import inference_state_bytes

    assert inference_state_bytes((16383, 161, 10), "packed") == 33632  # int16 counters
    assert inference_state_bytes((16384, 161, 10), "ref") == 33976  # int32 counters


def test_an_export_too_wide_for_sliced_makes_packed_the_default(tmp_path):
    export_firmware(ones_model([784, 2657, 10]), tmp_path / "fw")
    assert "KERNEL ?= packed\n" in (tmp_path / "fw" / "Makefile").read_text()


def test_the_footprint_of_a_model_too_wide_for_sliced_is_that_of_its_kernel():
    from bs4nn.codegen.footprint import footprint, inference_state_bytes

    fp = footprint(ones_model([784, 2657, 10]), "nucleo_f446re")
    assert fp.kernel == "packed"
    assert fp.ram_state_bytes == inference_state_bytes((784, 2657, 10), "packed") == 7424
    assert fp.lines()[-2:] == [
        "  RAM: inference state 7,424 bytes, ~13,568 with I/O buffers and the 2,048-byte stack, "
        "of 131,072 bytes",
        "  kernel: packed (the first weight layer has more than the 65,536 words the sliced "
        "kernel can hold)",
    ]


def test_the_footprint_says_the_bits_of_the_weights_and_their_padding():
    from bs4nn.codegen.footprint import footprint

    fp = footprint(ones_model([7, 5, 3]), "qemu-microbit")  # 35 and 15 synapses
    assert (fp.weight_bytes_per_layer, fp.unpadded_weight_bytes) == ([28, 20], 5 + 2)
    assert fp.lines() == [
        "footprint for qemu-microbit:",
        "  weight layer 1 of 2: 28 bytes (1 bit per synapse)",
        "  weight layer 2 of 2: 20 bytes (1 bit per synapse)",
        "  weights total: 48 bytes (7 + word padding)",
        "  flash: ~8,240 of 262,144 bytes (weights + 8,192 code budget)",
        "  RAM: inference state 584 bytes, ~6,728 with I/O buffers and the 2,048-byte stack, of "
        "16,384 bytes",
    ]


def test_a_model_that_just_fits_is_taken_and_a_byte_less_is_refused():
    import dataclasses

    from bs4nn.codegen.footprint import check_fits, footprint

    fp = footprint(ones_model([7, 5, 3]), "qemu-microbit")
    check_fits(dataclasses.replace(fp, flash_bytes=8240, ram_bytes=6728))  # exactly
    with pytest.raises(Bs4nnError) as exc:
        check_fits(dataclasses.replace(fp, flash_bytes=8239, ram_bytes=6727))
    assert str(exc.value) == (
        "model does not fit qemu-microbit: flash needs ~8,240 bytes (48 of packed weights + "
        "8,192 code) but qemu-microbit has 8,239; RAM needs ~6,728 bytes (584 inference state + "
        "4,096 I/O + 2,048 stack) but qemu-microbit has 6,727. Use a smaller network or a larger "
        "board (--board)."
    )


def test_the_boards_root_files_go_to_the_top_only(tmp_path):
    export_firmware(ones_model([784, 8, 10]), tmp_path / "fw")
    assert (tmp_path / "fw" / "Makefile").is_file()
    assert not (tmp_path / "fw" / "board" / "root").exists()


def test_the_linker_script_reserves_the_stack_for_255_outputs(tmp_path):
    export_firmware(ones_model([784, 64, 255]), tmp_path / "fw")
    ld = (tmp_path / "fw" / "board" / "firmware.ld").read_text()
    assert ". += 3064;" in ld  # 1,024 + 8 per output


def test_switching_boards_unlinks_a_symlinked_build_and_keeps_its_board(tmp_path):
    out = tmp_path / "fw"
    export_firmware(ones_model([784, 8, 10]), out, board="qemu-microbit")
    elsewhere = tmp_path / "scratch"
    elsewhere.mkdir()
    (elsewhere / "firmware.elf").write_bytes(b"keep me")
    (out / "build").symlink_to(elsewhere, target_is_directory=True)
    result = export_firmware(ones_model([784, 8, 10]), out, board="nucleo_f446re")
    assert result.replaced_board == "qemu-microbit"
    assert not (out / "build").exists() and not (out / "build").is_symlink()
    assert (elsewhere / "firmware.elf").read_bytes() == b"keep me"
    assert read_manifest(out)["board"] == "nucleo_f446re"


def test_a_manifest_without_a_model_hash_is_damaged(tmp_path):
    from bs4nn.codegen.export import EXPORT_MANIFEST

    (tmp_path / EXPORT_MANIFEST).write_text('{"board": "qemu-mps2-an386"}')
    with pytest.raises(Bs4nnError) as exc:
        read_manifest(tmp_path)
    assert "bs4nn_export.json is damaged (no JSON object with a board and a model_hash)" in str(
        exc.value
    )


def test_an_export_for_another_board_keeps_the_files_no_export_made(tmp_path, capsys):
    model = tiny_model().save(tmp_path / "m.bs4nn")
    out = tmp_path / "fw"
    argv = ["export", "--out", str(out), "--check-images", "0"]
    assert main([*argv, str(model), "--target", "qemu-microbit"]) == 0  # --board's earlier name
    (out / "build").mkdir()  # what `bs4nn build` adds: the other board's, removed
    mine = out / "mine.bs4nn"
    shutil.copyfile(model, mine)  # the user's: the model exported next, and notes
    (out / "NOTES.txt").write_text("mine\n")
    assert main([*argv, str(mine), "--board", "qemu-mps2-an386"]) == 0
    said = capsys.readouterr().out
    assert "replaced the qemu-microbit export that was there, and its build" in said
    assert mine.read_bytes() == model.read_bytes()
    assert (out / "NOTES.txt").read_text() == "mine\n"
    assert not (out / "build").exists()
    assert read_manifest(out)["board"] == "qemu-mps2-an386"


def test_export_without_its_check_data_says_how_to_leave_the_check_out(
    tmp_path, monkeypatch, capsys
):
    model = tiny_model().save(tmp_path / "m.bs4nn")
    nodata = tmp_path / "nodata"
    nodata.mkdir()
    monkeypatch.delenv("BS4NN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    argv = ["export", str(model), "--out", str(tmp_path / "fw"), "--data-dir", str(nodata)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("bs4nn export: error: mnist file t10k-images-idx3-ubyte[.gz] not found")
    assert err.endswith("; or export without the check: --check-images 0\n")
    assert not (tmp_path / "fw").exists()
    assert main([*argv, "--check-images", "0"]) == 0  # as it says
