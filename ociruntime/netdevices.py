"""linux.netDevices (config-linux.md "Network Devices"): host interfaces moved into the
container's network namespace, over rtnetlink.

Imported only when the field is set.  The runtime side moves the devices (process/parent.py)
as soon as the init exists and before it goes on, so that hooks and the container's own
set-up already see them.  A move is one RTM_NEWLINK with IFLA_NET_NS_FD and IFLA_IFNAME:
the kernel moves the device, then renames it in the container's namespace (a new name
ending in ``%d`` is a template it completes; as a name taken there fails only after the
move, that is checked first).  The kernel drops a device's addresses when it changes
namespace; the spec wants its permanent, global-scope ones kept, so they are added again
on the other side, and the device is set up.

Nothing is done on delete (the spec forbids moving devices out): when the namespace goes
away, the kernel destroys virtual devices and returns physical ones to the initial
namespace.  A *failed* create moves them back, holding the namespace open meanwhile, so
that an init that already died cannot take them (a veth, say) with it.
"""

from __future__ import annotations

import errno
import os
import socket
import struct

from . import _shim
from .errors import ConfigError, OCIError

IFNAMSIZ = 16
RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_GETADDR = 16, 18, 20, 22
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x4, 0x200, 0x400, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
IFLA_IFNAME, IFLA_NET_NS_FD = 3, 28
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST, IFA_FLAGS = 1, 2, 4, 8
IFA_F_PERMANENT = 0x80
#: address flags a user sets (nodad, optimistic, homeaddress, mngtmpaddr, noprefixroute,
#: autojoin); the others are the kernel's own state
IFA_F_USER = 0x02 | 0x04 | 0x10 | 0x100 | 0x200 | 0x400
RT_SCOPE_UNIVERSE = 0
IFF_UP = 0x1

_HEADER = struct.Struct("=IHHII")   # struct nlmsghdr
_IFINFO = struct.Struct("=BxHiII")  # struct ifinfomsg
_IFADDR = struct.Struct("=BBBBI")   # struct ifaddrmsg
_RTA = struct.Struct("=HH")         # struct rtattr

#: an address to carry over: (family, prefix length, {IFA_* attribute: value})
Address = tuple[int, int, dict[int, bytes]]


def check(config: dict) -> None:
    """At create, before anything exists: valid names, the devices on the host, and a
    network namespace of the container's own to move them to."""
    from .namespaces import requested

    if "network" not in requested(config):
        raise ConfigError("linux.netDevices: the container has no network namespace of its own "
                          "to move devices to (add one to linux.namespaces)")
    targets: dict[str, str] = {}
    with Rtnl() as host:
        for host_name, entry in config["linux"]["netDevices"].items():
            path = f"linux.netDevices.{host_name}"
            _check_name(host_name, path)
            target = entry.get("name") or host_name
            _check_name(target, f"{path}.name")
            if target in targets and "%" not in target:
                raise ConfigError(f"{path}: {target!r} is also the container name of "
                                  f"linux.netDevices.{targets[target]}")
            targets[target] = host_name
            try:
                host.link(host_name)
            except OSError as err:
                raise ConfigError(f"{path}: not a network device of the host ({err.strerror})") from None


def _check_name(name: str, path: str) -> None:
    """What the kernel accepts as an interface name (dev_valid_name)."""
    if (not name or len(name.encode()) >= IFNAMSIZ or name in (".", "..")
            or any(c in name for c in "/:") or any(c.isspace() for c in name)):
        raise ConfigError(f"{path}: {name!r} is not a valid interface name (1-{IFNAMSIZ - 1} "
                          "bytes, no '/', ':' or white space)")


class MovedDevices:
    """The devices one create moved into the container's network namespace."""

    def __init__(self, netns_path: str):
        # holding the namespace keeps it, and the devices in it, alive if the init dies
        self.netns = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
        self.host_netns = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self.host = Rtnl()
        self.container = _opened_in(self.netns)
        #: (host name, name in the container, host flags, host addresses), in move order
        self.moved: list[tuple[str, str, int, list[Address]]] = []

    def move_in(self, devices: dict) -> None:
        for host_name, entry in devices.items():
            wanted = entry.get("name") or host_name
            try:
                index, flags = self.host.link(host_name)
                addresses = self.host.addresses(index)
                before = self.container.names()
                if "%" not in wanted and wanted in before:
                    raise OCIError(f"linux.netDevices.{host_name}.name: {wanted!r} is already a "
                                   "device of the container's network namespace")
                # the name it has in the container if the move fails half-way: the kernel
                # renames after moving, unless the host name is taken there
                self.moved.append((host_name, wanted if host_name in before else host_name,
                                   flags, addresses))
                self.host.move(index, self.netns, wanted)
                # a template ("eth%d") was completed by the kernel: the one new name
                name = (self.container.names() - before).pop() if "%" in wanted else wanted
                self.moved[-1] = (host_name, name, flags, addresses)
                _configure(self.container, name, addresses, up=True)
            except OSError as err:
                raise OCIError(f"linux.netDevices.{host_name}: moving it into the container's "
                               f"network namespace: {err.strerror}") from None

    def restore(self) -> None:
        """Moves the devices back to the host, with their names, addresses and state
        (best effort: this runs while a create is failing anyway)."""
        for host_name, name, flags, addresses in reversed(self.moved):
            try:
                index, _ = self.container.link(name)
                self.container.move(index, self.host_netns, host_name)
                _configure(self.host, host_name, addresses, up=bool(flags & IFF_UP))
            except OSError:
                pass  # never arrived, or cannot go back: nothing more to do here
        self.moved = []

    def close(self) -> None:
        self.host.close()
        self.container.close()
        os.close(self.netns)
        os.close(self.host_netns)


def _configure(rtnl: Rtnl, name: str, addresses: list[Address], up: bool) -> None:
    index, _ = rtnl.link(name)
    for address in addresses:
        rtnl.add_address(index, address)
    if up:
        rtnl.set_up(index)


def _opened_in(netns: int) -> Rtnl:
    """A netlink socket of namespace ``netns``: a socket stays in the namespace it was
    made in, so the runtime enters it for that moment only."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _shim.setns(netns, _shim.CLONE_NEWNET)
        try:
            return Rtnl()
        finally:
            _shim.setns(home, _shim.CLONE_NEWNET)
    finally:
        os.close(home)


class Rtnl:
    """A NETLINK_ROUTE socket, in the network namespace it was opened in."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                  socket.NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def request(self, kind: int, flags: int, body: bytes) -> list[tuple[int, bytes]]:
        """Sends one request; returns the (type, payload) answers up to the ACK or the end
        of the dump; a netlink error becomes OSError."""
        self.seq += 1
        self.sock.send(_HEADER.pack(_HEADER.size + len(body), kind, NLM_F_REQUEST | flags,
                                    self.seq, 0) + body)
        answers = []
        while True:
            data = self.sock.recv(1 << 16)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, rtype, _, seq, _ = _HEADER.unpack_from(data, offset)
                payload = data[offset + _HEADER.size:offset + length]
                offset += _align(length)
                if seq != self.seq:
                    continue
                if rtype == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0]
                    if code:
                        raise OSError(code, os.strerror(code))
                    return answers
                if rtype == NLMSG_DONE:
                    return answers
                answers.append((rtype, payload))

    def link(self, name: str) -> tuple[int, int]:
        """(index, flags) of the device called ``name``."""
        body = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + _attr(IFLA_IFNAME, _c_string(name))
        for kind, payload in self.request(RTM_GETLINK, NLM_F_ACK, body):
            if kind == RTM_NEWLINK:
                _, _, index, flags, _ = _IFINFO.unpack_from(payload)
                return index, flags
        raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))

    def names(self) -> set[str]:
        """The names of all devices of the namespace."""
        found = set()
        for kind, payload in self.request(RTM_GETLINK, NLM_F_DUMP,
                                          _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
            name = _attributes(payload, _IFINFO.size).get(IFLA_IFNAME)
            if kind == RTM_NEWLINK and name:
                found.add(name.rstrip(b"\0").decode())
        return found

    def addresses(self, index: int) -> list[Address]:
        """The permanent, global-scope addresses of device ``index`` (RFC 3549 2.3.3.2)."""
        kept = []
        for _, payload in self.request(RTM_GETADDR, NLM_F_DUMP,
                                       _IFADDR.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
            family, prefix, flags, scope, owner = _IFADDR.unpack_from(payload)
            attrs = _attributes(payload, _IFADDR.size)
            if IFA_FLAGS in attrs:
                flags = struct.unpack("=I", attrs[IFA_FLAGS])[0]
            if owner == index and scope == RT_SCOPE_UNIVERSE and flags & IFA_F_PERMANENT:
                kept.append((family, prefix, {key: value for key, value in attrs.items()
                                              if key in (IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST)}
                             | {IFA_FLAGS: struct.pack("=I", flags & IFA_F_USER)}))
        return kept

    def add_address(self, index: int, address: Address) -> None:
        family, prefix, attrs = address
        body = _IFADDR.pack(family, prefix, 0, RT_SCOPE_UNIVERSE, index)
        body += b"".join(_attr(key, value) for key, value in attrs.items())
        self.request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body)

    def move(self, index: int, netns: int, name: str) -> None:
        """Moves device ``index`` to the namespace of fd ``netns``, renamed ``name``."""
        body = (_IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0)
                + _attr(IFLA_NET_NS_FD, struct.pack("=I", netns))
                + _attr(IFLA_IFNAME, _c_string(name)))
        self.request(RTM_NEWLINK, NLM_F_ACK, body)

    def set_up(self, index: int) -> None:
        self.request(RTM_NEWLINK, NLM_F_ACK, _IFINFO.pack(socket.AF_UNSPEC, 0, index, IFF_UP, IFF_UP))


def _align(length: int) -> int:
    return (length + 3) & ~3


def _c_string(text: str) -> bytes:
    return text.encode() + b"\0"


def _attr(kind: int, value: bytes) -> bytes:
    raw = _RTA.pack(_RTA.size + len(value), kind) + value
    return raw + b"\0" * (_align(len(raw)) - len(raw))


def _attributes(payload: bytes, offset: int) -> dict[int, bytes]:
    found = {}
    while offset + _RTA.size <= len(payload):
        length, kind = _RTA.unpack_from(payload, offset)
        if length < _RTA.size:
            break
        found[kind] = payload[offset + _RTA.size:offset + length]
        offset += _align(length)
    return found
