"""Where things are, defined once: the repository, the committed logs and stores under tests/."""

from __future__ import annotations

from pathlib import Path

SUPPORT = Path(__file__).resolve().parent
TESTS = SUPPORT.parent
REPO = TESTS.parent
#: the README (its first commands and its library example are run) and the reference pages it links
README = REPO / "README.md"
DOCS = REPO / "docs"

#: the service's restrictions reproduced without systemd, and MDWE set before exec (tests/package)
SANDBOX = SUPPORT / "sandbox.sh"
MDWE = SUPPORT / "mdwe.py"
#: C programs the kernel tests compile: an exec held inside execve, a copy of sleep run through fexecve
LATE_EXEC_C = SUPPORT / "late_exec.c"
FEXEC_C = SUPPORT / "fexec.c"

#: the audit logs seven other projects ship as test data (beside the clone, never copied into it)
PEER_LOGS = REPO.parent / "shared" / "peer-logs"

#: real logs captured with auditd (tests/data/capture.py) and their manifests; an old store
DATA = TESTS / "data"
#: real logs of configuration interference (tests/interference/capture.py)
INTERFERENCE_DATA = TESTS / "interference" / "data"

#: the three committed captures (ENRICHED, RAW with node, interleaved), in this order
CAPTURED_LOGS = [
    DATA / "workload_enriched.log",
    DATA / "workload_raw_node.log.gz",
    DATA / "interleaved_concurrent.log",
]
