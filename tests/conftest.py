import json
import signal
from pathlib import Path

import numpy as np
import pytest

from bs4nn.trainer import datasets
from bs4nn.trainer.fetch import fetch
from bs4nn.trainer.presets import DATASETS


def _good_copy(name: str, fname: str) -> Path | None:
    path = datasets.find_file(name, fname)
    if path is None or datasets.verify_file(path, name, fname) is not None:
        return None
    return path


@pytest.fixture(scope="session", autouse=True)
def ctrl_c_as_at_a_terminal() -> None:
    """Started in the background of a script (`make test &`, nohup), Python inherits SIGINT
    ignored and never installs its KeyboardInterrupt handler: the tests of Ctrl-C (in this
    process and in the bs4nn processes it starts) need the handler a terminal's run has."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def real_data() -> dict[tuple[str, str], Path]:
    """(dataset, file name) -> a verified copy of every MNIST and Fashion-MNIST file, found the
    way the product finds it ($BS4NN_DATA, then the user cache) or fetched into the user cache
    first, as `bs4nn data fetch NAME` does on a new user's machine."""
    found = {}
    for name in DATASETS:
        if any(_good_copy(name, fname) is None for fname in datasets.ALL_FILES):
            fetch(name)
        for fname in datasets.ALL_FILES:
            path = _good_copy(name, fname)
            assert path is not None, f"{name}/{fname} still missing after the fetch"
            found[(name, fname)] = path
    return found


@pytest.fixture(scope="session")
def data_dir(real_data, tmp_path_factory) -> Path:
    """A --data-dir folder holding both datasets (links to the verified copies)."""
    root = tmp_path_factory.mktemp("data")
    for (name, fname), path in real_data.items():
        link = root / name / (fname + (".gz" if path.suffix == ".gz" else ""))
        link.parent.mkdir(exist_ok=True)
        link.symlink_to(path)
    return root


@pytest.fixture
def interrupt_after_epoch_1():
    """f(train_run, out): run `train_run(out, on_epoch_end=...)`, stop it with Ctrl-C after the
    first epoch, check that the checkpoint is there and the model not."""
    from bs4nn.trainer.run import checkpoint_path

    def run(train_run, out: Path, first_epoch_seconds: float | None = None) -> None:
        """`first_epoch_seconds`: make the checkpoint say epoch 1 took that long."""

        def stop(epoch):
            if epoch == 1:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            train_run(out, on_epoch_end=stop)
        ckpt = checkpoint_path(out)
        assert ckpt.is_file() and not out.exists()
        if first_epoch_seconds is not None:
            with np.load(ckpt) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(arrays.pop("meta").tobytes().decode())
            meta["history"][0]["seconds"] = first_epoch_seconds
            with open(ckpt, "wb") as f:  # a file: np.savez would add .npz to a name
                np.savez(f, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)

    return run
