import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from badinput import snapshot
from helpers import run_bs4nn

from bs4nn.cli import build_parser


def test_user_error_is_one_line_without_traceback(tmp_path):
    missing = tmp_path / "nope.bs4nn"
    proc = run_bs4nn("export", str(missing), "--out", str(tmp_path / "fw"))
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == (
        f"bs4nn export: error: model file {missing} not found; check the path, or train one "
        "with `bs4nn train`\n"
    )
    assert not (tmp_path / "fw").exists()


def test_export_refuses_non_export_directory(tmp_path):
    import numpy as np

    from bs4nn.trainer.model import model_from_arrays

    rng = np.random.default_rng(0)
    model = model_from_arrays(
        [rng.normal(size=(8, 784)), rng.normal(size=(10, 8))],
        [1.0, 1.0],
        [3.0, 2.0],
        dataset="mnist",
    )
    path = tmp_path / "m.bs4nn"
    model.save(path)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    proc = run_bs4nn("export", str(path), "--out", str(busy), "--check-images", "0")
    assert proc.returncode == 2
    assert proc.stderr == (
        f"bs4nn export: error: --out {busy} is a non-empty folder that is not a bs4nn export "
        "folder; choose an empty or new folder, or the --out of an earlier `bs4nn export`\n"
    )
    assert (busy / "notes.txt").read_text() == "mine"


def test_building_the_parser_reads_no_file(monkeypatch):
    """`bs4nn --help` must work wherever the package is installed: registering the sub-commands
    opens nothing (an unknown --board is refused when export runs)."""
    import builtins
    import io
    from pathlib import Path

    from bs4nn.cli import build_parser

    build_parser()  # imports the command modules first: imports may read files, parsers not

    def refuse(*args, **kwargs):
        raise AssertionError(f"a file was opened while building the parser: {args[:1]}")

    for owner, name in (
        (builtins, "open"),
        (io, "open"),
        (Path, "open"),
        (Path, "read_text"),
        (Path, "read_bytes"),
    ):
        monkeypatch.setattr(owner, name, refuse)
    build_parser()


HEAVY = ("numpy", "numba", "scipy", "matplotlib", "jinja2", "serial", "tqdm", "nir")


def output_then_heavy_loaded(code: str) -> list[str]:
    """Run code (which imports sys) in a new process: its output lines, then 'loaded:' and
    the HEAVY libraries it imported."""
    code += f"print('loaded:', *[name for name in {HEAVY!r} if name in sys.modules])\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stderr == ""
    return proc.stdout.splitlines()


@pytest.mark.parametrize(
    "command, rest",
    [
        ("eval", []),
        ("calibrate", ["--max-mean-step", "40", "--out", "c.bs4nn"]),
        ("export", ["--out", "fw"]),
        ("bench", ["--limit", "5"]),
        ("sweep", ["--scales", "1"]),
        ("eembc", ["--runner", "runner"]),
    ],
)
def test_every_command_takes_the_model_first_or_as_model(command, rest):
    """eval, calibrate and export took the model first, bench, sweep and eembc as --model: a
    user who wrote the other form was refused."""
    parser = build_parser()
    first = parser.parse_args([command, "m.bs4nn", *rest])
    option = parser.parse_args([command, *rest, "--model", "m.bs4nn"])
    assert first.model == option.model == "m.bs4nn"
    assert vars(first) == vars(option)


def test_help_imports_no_numpy():
    """`bs4nn --help` and every `bs4nn COMMAND [ACTION] --help` wait for none of numpy, numba,
    scipy, matplotlib, jinja2, pyserial, tqdm: what the parser shows (choices, defaults) lives
    in modules free of them, the commands' work is imported when it runs. In a new process:
    every help the parser has, printed by main(), then the libraries loaded."""
    code = (
        "import argparse, contextlib, io, sys\n"
        "from bs4nn.cli import build_parser, main\n"
        "def commands(parser):\n"
        "    yield parser.prog.split()[1:]\n"
        "    for action in parser._actions:\n"
        "        if isinstance(action, argparse._SubParsersAction):\n"
        "            for sub in action.choices.values():\n"
        "                yield from commands(sub)\n"
        "for argv in commands(build_parser()):\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "        status = main([*argv, '--help'])\n"
        "    print(' '.join(['bs4nn', *argv]), status, out.getvalue().split()[0])\n"
    )
    assert output_then_heavy_loaded(code) == [
        f"bs4nn{command} 0 usage:"
        for command in (
            "",
            " data",
            " data fetch",
            " data verify",
            " data where",
            " train",
            " eval",
            " calibrate",
            " import-nir",
            " export",
            " boards",
            " build",
            " bench",
            " sweep",
            " eembc",
            " demo",
            " paper",
        )
    ] + ["loaded:"]


def test_help_after_an_own_dataset_imports_no_numpy(tmp_path):
    # argparse checks --dataset's value (a file of the user's) before it acts on --help
    own = tmp_path / "own.npz"
    own.touch()
    commands = ("train", "eval", "calibrate", "export", "bench", "sweep")
    code = (
        "import contextlib, io, sys\n"
        "from bs4nn.cli import main\n"
        f"for command in {commands!r}:\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        f"        status = main([command, '--dataset', {str(own)!r}, '--help'])\n"
        "    print(command, status)\n"
    )
    assert output_then_heavy_loaded(code) == [f"{command} 0" for command in commands] + ["loaded:"]


def test_boards_imports_no_numpy():
    # it reads boards.json and looks for the emulators: no model, no template rendered
    code = (
        "import contextlib, io, sys\n"
        "from bs4nn.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    status = main(['boards'])\n"
        "print(status, out.getvalue().split()[:2])\n"
    )
    assert output_then_heavy_loaded(code) == ["0 ['board', 'core']", "loaded:"]


def test_numba_is_imported_when_a_kernel_first_runs(data_dir):
    """numba takes about a second to import: building the parser, --help, a usage error and
    the commands that run no kernel leave it out (bs4nn.trainer.lazy); the first kernel run
    brings it in. In a new process, each command line run in turn by main()."""
    fetch = ["data", "fetch", "mnist", "--data-dir", str(data_dir)]
    runs = [["--help"], ["bench", "--help"], ["bench", "--limit", "0"], ["boards"], fetch]
    code = (
        "import contextlib, io, sys\n"
        "import numpy as np\n"
        "from bs4nn.cli import main\n"
        f"for argv in {runs!r}:\n"
        "    with contextlib.redirect_stdout(io.StringIO()), "
        "contextlib.redirect_stderr(io.StringIO()):\n"
        "        status = main(argv)\n"
        "    print(argv[0], status, 'numba' in sys.modules)\n"
        "from bs4nn.trainer.evaluate import predict\n"
        "from bs4nn.trainer.model import model_from_arrays\n"
        "model = model_from_arrays([np.array([[1.0, -1.0], [1.0, 1.0]])], [1.0], [2.0])\n"
        "labels = predict(model, np.array([[255, 255]], np.uint8))\n"
        "print('predict', labels.tolist(), 'numba' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stderr == ""
    assert proc.stdout.splitlines() == [
        "--help 0 False",
        "bench 0 False",
        "bench 2 False",
        "boards 0 False",
        "data 0 False",
        "predict [1] True",
    ]


def test_unknown_target_is_refused_before_anything_is_written(tmp_path):
    proc = run_bs4nn(
        "export", "models/mnist-600.bs4nn", "--out", str(tmp_path / "fw"), "--board", "esp32"
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("bs4nn export: error: unknown board 'esp32'; choose one of: ")
    assert not (tmp_path / "fw").exists()


def test_output_into_a_closed_pipe_stops_the_work_as_an_interruption(tmp_path):
    """`bs4nn train ... | head -2`: head stops reading; the work stops with the status of a
    process SIGPIPE ended, says so, and offers to resume what it kept (a BrokenPipeError is an
    OSError, so its handler must come first). It said nothing, with status 0."""
    code = (
        "import sys\n"
        "import bs4nn.trainer.cli as commands\n"
        "from bs4nn.trainer.resume_hints import offer_resume\n"
        "def closed(args):\n"
        "    with offer_resume(lambda: True):\n"
        "        raise BrokenPipeError(32, 'Broken pipe')\n"
        "commands._eval = closed\n"
        "from bs4nn.cli import main\n"
        "sys.argv = ['bs4nn', 'eval', 'm.bs4nn']\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert (proc.returncode, proc.stderr) == (
        141,
        "resume with: bs4nn eval m.bs4nn --resume\nbs4nn eval: stopped: its output was closed\n",
    )


def test_out_of_memory_is_one_line(monkeypatch, capsys):
    import bs4nn.trainer.cli as commands
    from bs4nn.cli import main

    def too_big(args):
        raise MemoryError("Unable to allocate 58.4 GiB for an array with shape (10000000, 784)")

    monkeypatch.setattr(commands, "_eval", too_big)
    assert main(["eval", "m.bs4nn"]) == 2
    assert capsys.readouterr().err == (
        "bs4nn eval: error: out of memory: Unable to allocate 58.4 GiB for an array with shape "
        "(10000000, 784)\n"
    )


@pytest.mark.parametrize(
    ("sig", "status", "said"),
    [("SIGTERM", 143, "terminated"), ("SIGHUP", 129, "hung up")],
)
def test_sigterm_and_sighup_are_interrupts_with_their_own_status(
    monkeypatch, capsys, sig, status, said
):
    import os
    import signal

    import bs4nn.trainer.cli as commands
    from bs4nn.cli import main

    signum = getattr(signal, sig)
    cleaned = []

    def killed(args):
        try:
            os.kill(os.getpid(), signum)
            time.sleep(5)  # the handler raises before this ends
        finally:
            cleaned.append(True)  # `finally` blocks (locks, emulators) run as on Ctrl-C

    monkeypatch.setattr(commands, "_eval", killed)
    before = signal.getsignal(signum)
    started = time.monotonic()
    assert main(["eval", "m.bs4nn"]) == status
    assert time.monotonic() - started < 4 and cleaned == [True]
    assert capsys.readouterr().err == f"bs4nn eval: {said}\n"
    assert signal.getsignal(signum) is before  # the caller's handler is back


def test_sighup_ignored_by_the_caller_stays_ignored(monkeypatch):
    """Under nohup a command goes on when its terminal closes."""
    import signal

    import bs4nn.trainer.cli as commands
    from bs4nn.cli import main

    during = []
    monkeypatch.setattr(
        commands, "_eval", lambda args: during.append(signal.getsignal(signal.SIGHUP))
    )
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        assert main(["eval", "m.bs4nn"]) == 0
        assert during == [signal.SIG_IGN]
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)


def test_ctrl_c_while_the_commands_load_is_one_line(monkeypatch, capsys):
    import bs4nn.cli
    from bs4nn.cli import main

    def loading():
        raise KeyboardInterrupt  # as while the sub-commands' modules load

    monkeypatch.setattr(bs4nn.cli, "build_parser", loading)
    assert main(["--version"]) == 130
    assert capsys.readouterr().err == "bs4nn: interrupted\n"
    assert main(["data", "fetch", "mnist"]) == 130
    assert capsys.readouterr().err == "bs4nn data: interrupted\n"


def test_demo_goes_on_from_the_checkpoint_of_an_interrupted_training(tmp_path, monkeypatch):
    import json

    import bs4nn.cli
    from bs4nn.cli import main

    steps = []

    def run_command(argv):
        steps.append(argv)
        if argv[0] == "bench":
            bench = tmp_path / "demo" / "bench"
            bench.mkdir(parents=True, exist_ok=True)
            report = {"accuracy": 0.9, "mismatches": 0, "counter": {"mean": 1.0}}
            (bench / "images.csv").write_text("index\n")  # as a bench does, before its report
            (bench / "report.json").write_text(json.dumps(report))

    monkeypatch.setattr(bs4nn.cli, "run_command", run_command)
    out = tmp_path / "demo"
    model = str(out / "mnist-demo.bs4nn")
    train = ["train", "--preset", "mnist-600", "--epochs", "5", "--seed", "1", "--out", model]
    assert main(["demo", "--out", str(out)]) == 0
    assert [s[0] for s in steps] == ["data", "train", "bench"] and steps[1] == train
    (out / "mnist-demo.bs4nn.ckpt").write_bytes(b"epoch 1")  # Ctrl-C after an epoch
    assert main(["demo", "--out", str(out)]) == 0
    assert steps[4] == [*train, "--resume"]
    # a shipped model: its own dataset is fetched, nothing is trained
    fashion = Path(__file__).resolve().parents[1] / "models" / "fashion-1000.bs4nn"
    assert main(["demo", "--out", str(out), "--model", str(fashion)]) == 0
    assert steps[6] == ["data", "fetch", "fashion-mnist"] and steps[7][0] == "bench"


def test_demo_goes_on_from_an_interrupted_bench(tmp_path, monkeypatch):
    import shutil

    import bs4nn.cli
    from bs4nn.cli import main
    from bs4nn.host.records import Record, rewrite_records
    from bs4nn.trainer.model import Model

    out = tmp_path / "demo"
    model = out / "mnist-demo.bs4nn"
    shipped = Path(__file__).resolve().parents[1] / "models" / "mnist-600.bs4nn"
    steps = []

    def run_command(argv):
        steps.append(argv)
        if argv[0] == "train":
            shutil.copy(shipped, model)
        if argv[0] == "bench":
            bench = out / "bench"
            rewrite_records(bench / "images.csv", [row])  # one image measured
            if interrupt:
                raise KeyboardInterrupt
            (bench / "report.json").write_text(
                '{"accuracy": 1.0, "mismatches": 0, "counter": {"mean": 1.0}}'
            )

    row = Record(0, 7, 7, 7, 9, 9, False, "", 100, 1.0, 10, (1, 2, 1), (1, 2, 1),
                 (-1,) * 7 + (9, -1, -1), Model.load(shipped).content_hash)  # fmt: skip
    monkeypatch.setattr(bs4nn.cli, "run_command", run_command)
    (out / "bench").mkdir(parents=True)
    interrupt = True
    assert main(["demo", "--out", str(out)]) == 130
    assert [s[0] for s in steps] == ["data", "train", "bench"] and "--resume" not in steps[2]
    interrupt = False
    assert main(["demo", "--out", str(out)]) == 0  # the model is kept, its bench goes on
    assert [s[0] for s in steps[3:]] == ["data", "bench"] and steps[4][-1] == "--resume"
    assert main(["demo", "--out", str(out)]) == 0  # finished: a new run
    assert [s[0] for s in steps[5:]] == ["data", "train", "bench"] and "--resume" not in steps[7]


def test_demo_goes_on_in_the_checkpoint_its_first_run_left(tmp_path, monkeypatch):
    import bs4nn.cli
    from bs4nn.cli import main

    out = tmp_path / "demo"
    steps = []

    def run_command(argv):
        steps.append(argv)
        if argv[0] == "train":  # Ctrl-C after the first epoch of the first run
            out.mkdir(exist_ok=True)
            (out / "mnist-demo.bs4nn.ckpt").write_bytes(b"epoch 1")
            raise KeyboardInterrupt

    monkeypatch.setattr(bs4nn.cli, "run_command", run_command)
    assert main(["demo", "--out", str(out)]) == 130
    assert sorted(p.name for p in out.iterdir()) == ["mnist-demo.bs4nn.ckpt"]
    assert main(["demo", "--out", str(out)]) == 130
    assert [s[0] for s in steps] == ["data", "train", "data", "train"]
    assert steps[3][-1] == "--resume"


def test_demo_goes_on_in_the_folder_a_killed_first_run_left(tmp_path, monkeypatch):
    # SIGKILL (the OOM killer) while it trained its first epoch, then while it wrote its first
    # checkpoint: the training's lock, unlocked, and the checkpoint's temporary file
    import bs4nn.cli
    from bs4nn.cli import main

    out = tmp_path / "demo"
    out.mkdir()
    (out / ".mnist-demo.bs4nn.lock").write_text("999999\n")
    (out / ".mnist-demo.bs4nn.ckpt.k1ll3d_x.part").write_bytes(b"half")
    steps = []

    def run_command(argv):
        steps.append(argv)
        if argv[0] == "train":
            raise KeyboardInterrupt

    monkeypatch.setattr(bs4nn.cli, "run_command", run_command)
    assert main(["demo", "--out", str(out)]) == 130
    assert [s[0] for s in steps] == ["data", "train"] and "--resume" not in steps[1]


@pytest.mark.parametrize(
    ("files", "refused", "command"),
    [
        (["notes.txt"], "", "demo"),
        (["bs4nn_export.json", "core/bs4nn.h"], "", "demo"),
        (["images.csv", "report.json"], "", "demo"),  # a bench's own folder
        (["bench/notes.txt"], "/bench", "bench"),  # the demo's bench folder, of someone else
    ],
    ids=["own-files", "export", "bench", "demo-bench"],
)
def test_demo_refuses_a_folder_not_its_own_before_any_step(
    tmp_path, monkeypatch, capsys, files, refused, command
):
    import bs4nn.cli
    from bs4nn.cli import main

    out = tmp_path / "d"
    for name in files:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("x")
    before = snapshot(out)
    steps = []
    monkeypatch.setattr(bs4nn.cli, "run_command", steps.append)
    assert main(["demo", "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"bs4nn demo: error: --out {out}{refused} is a non-empty folder that is not a bs4nn "
        f"{command} folder; choose an empty or new folder, or the --out of an earlier "
        f"`bs4nn {command}`\n"
    )
    assert steps == [] and snapshot(out) == before


def test_demo_says_to_remove_a_checkpoint_its_training_cannot_go_on_from(tmp_path, capsys):
    # the demo gives its training --resume itself: the user has no --resume to drop
    from bs4nn.cli import main

    ckpt = tmp_path / "demo" / "mnist-demo.bs4nn.ckpt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"epoch 1")
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 2
    assert capsys.readouterr().err == (
        f"bs4nn demo: error: checkpoint {ckpt} is unreadable (not a checkpoint written by bs4nn "
        f"train); remove {ckpt} to start over\n"
    )


def test_demo_interrupted_offers_itself_again(tmp_path, monkeypatch, capsys):
    # its steps go on from their checkpoint when the demo runs again; demo has no --resume
    import bs4nn.cli
    from bs4nn.cli import main
    from bs4nn.trainer.resume_hints import offer_resume

    def run_command(argv):
        if argv[0] == "train":  # as the train command does, after an epoch
            with offer_resume(lambda: True):
                raise KeyboardInterrupt

    monkeypatch.setattr(bs4nn.cli, "run_command", run_command)
    argv = ["demo", "--limit", "20", "--out", str(tmp_path / "d")]
    monkeypatch.setattr(sys, "argv", ["bs4nn", *argv])
    assert main(argv) == 130
    assert capsys.readouterr().err == (
        f"resume with: bs4nn demo --limit 20 --out {tmp_path / 'd'}\nbs4nn demo: interrupted\n"
    )


def test_the_hints_to_resume_give_one_command_line(monkeypatch):
    from bs4nn.trainer.resume_hints import offer_resume, rerun_resumes, resume_note, resume_with

    monkeypatch.setattr(sys, "argv", ["bs4nn", "sweep", "--out", "my out", "--resume"])
    # called from Python: no command line to give
    assert (resume_with(), resume_note("would keep them")) == (
        "use --resume",
        " (--resume would keep them)",
    )
    with offer_resume(lambda: False):
        assert (resume_with(), resume_note("would keep them")) == (
            "resume with: bs4nn sweep --out 'my out' --resume",
            " (--resume would keep them: bs4nn sweep --out 'my out' --resume)",
        )
    monkeypatch.setattr(sys, "argv", ["bs4nn", "demo", "--out", "d"])
    with rerun_resumes(), offer_resume(lambda: False):  # the demo goes on when run again
        assert (resume_with(), resume_note("would keep them")) == (
            "resume with: bs4nn demo --out d",
            "",
        )


def test_a_run_cut_short_says_what_it_kept_and_how_to_go_on(monkeypatch):
    from bs4nn.trainer.resume_hints import go_on, keeps, offer_rerun, offer_resume

    monkeypatch.setattr(sys, "argv", ["bs4nn", "bench", "--out", "my out"])
    assert go_on() == "results so far are kept; use --resume"  # called from Python
    with keeps(lambda: False):  # called from Python, cut short before it kept anything
        assert go_on("restart it, then") == "nothing was kept; restart it, then run it again"
    with offer_resume(lambda: True):
        assert go_on("restart it, then") == (
            "results so far are kept; restart it, then resume with: bs4nn bench --out 'my out' "
            "--resume"
        )
    with offer_resume(lambda: False):  # cut short before it kept anything
        assert go_on("restart it, then") == (
            "nothing was kept; restart it, then run the command again: bs4nn bench --out 'my out'"
        )
    monkeypatch.setattr(sys, "argv", ["bs4nn", "eembc", "--out", "my out"])
    with offer_rerun():  # no --resume, nothing kept
        assert go_on("reconnect, then") == (
            "reconnect, then run the command again: bs4nn eembc --out 'my out'"
        )
        assert go_on() == "run the command again: bs4nn eembc --out 'my out'"


def test_bench_interrupted_offers_resume_once_images_are_measured(tmp_path, monkeypatch, capsys):
    import bs4nn.host.bench as bench
    from bs4nn.cli import main

    out = tmp_path / "b"

    def interrupted(model, resume, **options):
        if options["limit"] == 2:  # one image measured before Ctrl-C
            out.mkdir()
            (out / "images.csv").write_text("index\n0\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(bench, "run_bench", interrupted)
    for limit, hint in ((1, ""), (2, "resume")):
        argv = ["bench", "--model", "m.bs4nn", "--emulate", "--limit", str(limit)]
        argv += ["--out", str(out)]
        monkeypatch.setattr(sys, "argv", ["bs4nn", *argv])
        assert main(argv) == 130
        assert (
            capsys.readouterr().err
            == (f"resume with: bs4nn {' '.join(argv)} --resume\n" if hint else "")
            + "bs4nn bench: interrupted\n"
        )


def test_sweep_interrupted_offers_resume_once_a_setting_is_finished(tmp_path, monkeypatch, capsys):
    import bs4nn.host.sweep as sweep
    from bs4nn.cli import main

    out = tmp_path / "s"

    def interrupted(model, **options):
        out.mkdir()
        (out / "images_scale_0.4.csv").write_text("index\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep, "run_sweep", interrupted)
    argv = ["sweep", "--model", "m.bs4nn", "--emulate", "--out", str(out), "--resume"]
    monkeypatch.setattr(sys, "argv", ["bs4nn", *argv])
    assert main(argv) == 130
    assert capsys.readouterr().err == (
        f"resume with: bs4nn sweep --model m.bs4nn --emulate --out {out} --resume\n"
        "bs4nn sweep: interrupted\n"
    )


def test_a_second_train_on_the_same_out_is_refused(tmp_path, capsys):
    # two runs overwrote each other's checkpoint and model, and both said "saved"
    import os

    from bs4nn.cli import main
    from bs4nn.trainer.files import file_lock

    out = tmp_path / "new" / "m.bs4nn"
    with file_lock(out):  # a run in progress
        argv = ["train", "--epochs", "1", "--hidden", "4", "--train-limit", "200"]
        assert main([*argv, "--val-size", "100", "--out", str(out)]) == 2
        assert (tmp_path / "new").is_dir()
    assert capsys.readouterr().err == (
        f"bs4nn train: error: --out {out} is in use by another bs4nn run (pid {os.getpid()}); "
        "wait for it to finish, or choose another --out\n"
    )
    assert not (tmp_path / "new").exists()  # made for the run, nothing written: removed


def test_version_is_the_projects():
    import tomllib

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    version = tomllib.loads(pyproject.read_text())["project"]["version"]
    proc = subprocess.run(
        [sys.executable, "-m", "bs4nn", "--version"], capture_output=True, text=True
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"bs4nn {version}\n", "")


def test_each_range_takes_its_bounds_and_refuses_the_next_number():
    import argparse

    from bs4nn.trainer import options

    for parse, bound, beyond, message in (
        (options.positive_int, "1", "0", "expected a whole number of at least 1, got '0'"),
        (options.nonnegative_int, "0", "-1", "expected a whole number of at least 0, got '-1'"),
        (
            options.timeout_seconds,
            "86400",
            "86400.5",
            "expected a number of seconds above 0 and at most 86400, got '86400.5'",
        ),
        (
            options.mean_step,
            "255",
            "255.01",
            "expected a mean decision step from 0 to 255, got '255.01'",
        ),
        (
            options.mean_steps,
            "255",
            "1,255.01",
            "expected comma-separated mean decision steps above 0 and at most 255, got '1,255.01'",
        ),
        (
            options.margin_steps,  # --gamma: the silent label's target tmax - gamma is a step
            "256",
            "256.5",
            "expected a margin in steps from 0 to 256, got '256.5'",
        ),
        (
            options.lead_steps,  # --tie-lead: a longer lead than the last step gives step 0 too
            "255",
            "255.5",
            "expected a lead in steps from 0 to 255, got '255.5'",
        ),
    ):
        assert parse(bound) in (float(bound), [float(bound)])
        with pytest.raises(argparse.ArgumentTypeError) as exc:
            parse(beyond)
        assert str(exc.value) == message
    assert options.timeout_seconds("7200") == 7200.0
    assert options.mean_step("0") == 0.0


def test_an_option_given_as_0_counts_as_given():
    # `export --format nir --check-images 0`: refused as an option of the C export only
    import argparse

    from bs4nn.trainer.options import given_options

    args = argparse.Namespace(check_images=0, count_loss=0.0, dataset=None, target=None)
    names = ("target", "check_images", "count_loss", "dataset")
    assert given_options(args, names) == ["--check-images", "--count-loss"]


def test_own_data_that_is_not_there_is_refused_while_the_command_line_is_parsed(tmp_path):
    import argparse

    from bs4nn.trainer.options import dataset_spec

    (tmp_path / "mine.npz").write_bytes(b"")
    assert dataset_spec(str(tmp_path / "mine.npz")) == str(tmp_path / "mine.npz")
    for missing in (tmp_path / "none.npz", tmp_path / "idx"):
        with pytest.raises(argparse.ArgumentTypeError) as exc:
            dataset_spec(str(missing))
        assert str(exc.value) == f"no file or folder {str(missing)!r}"


@pytest.mark.parametrize(
    ("error", "strerror", "advice"),
    [
        (errno.ENOSPC, "No space left on device", "free space on the disk, or choose another path"),
        (
            errno.EDQUOT,
            "Disk quota exceeded",
            "free space within your quota, or choose another path",
        ),
        (errno.EIO, "Input/output error", "check the path, or choose another"),
    ],
    ids=["disk-full", "quota-full", "other"],
)
def test_a_write_that_finds_no_room_says_to_free_space(
    tmp_path, monkeypatch, error, strerror, advice
):
    from bs4nn.trainer.errors import Bs4nnError
    from bs4nn.trainer.files import write_json

    def fail(fd):
        raise OSError(error, strerror)

    monkeypatch.setattr(os, "fsync", fail)  # where a full disk or quota shows at the latest
    path = tmp_path / "report.json"
    with pytest.raises(Bs4nnError) as exc:
        write_json(path, {"a": 1})
    assert str(exc.value) == f"cannot write {path}: {strerror}; {advice}"
    assert list(tmp_path.iterdir()) == []


def test_an_output_file_named_dot_dot_is_a_folder_even_where_none_is(tmp_path):

    from bs4nn.trainer.errors import Bs4nnError
    from bs4nn.trainer.files import check_output

    out = tmp_path / "missing" / ".."
    with pytest.raises(Bs4nnError) as exc:
        check_output(out, "--out", folder=False)
    assert str(exc.value) == f"--out {out} is a folder; give a file name"
    assert not (tmp_path / "missing").exists()


def test_a_ctrl_c_while_a_file_is_written_leaves_the_old_file_and_no_part(tmp_path, monkeypatch):
    import os

    from bs4nn.trainer.files import write_json

    path = tmp_path / "report.json"
    path.write_text("old\n")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_json(path, {"new": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    assert path.read_text() == "old\n"


def test_a_staged_file_appears_whole_or_not_at_all(tmp_path):

    from bs4nn.trainer.files import staged_file, write_json

    path = tmp_path / "images.csv"
    with pytest.raises(KeyboardInterrupt), staged_file(path) as part:
        part.write_text("index\n0\n")
        raise KeyboardInterrupt  # cut short
    assert list(tmp_path.iterdir()) == []
    with staged_file(path) as part:
        part.write_text("index\n0\n")
    assert [p.name for p in tmp_path.iterdir()] == ["images.csv"]
    assert path.read_text() == "index\n0\n"
    write_json(tmp_path / "a.json", {"a": [1, 2]})
    assert (tmp_path / "a.json").read_text() == '{\n  "a": [\n    1,\n    2\n  ]\n}\n'


def test_an_output_that_is_another_name_for_the_input_is_refused(tmp_path):
    import os

    from bs4nn.trainer.errors import Bs4nnError
    from bs4nn.trainer.files import check_not_input

    model = tmp_path / "m.bs4nn"
    model.write_bytes(b"model")
    os.link(model, tmp_path / "hard.bs4nn")  # the same file, by a name of its own
    for out in (model, tmp_path / "hard.bs4nn", tmp_path / "." / "m.bs4nn"):
        with pytest.raises(Bs4nnError) as exc:
            check_not_input(out, model, "model", "NIR graph")
        assert str(exc.value) == "--out is the input model; give another file for the NIR graph"
    check_not_input(tmp_path / "m.nir", model, "model", "NIR graph")


def test_a_staged_folder_gets_the_mode_of_a_new_folder(tmp_path):
    import os

    from bs4nn.trainer.files import staged_dir

    mask = os.umask(0o022)
    try:
        with staged_dir(tmp_path / "fw") as tmp:
            (tmp / "Makefile").write_text("all:\n")
    finally:
        os.umask(mask)
    assert (tmp_path / "fw").stat().st_mode & 0o777 == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fw"]


def test_what_a_staged_folder_replaced_is_removed_once_signals_are_no_longer_held(
    tmp_path, monkeypatch
):
    """The renames hold Ctrl-C; the removal of what they replaced (maybe another board's whole
    build) comes after, so that a Ctrl-C during it comes out at once."""
    import contextlib
    import re
    import shutil

    from bs4nn.trainer import files

    events = []

    @contextlib.contextmanager
    def held():
        events.append("held")
        yield
        events.append("released")

    def rmtree(path, *args, **kwargs):
        events.append(re.sub(r"^\.fw\.[^.]+\.old$", "rmtree .fw.*.old", Path(path).name))
        real_rmtree(path, *args, **kwargs)

    real_rmtree = shutil.rmtree
    monkeypatch.setattr(files, "signals_held", held)
    monkeypatch.setattr(shutil, "rmtree", rmtree)
    (tmp_path / "fw" / "build").mkdir(parents=True)
    (tmp_path / "fw" / "build" / "firmware.elf").write_bytes(b"elf")
    with files.staged_dir(tmp_path / "fw", drop=("build",)) as tmp:
        (tmp / "Makefile").write_text("all:\n")
    assert events == ["held", "released", "rmtree .fw.*.old"]
    assert [p.name for p in tmp_path.iterdir()] == ["fw"]
    assert [p.name for p in (tmp_path / "fw").iterdir()] == ["Makefile"]


@pytest.mark.parametrize("suffix", ["old", "part"])
def test_a_staged_folder_removes_what_an_interrupted_one_left_beside_it(tmp_path, suffix):
    """What an earlier staged_dir of fw left beside it goes at the next one (a `.old` sibling:
    Ctrl-C while it removed what it replaced; `.part`: killed while it filled it); another
    folder's stays."""
    from bs4nn.trainer.files import staged_dir

    left = tmp_path / f".fw.k3j_9x2q.{suffix}"
    (left / "build").mkdir(parents=True)
    (left / "build" / "firmware.elf").write_bytes(b"elf")
    others = [f".fw.v2.k3j_9x2q.{suffix}", f".fw2.k3j_9x2q.{suffix}"]
    for name in others:
        (tmp_path / name).mkdir()
    (tmp_path / "fw").mkdir()
    with staged_dir(tmp_path / "fw") as tmp:
        (tmp / "Makefile").write_text("all:\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*others, "fw"])


def test_a_folder_another_run_stages_is_refused(tmp_path):
    """One run at a time stages a folder: a second is refused before it makes anything, named
    by its option; the first one's folder and leftovers are not touched."""
    import os

    from bs4nn.trainer.errors import Bs4nnError
    from bs4nn.trainer.files import exclusive_lock, staged_dir

    plots = tmp_path / "out" / "plots"
    plots.mkdir(parents=True)
    (tmp_path / "out" / ".plots.x7q2.part").mkdir()  # the other run's, being filled
    with exclusive_lock(tmp_path / "out" / ".plots.lock", "--plots", plots):
        with pytest.raises(Bs4nnError) as exc, staged_dir(plots, option="--plots"):
            pass
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
            ".plots.lock",
            ".plots.x7q2.part",
            "plots",
        ]
    assert str(exc.value) == (
        f"--plots {plots} is in use by another bs4nn run (pid {os.getpid()}); wait for it to "
        "finish, or choose another --plots"
    )


def test_a_written_file_gets_the_mode_of_a_new_file(tmp_path):
    import os

    from bs4nn.trainer.files import write_json

    mask = os.umask(0o022)
    try:
        write_json(tmp_path / "report.json", {})
    finally:
        os.umask(mask)
    assert (tmp_path / "report.json").stat().st_mode & 0o777 == 0o644


def test_a_lock_file_removed_before_it_was_locked_is_made_again(tmp_path, monkeypatch):
    # the run before held the lock and removed its file between our open and our flock
    import fcntl
    import os

    from bs4nn.trainer.files import exclusive_lock

    lock = tmp_path / ".m.bs4nn.lock"
    flock = fcntl.flock
    calls = []

    def flock_after_removal(fd, op):
        calls.append(op)
        if len(calls) == 1:
            lock.unlink()
        return flock(fd, op)

    monkeypatch.setattr(fcntl, "flock", flock_after_removal)
    with exclusive_lock(lock, "--out", Path("m.bs4nn")):
        assert lock.read_text() == f"{os.getpid()}\n"
    assert len(calls) == 2


def option_help(command: str, option: str) -> str:
    from bs4nn.cli import build_parser

    parser = build_parser()._subparsers._group_actions[0].choices[command]
    return next(a.help for a in parser._actions if option in a.option_strings)


def test_every_output_folder_help_says_what_its_refusal_lets_through(tmp_path):
    """A non-empty folder not a command's own is refused; each option's --help says which
    folders are taken, in the refusal's own words."""
    from bs4nn.codegen.export import EXPORT_FOLDER
    from bs4nn.demo import _demo_folder
    from bs4nn.host.bench import BENCH_FOLDER
    from bs4nn.host.eembc import EEMBC_FOLDER
    from bs4nn.host.sweep import SWEEP_FOLDER
    from bs4nn.trainer.commands import EVAL_FOLDER
    from bs4nn.trainer.errors import Bs4nnError
    from bs4nn.trainer.paper.run import PAPER_FOLDER

    (tmp_path / "mine.txt").write_text("x")
    folders = (BENCH_FOLDER, SWEEP_FOLDER, EEMBC_FOLDER, EXPORT_FOLDER, EVAL_FOLDER)
    for folder in (*folders, PAPER_FOLDER, _demo_folder()):
        with pytest.raises(Bs4nnError) as exc:
            folder.check(tmp_path)
        choices = str(exc.value).split("; choose ")[1]
        assert choices in option_help(folder.command, folder.option), folder.command
    assert option_help("bench", "--out") == (
        "report folder (default out/bench): an empty or new folder, or the --out of an earlier "
        "`bs4nn bench`"
    )
    assert option_help("paper", "--out") == (
        "output folder (default out/paper): an empty or new folder, or the --out of an earlier "
        "`bs4nn paper`"
    )
    assert option_help("eval", "--plots") == (
        "also write confusion.png, output_steps.png, decision_step_per_class.png and, for a "
        "model with a training history, training.png into DIR: an empty or new folder, or the "
        "--plots of an earlier `bs4nn eval`"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--epochs", "1"],
        [
            "calibrate",
            str(Path(__file__).resolve().parents[1] / "models" / "mnist-600.bs4nn"),
            "--max-mean-step",
            "40",
        ],
        ["import-nir", "graph.nir"],
    ],
    ids=["train", "calibrate", "import-nir"],
)
@pytest.mark.parametrize("name", ["sensors.npz", "notes.png"])
def test_a_model_is_not_saved_over_a_file_that_is_no_model(tmp_path, capsys, argv, name):
    # `train --out sensors.npz` (meant: --data) replaced the user's dataset with a model
    import zipfile

    from bs4nn.cli import main

    out = tmp_path / name
    if name.endswith(".npz"):
        with zipfile.ZipFile(out, "w") as zf:
            zf.writestr("x_train.npy", b"data")
    else:
        out.write_bytes(b"\x89PNG")
    before = out.read_bytes()
    assert main([*argv, "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"bs4nn {argv[0]}: error: --out {out} is a file but no bs4nn model, which saving would "
        "replace; give another file name\n"
    )
    assert out.read_bytes() == before
