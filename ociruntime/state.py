"""The state directory under ``--root``: one directory per container.

Layout of ``<root>/<id>/``:
  ``state``       what ``create`` recorded, in ``marshal`` format (written atomically, renamed
                  over the old file).  Private to this runtime: engines read the ``state``
                  command's JSON.  marshal, because ``json`` pulls in ``re`` and costs 11 ms
                  of every ``start``, ``kill`` and ``delete``; its format is stable across
                  Python 3 releases for the plain types stored here
  ``init.sock``   the listening socket of a created container's init; ``start`` connects to
                  it and removes it, so its presence means "created, not yet started"

The live status is never trusted from the file alone: it is derived from the init's
``/proc/<pid>/stat`` (alive, zombie, and start time to guard against PID reuse).
"""

import fcntl
import marshal
import os

from .errors import ContainerExistsError, ContainerNotFoundError, OCIError

STATE_FILE = "state"
INIT_SOCKET = "init.sock"
_ID_PUNCTUATION = set("_+-.")

CREATING, CREATED, RUNNING, PAUSED, STOPPED = "creating", "created", "running", "paused", "stopped"


def check_id(container_id: str) -> None:
    """Rejects IDs that could escape the state root or are not portable (runc's rule)."""
    valid = all(c.isalnum() or c in _ID_PUNCTUATION for c in container_id)
    if not container_id or not valid or container_id in (".", ".."):
        raise OCIError(f"invalid container id {container_id!r}: use letters, digits, '_', '+', '-', '.'")


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = data[data.rindex(b")") + 2:].split()
    return fields[0].decode(), int(fields[19])


class Container:
    """A container's recorded state plus where it lives on disk."""

    def __init__(self, directory: str, data: dict):
        self.directory = directory
        self.data = data

    @property
    def id(self) -> str:
        return self.data["id"]

    @property
    def pid(self) -> int:
        return self.data.get("pid", 0)

    @property
    def config(self) -> dict:
        return self.data["config"]

    def init_alive(self) -> bool:
        """True while the init runs (a zombie or a recycled PID counts as exited)."""
        if not self.pid:
            return False
        stat = proc_stat(self.pid)
        return stat is not None and stat[0] not in "ZX" and stat[1] == self.data.get("start_time")

    def frozen(self) -> bool:
        """True while the container's cgroup is asked to be frozen (``pause``): one small
        file, named by the cgroup manager at ``create``."""
        path = self.data.get("cgroup", {}).get("freeze_file")
        if not path:
            return False
        try:
            with open(path, "rb") as f:
                return f.read(1) == b"1"
        except OSError:
            return False

    def status(self) -> str:
        recorded = self.data["status"]
        if recorded == CREATING:
            return CREATING
        if not self.init_alive():
            return STOPPED
        if self.frozen():
            return PAUSED
        if os.path.exists(os.path.join(self.directory, INIT_SOCKET)):
            return CREATED
        return RUNNING

    def oci_state(self) -> dict:
        """The state document of the runtime-spec (plus rootfs/created/owner, as runc)."""
        status = self.status()
        state = {
            "ociVersion": self.config.get("ociVersion", ""),
            "id": self.id,
            "pid": self.pid if status != STOPPED else 0,
            "status": status,
            "bundle": self.data["bundle"],
            "rootfs": self.data["rootfs"],
            "created": self.data["created"],
            "owner": "",
        }
        if self.config.get("annotations"):
            state["annotations"] = self.config["annotations"]
        return state

    def save(self) -> None:
        write_atomic(os.path.join(self.directory, STATE_FILE), marshal.dumps(self.data))


def write_atomic(path: str, content: str | bytes, mode: int = 0o600) -> None:
    """Writes a file so readers see either the old or the whole new content."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, content.encode() if isinstance(content, str) else content)
    finally:
        os.close(fd)
    os.rename(tmp, path)


class StateStore:
    """All containers under one ``--root`` directory."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)

    def directory(self, container_id: str) -> str:
        check_id(container_id)
        return os.path.join(self.root, container_id)

    def check_free(self, container_id: str) -> None:
        if os.path.exists(self.directory(container_id)):
            raise ContainerExistsError(container_id)

    def create(self, container_id: str) -> str:
        """Claims an ID: the mkdir is the atomic test that it was free."""
        directory = self.directory(container_id)
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            raise ContainerExistsError(container_id) from None
        return directory

    def load(self, container_id: str) -> Container:
        directory = self.directory(container_id)
        try:
            with open(os.path.join(directory, STATE_FILE), "rb") as f:
                data = marshal.load(f)
        except (FileNotFoundError, NotADirectoryError):
            raise ContainerNotFoundError(container_id) from None
        except (ValueError, EOFError, TypeError) as err:
            raise OCIError(f"container {container_id}: corrupt state file: {err}") from None
        return Container(directory, data)

    def lock(self, container_id: str) -> int:
        """An exclusive lock on the container, held until the returned fd is closed."""
        try:
            fd = os.open(self.directory(container_id), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ContainerNotFoundError(container_id) from None
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def remove(self, container_id: str) -> None:
        """Removes the container's directory (files and the notify directory: shutil costs
        10 ms to import)."""
        try:
            _remove_tree(self.directory(container_id))
        except FileNotFoundError:
            pass

    def list(self) -> list[Container]:
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []
        containers = []
        for name in names:
            try:
                containers.append(self.load(name))
            except OCIError:
                continue
        return containers


def _remove_tree(directory: str) -> None:
    for entry in os.scandir(directory):
        if entry.is_dir(follow_symlinks=False):
            _remove_tree(entry.path)
        else:
            os.unlink(entry.path)
    os.rmdir(directory)
