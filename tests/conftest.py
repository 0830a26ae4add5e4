import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "datasets"


@pytest.fixture(scope="session", autouse=True)
def _shared_data_env():
    """Tests read the real IDX files from ../shared/datasets unless BS4NN_DATA says otherwise."""
    if "BS4NN_DATA" not in os.environ and SHARED_DATA.is_dir():
        os.environ["BS4NN_DATA"] = str(SHARED_DATA)
    yield


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return Path(os.environ.get("BS4NN_DATA", SHARED_DATA))


@pytest.fixture
def interrupt_after_epoch_1():
    """f(train_run, out): run `train_run(out, on_epoch_end=...)`, stop it with Ctrl-C after the
    first epoch, check that the checkpoint is there and the model not."""
    from trainer.train import checkpoint_path

    def run(train_run, out: Path) -> None:
        def stop(epoch):
            if epoch == 1:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            train_run(out, on_epoch_end=stop)
        assert checkpoint_path(out).is_file() and not out.exists()

    return run
