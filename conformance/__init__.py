"""A runtime-spec conformance suite that drives any OCI runtime with runc's
command line (ociruntime, runc, crun, youki, ...).

Run ``python -m conformance --help``; see conformance/README.md.
The package is standalone: it uses the Python standard library only and
imports nothing from the ociruntime package or from tests/.
"""

__version__ = "1.0"
