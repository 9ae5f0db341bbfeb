"""The exec workload: C helpers, the case runner, capture with auditd and manifest comparison."""
