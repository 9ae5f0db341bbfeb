"""Everything the tests share that is not a test: paths, fixtures' code and the harnesses.

Where things are and how to run the CLI
    paths          REPO, DATA (tests/data), INTERFERENCE_DATA, CAPTURED_LOGS, the sandbox scripts
    captures       the committed captures' events and manifests
    cli            run_cli: the one CliRunner wrapper (the ``cli_runner`` fixture of the root conftest)
    ci             skip on a developer's machine, fail in CI
Material for tests
    kernel_format  audit records written as the kernel writes them
    strategies     hypothesis strategies for exec events
    damage         real logs cut into events and damaged
    cli_logs       hostile logs that try to drive the terminal
    nonutf8        an event, an alarm and a log with non-UTF-8 bytes
    logedit        real logs edited as an intruder would
    biglog         large logs made of the committed ones
    config_files   configuration files written safely
    fake_sinks     in-memory sinks for the delivery machinery
    sink_checks    what a forwarded event must look like at the receiver
Harnesses (real kernel, daemons, servers, packages, users)
    kernel         the ``kernel`` fixture: lock, snapshot, restore, check with auditctl
    kernel_lock    one machine-wide lock for whatever touches the kernel audit state
    auditd_harness a private auditd with the procmon rules (captures, benchmarks)
    auditd_session a private auditd tests stop, kill and interfere with
    live           a running ``exectrail watch`` beside auditd, the workload
    workload/      the workload programs, their recording and comparison with a review
    servers        rsyslog and ClickHouse on 127.0.0.1, and their session fixtures
    deb            the .deb built once per session; sandbox.sh and mdwe.py: the unit's restrictions
    late_exec.c    an exec held inside execve; fexec.c: sleep run through fexecve (kernel tests)
    install        fresh Debian roots and installing the .deb in them (freshroot)
    freshroot      a stock Debian 12 in a directory
    rootsafe_users run a piece of a test as root or as ``nobody``
    auparse_dump   python3-audit's auparse as a peer reader (run by the system python)
"""
