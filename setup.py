"""Build and install ociruntime: the package, its cffi shim and the static exec trampoline."""

import os
import subprocess

from setuptools import setup
from setuptools.command.build_ext import build_ext

TRAMPOLINE_SOURCE = "csrc/exec_trampoline.c"
TRAMPOLINE_NAME = "ociruntime-exec"
TRAMPOLINE_FLAGS = [
    "-Os", "-s", "-static", "-nostdlib", "-ffreestanding", "-fno-stack-protector",
    "-fno-builtin", "-fno-pie", "-no-pie", "-Wl,--build-id=none", "-Wall", "-Werror",
]


def launcher() -> str:
    """The ``ociruntime`` script: what pip would generate for an entry point, minus its
    ``import re`` (10 ms of every runtime call).  pip points ``#!python`` at the install's
    interpreter, so engines with an empty PATH run it fine."""
    path = os.path.join("build", "launcher", "ociruntime")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="ascii") as f:
        f.write("#!python\nfrom ociruntime.commands import main\n\nmain()\n")
    os.chmod(path, 0o755)
    return path


class BuildWithTrampoline(build_ext):
    """Also compiles the freestanding exec trampoline next to the extension module."""

    def run(self):
        super().run()
        package_dir = "ociruntime" if self.inplace else os.path.join(self.build_lib, "ociruntime")
        os.makedirs(package_dir, exist_ok=True)
        target = os.path.join(package_dir, TRAMPOLINE_NAME)
        compiler = os.environ.get("CC", "gcc")
        subprocess.check_call([compiler, *TRAMPOLINE_FLAGS, "-o", target, TRAMPOLINE_SOURCE])


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
    cmdclass={"build_ext": BuildWithTrampoline},
    scripts=[launcher()],
    zip_safe=False,
)
