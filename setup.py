"""Build and install ociruntime: the package, its cffi shim and the static exec trampoline."""

import os
import subprocess

from setuptools import setup
from setuptools.command.build_ext import build_ext

TRAMPOLINE_SOURCE = "csrc/exec_trampoline.c"
TRAMPOLINE_NAME = "ociruntime-exec"
COMMIT_FILE = "COMMIT"
TRAMPOLINE_FLAGS = [
    "-Os", "-s", "-static", "-nostdlib", "-ffreestanding", "-fno-stack-protector",
    "-fno-builtin", "-fno-pie", "-no-pie", "-Wl,--build-id=none", "-Wall", "-Werror",
]


def launcher() -> str:
    """The ``ociruntime`` script: what pip would generate for an entry point, minus its
    ``import re`` (10 ms of every runtime call).  pip points ``#!python`` at the install's
    interpreter, so engines with an empty PATH run it fine.  It never writes bytecode: an
    engine's call must not change the installed package (nor fail where it is read-only);
    pip compiles it at install time.  (``#!python -B`` would not do: pip drops the flags.)"""
    path = os.path.join("build", "launcher", "ociruntime")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="ascii") as f:
        f.write("#!python\nimport sys\n\nsys.dont_write_bytecode = True\n"
                "from ociruntime.commands import main  # noqa: E402\n\nmain()\n")
    os.chmod(path, 0o755)
    return path


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
