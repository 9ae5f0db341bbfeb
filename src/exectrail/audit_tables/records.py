"""Audit record type numbers and names (``linux/audit.h``): one table for the parser and the rules."""

from __future__ import annotations

# Record types (linux/audit.h) that exectrail reads or reports; others print as UNKNOWN[n].
RECORD_TYPES: dict[int, str] = {
    1100: "USER_AUTH",
    1101: "USER_ACCT",
    1104: "CRED_ACQ",
    1105: "USER_START",
    1106: "USER_END",
    1112: "USER_LOGIN",
    1130: "SERVICE_START",
    1131: "SERVICE_STOP",
    1200: "DAEMON_START",
    1201: "DAEMON_END",
    1202: "DAEMON_ABORT",
    1203: "DAEMON_CONFIG",
    1204: "DAEMON_RECONFIG",
    1205: "DAEMON_ROTATE",
    1206: "DAEMON_RESUME",
    1207: "DAEMON_ACCEPT",
    1208: "DAEMON_CLOSE",
    1209: "DAEMON_ERR",
    1300: "SYSCALL",
    1302: "PATH",
    1303: "IPC",
    1304: "SOCKETCALL",
    1305: "CONFIG_CHANGE",
    1306: "SOCKADDR",
    1307: "CWD",
    1309: "EXECVE",
    1311: "IPC_SET_PERM",
    1312: "MQ_OPEN",
    1317: "FD_PAIR",
    1320: "EOE",
    1321: "BPRM_FCAPS",
    1322: "CAPSET",
    1323: "MMAP",
    1324: "NETFILTER_PKT",
    1325: "NETFILTER_CFG",
    1326: "SECCOMP",
    1327: "PROCTITLE",
    1328: "FEATURE_CHANGE",
    1329: "REPLACE",
    1330: "KERN_MODULE",
    1331: "FANOTIFY",
    1332: "TIME_INJOFFSET",
    1333: "TIME_ADJNTPVAL",
    1334: "BPF",
    1335: "EVENT_LISTENER",
    1336: "URINGOP",
    1337: "OPENAT2",
    1338: "DM_CTRL",
    1339: "DM_EVENT",
    1400: "AVC",
    1700: "ANOM_PROMISCUOUS",
    1701: "ANOM_ABEND",
    1702: "ANOM_LINK",
    1703: "ANOM_CREAT",
}

RECORD_NUMBERS: dict[str, int] = {name: num for num, name in RECORD_TYPES.items()}

EOE = 1320


def record_type_name(number: int) -> str:
    """``SYSCALL`` for 1300; ``UNKNOWN[9999]`` for numbers exectrail does not know (as auditd writes)."""
    name = RECORD_TYPES.get(number)
    return name if name is not None else f"UNKNOWN[{number}]"
