"""The numba kernel modules, imported when a kernel is first needed, not with the modules that
call them: numba takes about a second to import, which building the `bs4nn` parser (`--help`,
a usage error) and the commands that run no kernel (`bs4nn boards`) should not wait for."""

import importlib
from typing import Any


class LazyModule:
    """Stands for the module `name` (`kernels = LazyModule("bs4nn.trainer.kernels")`), which it
    imports when one of its attributes is first read. Every read goes to the module itself
    (~2 us), so a test's patch of one of its attributes is seen. An ordinary import, not
    importlib.util.LazyLoader: on Python 3.11 that one lets a second thread see the module
    half made, and keeps it half made when its import fails (e.g. on Ctrl-C)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"LazyModule({self._name!r})"
