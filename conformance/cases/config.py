"""config.md: annotations, extensibility and valid values;
runtime-linux.md: file descriptors."""

import json
import os

from ..registry import case
from .common import CHECKER


@case("annotations.in-state", "config.md#annotations")
def _(t):
    "The config's annotations are the state's `annotations`."
    ann = {"com.example.key": "value", "org.ocic.empty": "", "com.example.unicode": "ünï ✓"}
    b = t.bundle(annotations=ann)
    t.created(b, ["sleep", "300"])
    st = t.state(b.id)
    t.expect(st.get("annotations") == ann, f"annotations in state: {st.get('annotations')!r}")


@case("annotations.absent", "runtime.md#state", "MAY")
def _(t):
    "Without annotations the state's `annotations` is absent or an empty map."
    b = t.bundle()
    t.created(b, ["sleep", "300"])
    st = t.state(b.id)
    t.expect(st.get("annotations", {}) == {}, f"annotations: {st.get('annotations')!r}")


@case("annotations.in-hook-state", "config.md#annotations")
def _(t):
    "Hooks get the annotations in the state on stdin."
    ann = {"com.example.hook": "yes"}
    b = t.with_hook_log(t.bundle([CHECKER, "sleep=300"], annotations=ann))
    b.config["hooks"] = {"createRuntime": [t.hook(b, "cr")]}
    b.write()
    t.create(b)
    entries = [e for e in t.hook_log(b) if e["name"] == "cr"]
    t.expect(entries, "the hook did not run")
    st = json.loads(entries[0]["stdin"])
    t.expect(st.get("annotations") == ann, f"annotations on stdin: {st.get('annotations')!r}")


@case("config.unknown-properties-ignored", "config.md#extensibility")
def _(t):
    "Unknown properties (top level, process, linux, mounts) MUST be ignored, not errors."
    b = t.bundle()
    b.config["ocicUnknown"] = {"x": [1, 2]}
    b.process["ocicUnknown"] = True
    b.linux["ocicUnknown"] = "value"
    b.config["mounts"][0]["ocicUnknown"] = 1
    t.check(b, "cwd=/")


@case("config.older-minor-version", "config.md#specification-version")
def _(t):
    "A config of an earlier 1.x version (1.0.0) is accepted."
    b = t.bundle()
    b.config["ociVersion"] = "1.0.0"
    t.check(b, "cwd=/")


@case("config.invalid-namespace-type-error", "config.md#valid-values")
def _(t):
    "An invalid value (namespace type `ocicfoo`) MUST make create fail."
    b = t.bundle(["true"])
    b.linux["namespaces"].append({"type": "ocicfoo"})
    b.write()
    t.expect_error(t.create(b, check=False), "create with namespace type 'ocicfoo'")


@case("config.invalid-seccomp-action-error", "config.md#valid-values")
def _(t):
    "An invalid seccomp action MUST make create fail."
    b = t.bundle(["true"])
    b.linux["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                          "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_OCIC"}]}
    b.write()
    t.expect_error(t.create(b, check=False), "create with seccomp action 'SCMP_ACT_OCIC'")


@case("fds.only-stdio", "runtime-linux.md#file-descriptors")
def _(t):
    "Only stdin, stdout and stderr are open in the container process (an fd the runtime inherited is not)."
    b = t.bundle([CHECKER, "fds=0,1,2"])
    fd = os.open(str(t.dir), os.O_RDONLY)
    try:
        t.create(b, pass_fds=(fd,))
    finally:
        os.close(fd)
    pid = t.container_pid(b)
    t.start(b.id)
    t.wait_exit(pid)
    t.verdict(b.output(), b)
