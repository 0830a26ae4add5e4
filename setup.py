"""The build hook of the distribution configured in pyproject.toml: the wheel is built from an
emptied build/lib. setuptools keeps build/ in the source folder between builds and only adds to
it, so a source file removed or renamed since an earlier `pip install .` of this checkout would
ship again from there, and `bs4nn export` copies (and renders) every file of the firmware
folders."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class FreshBuildPy(build_py):
    def run(self) -> None:
        if not self.editable_mode:  # an editable install links the sources
            shutil.rmtree(Path(self.build_lib) / "bs4nn", ignore_errors=True)
        super().run()


setup(cmdclass={"build_py": FreshBuildPy})
