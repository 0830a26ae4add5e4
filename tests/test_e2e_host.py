"""End to end on the emulated board: train a tiny model, export, build, QEMU, bench.

Every streamed image must agree with codegen's integer reference. Fault tests: QEMU killed in
the middle of a run (clear error, then --resume finishes with every image counted once), and
garbage injected into the link (the host resynchronises, results stay exact).
"""

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import badinput
import pytest
from device_protocol import replies_as_batch

from bs4nn.cli import main as bs4nn_main
from bs4nn.codegen.agreement import mismatches
from bs4nn.codegen.export import export_firmware, read_manifest
from bs4nn.codegen.intmodel import IntModel
from bs4nn.codegen.reference import reference_batch
from bs4nn.host import qemu
from bs4nn.host.bench import run_bench
from bs4nn.host.client import Device
from bs4nn.host.firmware import prepare_emulated_firmware
from bs4nn.host.outdir import LOCK_NAME
from bs4nn.host.transport import LinkClosed, SerialTransport
from bs4nn.trainer.datasets import load_dataset
from bs4nn.trainer.semantics import NO_SPIKE, NOT_FIRED

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
        reason="qemu-system-arm and arm-none-eabi-gcc needed",
    ),
]
N = 200


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, data_dir):
    path = tmp_path_factory.mktemp("e2e") / "tiny.bs4nn"
    code = bs4nn_main(
        [
            "train",
            "--preset",
            "mnist-600",
            "--hidden",
            "32",
            "--epochs",
            "1",
            "--train-limit",
            "2000",
            "--out",
            str(path),
            "--data-dir",
            str(data_dir),
            "--no-progress",
        ]
    )
    assert code == 0 and path.is_file()
    return path


@pytest.fixture(scope="module")
def built(tiny_model, tmp_path_factory):
    """One export + build, copied into each test's --out (reused: the model hash matches)."""
    fw = tmp_path_factory.mktemp("fw") / "firmware"
    prepare_emulated_firmware(IntModel.load(tiny_model), fw, quiet=True)
    return fw


def out_with_firmware(built, tmp_path):
    shutil.copytree(built, tmp_path / "firmware")  # copy2 keeps mtimes: the build is reused
    return tmp_path


def csv_indices(path):
    with open(path) as f:
        return [int(row["index"]) for row in csv.DictReader(f)]


def test_bench_200_images_bit_exact(tiny_model, built, tmp_path, data_dir):
    out = out_with_firmware(built, tmp_path)
    code = bs4nn_main(
        [
            "bench",
            "--model",
            str(tiny_model),
            "--emulate",
            "--limit",
            str(N),
            "--out",
            str(out),
            "--data-dir",
            str(data_dir),
            "--no-progress",
        ]
    )
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["images"] == N and report["mismatches"] == 0 and report["agreement"] == 1.0
    assert report["counter_kind"] == 1
    assert report["counter_name"] == "instructions (QEMU icount proxy)"
    assert report["board"] and report["kernel"]
    assert report["firmware"]["reused"] is True
    assert report["link"]["infer_bitmap"] is True  # the QEMU firmware has INFER_BITMAP
    assert report["counter"]["mean"] > 0
    images, labels = load_dataset("mnist", "test", data_dir=data_dir)
    ref = reference_batch(IntModel.load(tiny_model), images[:N])
    assert report["accuracy"] == float((ref.labels == labels[:N]).mean())
    assert report["decision_step"]["mean"] == float(ref.decision_steps.mean())
    assert csv_indices(out / "images.csv") == list(range(N))
    for name in (
        "confusion.png",
        "decision_step_per_class.png",
        "counter_hist.png",
        "counter_vs_input_spikes.png",
    ):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_qemu_killed_mid_run_then_resume(tiny_model, built, tmp_path, data_dir, monkeypatch):
    out = out_with_firmware(built, tmp_path)
    started = []
    real_start = qemu.start_qemu

    def start_and_remember(*args, **kwargs):
        handle = real_start(*args, **kwargs)
        started.append(handle)
        return handle

    monkeypatch.setattr(qemu, "start_qemu", start_and_remember)

    def killer():  # SIGKILL QEMU once 60 images are on disk
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            path = out / "images.csv"
            if started and path.exists() and path.read_text().count("\n") > 60:
                os.kill(started[0].process.pid, signal.SIGKILL)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    with pytest.raises(LinkClosed) as exc:
        run_bench(tiny_model, limit=N, out_dir=out, data_dir=data_dir, progress=False, quiet=True)
    thread.join()
    assert str(exc.value).startswith("QEMU exited (status -9) during the run: serial link")
    assert "use --resume" in str(exc.value)
    assert not started[0].alive
    done_before = csv_indices(out / "images.csv")
    assert 60 <= len(done_before) < N and done_before == list(range(len(done_before)))

    rep = run_bench(
        tiny_model, limit=N, out_dir=out, data_dir=data_dir, resume=True, progress=False, quiet=True
    )
    assert sorted(csv_indices(out / "images.csv")) == list(range(N))  # each image once
    assert rep.images == N and rep.mismatches == 0
    assert rep.report["resumed_images"] == len(done_before)
    assert rep.report["images_this_run"] == N - len(done_before)
    assert all(not h.alive for h in started)


def test_garbage_on_the_link_is_survived(tiny_model, built, data_dir):
    intmodel = IntModel.load(tiny_model)
    images, _ = load_dataset("mnist", "test", data_dir=data_dir)
    images = images[:60]
    ref = reference_batch(intmodel, images)
    with qemu.running_qemu(built / "build" / "firmware.elf") as q:
        link = SerialTransport(q.pty_path)
        try:
            dev = Device(link, timeout=2.0, window=3)
            link.write(b"\x13\x37 garbage before the handshake \xff\xfe\x01")
            dev.handshake(intmodel.model_hash)
            real_write = link.write
            count = [0]

            def noisy_write(data: bytes) -> None:
                count[0] += 1
                if count[0] % 7 == 0:  # a burst of noise, sometimes inside a frame
                    real_write(b"\x02\x99\x00\x05garbage\x11")
                if count[0] % 11 == 0:
                    real_write(data[: len(data) // 2] + b"\x00")  # a torn copy first
                real_write(data)

            link.write = noisy_write
            results = list(dev.stream(images))
            link.write = real_write
            assert [r.index for r in results] == list(range(len(images)))
            got = replies_as_batch([r.reply for r in results])  # in image order (above)
            assert mismatches(ref, got) == []
            assert dev.stats.error_replies > 0  # the device saw the noise and said so
            assert dev.handshake(intmodel.model_hash).model_hash_hex == intmodel.model_hash
        finally:
            link.close()


def test_build_command_prints_sizes_against_the_board(built, capsys):
    assert bs4nn_main(["build", str(built)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"built {built / 'build' / 'firmware.elf'} for qemu-mps2-an386")
    assert lines[1].startswith("  text ") and " data " in lines[1] and " bss " in lines[1]
    assert lines[2].startswith("  flash ") and lines[2].endswith("%)")
    assert " / 4,194,304 bytes " in lines[2] and " / 4,194,304 bytes " in lines[3]


def test_sweep_on_the_emulated_board(tiny_model, built, tmp_path, data_dir):
    from bs4nn.host.sweep import run_sweep

    out = out_with_firmware(built, tmp_path)
    intmodel = IntModel.load(tiny_model)
    images, labels = load_dataset("mnist", "test", data_dir=data_dir)
    points = run_sweep(
        tiny_model, limit=50, out_dir=out, scales=[0.5, 1.5], data_dir=data_dir, progress=False
    )
    for pt in points:
        ref = reference_batch(intmodel, images[:50], pt.thresholds)
        assert pt.mismatches == 0
        assert pt.accuracy == float((ref.labels == labels[:50]).mean())
        assert pt.decision_step_mean == float(ref.decision_steps.mean())
    assert points[0].decision_step_mean < points[1].decision_step_mean  # lower K: faster
    assert json.loads((out / "sweep.json").read_text())["mismatches"] == 0


def _qemu_pids_running(elf) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(elf).encode() in cmd and state != "Z":
            pids.append(int(entry))
    return pids


def _assert_stopped_with_rows_kept(out, elf) -> None:
    """A bench stopped after its 40th row: QEMU gone, the lock released, the rows kept."""
    assert _qemu_pids_running(elf) == []
    assert not (out / LOCK_NAME).exists()
    done = csv_indices(out / "images.csv")
    assert len(done) >= 40 and done == list(range(len(done)))


@pytest.mark.parametrize(
    ("sig", "status", "said"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
    ids=["ctrl-c", "sigterm"],
)
def test_interrupt_stops_qemu_and_keeps_the_csv(
    tiny_model, built, tmp_path, data_dir, sig, status, said
):
    out = out_with_firmware(built, tmp_path)
    elf = out / "firmware" / "build" / "firmware.elf"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bs4nn",
            "bench",
            "--model",
            str(tiny_model),
            "--limit",
            "5000",
            "--out",
            str(out),
            "--data-dir",
            str(data_dir),
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as in a terminal, also when the tests run as a background job, which inherits
        # SIGINT ignored (and a Python started so keeps ignoring it)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        csv_path = out / "images.csv"
        while not (csv_path.exists() and csv_path.read_text().count("\n") > 40):  # 40 rows
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        assert len(_qemu_pids_running(elf)) == 1
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status
    assert err.strip().endswith(f"--resume\nbs4nn bench: {said}")
    _assert_stopped_with_rows_kept(out, elf)


def test_a_closed_terminal_stops_qemu_and_keeps_the_csv(tiny_model, built, tmp_path, data_dir):
    """A bench in a terminal that closes (SIGHUP, and every later write to it fails): stopped
    as on SIGTERM, with exit status 129; writing the resume hint to the dead terminal does not
    get in the way of stopping QEMU and releasing the lock."""
    import pty
    import select

    out = out_with_firmware(built, tmp_path)
    elf = out / "firmware" / "build" / "firmware.elf"
    argv = [sys.executable, "-m", "bs4nn", "bench", "--model", str(tiny_model)]
    argv += ["--limit", "5000", "--out", str(out), "--data-dir", str(data_dir)]
    pid, terminal = pty.fork()  # the child: a session of its own, the pty its terminal
    if pid == 0:
        try:
            signal.signal(signal.SIGHUP, signal.SIG_DFL)  # also when the tests run under nohup
            os.execv(sys.executable, argv)
        finally:
            os._exit(127)
    status = None
    try:
        deadline = time.monotonic() + 60
        csv_path = out / "images.csv"
        while not (csv_path.exists() and csv_path.read_text().count("\n") > 40):  # 40 rows
            assert time.monotonic() < deadline and os.waitpid(pid, os.WNOHANG) == (0, 0)
            if select.select([terminal], [], [], 0.05)[0]:
                os.read(terminal, 65536)  # what it shows (a full terminal would block it)
        assert len(_qemu_pids_running(elf)) == 1
        os.close(terminal)  # the terminal closes: the kernel hangs it up
        terminal = None
        deadline = time.monotonic() + 30
        while status is None and time.monotonic() < deadline:
            done, code = os.waitpid(pid, os.WNOHANG)
            status = os.waitstatus_to_exitcode(code) if done else None
            time.sleep(0.05)
    finally:
        if terminal is not None:
            os.close(terminal)
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert status == 128 + signal.SIGHUP
    _assert_stopped_with_rows_kept(out, elf)


@pytest.mark.parametrize("sparse", [False, True])
def test_dense_and_sparse_infer_agree_on_fashion(tiny_model, built, data_dir, sparse):
    """Fashion-MNIST images have many lit pixels: both INFER forms, checked exactly."""
    intmodel = IntModel.load(tiny_model)
    images, _ = load_dataset("fashion-mnist", "test", data_dir=data_dir)
    images = images[:30]
    ref = reference_batch(intmodel, images)
    with qemu.running_qemu(built / "build" / "firmware.elf") as q:
        link = SerialTransport(q.pty_path)
        try:
            dev = Device(link, timeout=2.0, window=2, sparse=sparse)
            dev.handshake(intmodel.model_hash)
            results = list(dev.stream(images))
        finally:
            link.close()
    assert [r.index for r in results] == list(range(30))
    for r in results:
        assert r.reply.label == ref.labels[r.index]
        assert r.reply.decision_step == ref.decision_steps[r.index]
        assert r.reply.output_steps == tuple(
            NO_SPIKE if s == NOT_FIRED else int(s) for s in ref.output_steps[r.index]
        )
        assert r.reply.spikes == tuple(int(s) for s in ref.spikes[r.index])
    assert dev.stats.resends == 0 and dev.stats.error_replies == 0


def test_build_reused_only_for_same_model_and_firmware_sources(tiny_model, built, tmp_path):
    from bs4nn.host.firmware import BUILD_STAMP, template_fingerprint

    fw = out_with_firmware(built, tmp_path) / "firmware"
    intmodel = IntModel.load(tiny_model)
    assert prepare_emulated_firmware(intmodel, fw, quiet=True)["reused"] is True
    stamp = json.loads((fw / BUILD_STAMP).read_text())
    assert stamp == {
        "model_hash": intmodel.model_hash,
        "board": "qemu-mps2-an386",
        "template_hash": template_fingerprint(),
        "elf_sha256": hashlib.sha256((fw / "build" / "firmware.elf").read_bytes()).hexdigest(),
    }
    (fw / BUILD_STAMP).write_text(json.dumps({**stamp, "template_hash": "0" * 64}))
    assert prepare_emulated_firmware(intmodel, fw, quiet=True)["reused"] is False  # rebuilt
    assert json.loads((fw / BUILD_STAMP).read_text()) == stamp


def test_a_build_of_another_model_in_the_bench_firmware_is_not_reused(tmp_path):
    from bs4nn.host.build import build_firmware

    ours = IntModel.from_model(badinput.tiny_model())
    other = IntModel.from_model(badinput.tiny_model(thetas=(6.0, 1.5)))
    fw = tmp_path / "bench" / "firmware"
    assert prepare_emulated_firmware(ours, fw, quiet=True)["reused"] is False
    export_firmware(other, fw)  # `bs4nn export OTHER --out bench/firmware`, then build it
    build_firmware(fw)
    # reused, the board would run the other model: refused at the handshake, "flash it"
    assert prepare_emulated_firmware(ours, fw, quiet=True)["reused"] is False
    assert read_manifest(fw)["model_hash"] == ours.model_hash
    assert prepare_emulated_firmware(ours, fw, quiet=True)["reused"] is True
