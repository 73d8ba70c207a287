"""Build and install ociruntime: the package, its cffi shim, the static exec trampoline and
the compiled ``ociruntime`` launcher."""

import os
import subprocess
import sys

from setuptools import Distribution, setup
from setuptools.command.build_ext import build_ext

build_scripts = Distribution().get_command_class("build_scripts")  # newer setuptools: no module

TRAMPOLINE_SOURCE = "csrc/exec_trampoline.c"
TRAMPOLINE_NAME = "ociruntime-exec"
COMMIT_FILE = "COMMIT"
LAUNCHER_SOURCE = "csrc/launcher.c"
LAUNCHER_FLAGS = ["-O2", "-s", "-static", "-Wall", "-Werror"]
TRAMPOLINE_FLAGS = [
    "-Os", "-s", "-static", "-nostdlib", "-ffreestanding", "-fno-stack-protector",
    "-fno-builtin", "-fno-pie", "-no-pie", "-Wl,--build-id=none", "-Wall", "-Werror",
]


def source_commit() -> str:
    """The git commit being built (``--version``'s ``commit:`` line), or ``unknown``."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


class BuildWithTrampoline(build_ext):
    """Also compiles the freestanding exec trampoline next to the extension module, and
    records the commit built."""

    def run(self):
        super().run()
        package_dir = "ociruntime" if self.inplace else os.path.join(self.build_lib, "ociruntime")
        os.makedirs(package_dir, exist_ok=True)
        target = os.path.join(package_dir, TRAMPOLINE_NAME)
        compiler = os.environ.get("CC", "gcc")
        subprocess.check_call([compiler, *TRAMPOLINE_FLAGS, "-o", target, TRAMPOLINE_SOURCE])
        with open(os.path.join(package_dir, COMMIT_FILE), "w", encoding="ascii") as f:
            f.write(source_commit() + "\n")


class BuildLauncher(build_scripts):
    """The console script is compiled from csrc/launcher.c (why: see there), not copied: it
    starts the interpreter with -I -S -B, which a pip-generated ``#!python`` script cannot."""

    def run(self):
        self.mkpath(self.build_dir)
        if any(c in sys.executable for c in '"\\\n'):
            raise RuntimeError(f"unsupported interpreter path {sys.executable!r}")
        subprocess.check_call([os.environ.get("CC", "gcc"), *LAUNCHER_FLAGS,
                               f'-DBUILD_PYTHON="{sys.executable}"', "-o",
                               os.path.join(self.build_dir, "ociruntime"), LAUNCHER_SOURCE])


setup(
    name="ociruntime",
    version="0.1.0",
    description="An OCI runtime-spec compliant low-level container runtime in Python",
    python_requires=">=3.11",
    packages=["ociruntime", "ociruntime.spec", "ociruntime.cgroups", "ociruntime.process",
              "ociruntime.security", "ociruntime.schemas"],
    package_dir={"ociruntime.schemas": "schemas"},
    package_data={"ociruntime.schemas": ["*.json"]},
    setup_requires=["cffi>=1.15"],
    install_requires=["cffi>=1.15", "click>=8.1", "jsonschema>=4.18"],
    cffi_modules=["csrc/build_shim.py:ffibuilder"],
    cmdclass={"build_ext": BuildWithTrampoline, "build_scripts": BuildLauncher},
    scripts=[LAUNCHER_SOURCE],  # what build_scripts compiles into the ``ociruntime`` command
    zip_safe=False,
)
