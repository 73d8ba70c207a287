"""Parsing /proc/self/mountinfo (proc(5)): what is mounted where, with which options."""

class Mount:
    """One line of mountinfo.  (A plain class: typing.NamedTuple costs an import.)"""

    __slots__ = ("root", "mount_point", "options", "fstype", "source", "super_options")

    def __init__(self, root: str, mount_point: str, options: str, fstype: str, source: str,
                 super_options: str):
        self.root = root
        self.mount_point = mount_point
        self.options = options
        self.fstype = fstype
        self.source = source
        self.super_options = super_options


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape") if "\\" in field else field


def mounts(path: str = "/proc/self/mountinfo") -> list:
    result = []
    with open(path) as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-", 6)
            result.append(Mount(
                root=_unescape(fields[3]), mount_point=_unescape(fields[4]), options=fields[5],
                fstype=fields[sep + 1], source=_unescape(fields[sep + 2]),
                super_options=fields[sep + 3] if len(fields) > sep + 3 else "",
            ))
    return result
