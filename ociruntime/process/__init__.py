"""The create pipeline: the runtime (parent) side and the container init side.

    runtime (create)  --fork-->  intermediate  --fork-->  init (PID 1 of a new PID namespace)

The intermediate enters the namespaces and the cgroup, forks the init (a new PID namespace
only applies to children) and exits.  Parent and init talk over a SOCK_SEQPACKET pair with
the messages of ``sync``.
"""
