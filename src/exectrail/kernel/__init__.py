"""The kernel's audit subsystem: netlink messages and the client, audit rules, and the state
(status and rules) that watch changes and restores."""
