"""Loading a bundle: read config.json, validate it, and check we can apply all of it."""

from __future__ import annotations

import os

from ..errors import ConfigError
from ..jsonenc import loads


class Bundle:
    """A validated bundle: its absolute path, its config and its absolute rootfs path."""

    def __init__(self, path: str, config: dict, rootfs: str):
        self.path = path
        self.config = config
        self.rootfs = rootfs


def load_bundle(path: str) -> Bundle:
    """Reads and checks ``<path>/config.json``; raises ConfigError naming what is wrong."""
    from .support import check_supported
    from .validate import validate_config

    path = os.path.abspath(path)
    if not os.path.isdir(path):
        raise ConfigError(f"bundle {path}: not a directory or does not exist")
    config_path = os.path.join(path, "config.json")
    try:
        with open(config_path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConfigError(f"{config_path}: no such file (is {path} an OCI bundle?)") from None
    except OSError as err:
        raise ConfigError(f"{config_path}: {err.strerror}") from None
    try:
        config = loads(raw)
    except ValueError as err:
        raise ConfigError(f"config.json: invalid JSON: {err}") from None
    validate_config(config)
    check_supported(config)
    rootfs = os.path.join(path, config["root"]["path"])
    if not os.path.isdir(rootfs):
        raise ConfigError(f"root.path: {rootfs} is not a directory or does not exist")
    return Bundle(path, config, os.path.realpath(rootfs))
