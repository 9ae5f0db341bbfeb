"""Golden-byte tests of the NETLINK_AUDIT wire structs (x86_64, little endian)."""

from __future__ import annotations

import sys

import pytest

from exectrail.kernel.netlink import wire
from exectrail.kernel.netlink.wire import AuditRuleData, AuditRuleHeader, AuditStatus, NlMsgErr, NlMsgHdr
from exectrail.kernel.rules.rule import ALWAYS, FILTER_EXIT, OPERATORS, Rule, RuleField, syscall_mask

pytestmark = pytest.mark.skipif(sys.byteorder != "little", reason="golden bytes are little endian")


def words(*hex_words: str) -> bytes:
    return bytes.fromhex("".join(hex_words))


def zeros(n_words: int) -> str:
    return "00000000" * n_words


def test_struct_sizes_match_the_kernel() -> None:
    assert NlMsgHdr.size() == 16
    assert NlMsgErr.size() == 20
    assert AuditStatus.size() == 44
    assert AuditRuleHeader.size() == 1040


def test_get_request() -> None:
    assert wire.encode_message(wire.AUDIT_GET, wire.NLM_F_REQUEST, 7) == words(
        "10000000", "e803", "0100", "07000000", "00000000"
    )


def test_set_request_with_status_payload() -> None:
    status = AuditStatus(mask=wire.STATUS_ENABLED | wire.STATUS_BACKLOG_LIMIT, enabled=1, backlog_limit=8192)
    payload = status.pack()
    assert payload == words("11000000", "01000000", "00000000", "00000000", "00000000", "00200000", zeros(5))
    message = wire.encode_message(wire.AUDIT_SET, wire.NLM_F_REQUEST | wire.NLM_F_ACK, 0x01020304, payload)
    assert message[:16] == words("3c000000", "e903", "0500", "04030201", "00000000")
    assert message[16:] == payload


def test_status_reply_from_the_kernel() -> None:
    reply = words(
        "00000000", "00000000", "01000000", "00000000", "00000000",
        "40000000", "05000000", "00000000", "7f000000", "983a0000", "00000000",
    )  # fmt: skip
    status = AuditStatus.unpack(reply)
    assert (status.enabled, status.failure, status.pid, status.backlog_limit) == (0, 1, 0, 64)
    assert (status.lost, status.feature_bitmap, status.backlog_wait_time) == (5, 127, 15000)
    assert status.pack() == reply


@pytest.mark.parametrize("length", [32, 36, 40])
def test_status_tolerates_older_kernels(length: int) -> None:
    full = AuditStatus(enabled=1, failure=1, pid=42, backlog_limit=64, backlog_wait_time=15000,
                       backlog_wait_time_actual=9).pack()  # fmt: skip
    status = AuditStatus.unpack(full[:length])
    assert (status.enabled, status.pid, status.backlog_limit) == (1, 42, 64)
    assert status.backlog_wait_time_actual == 0
    assert status.backlog_wait_time == (15000 if length >= 40 else 0)


def test_other_structs_refuse_short_input() -> None:
    with pytest.raises(ValueError):
        NlMsgHdr.unpack(b"\0" * 15)
    with pytest.raises(ValueError):
        AuditRuleData.unpack(b"\0" * 1039)


def test_error_reply() -> None:
    body = words("ffffffff", "10000000", "e903", "0500", "09000000", "00000000")
    err = NlMsgErr.unpack(body)
    assert err.error == -1 and err.msg_type == wire.AUDIT_SET and err.msg_seq == 9


def test_iter_messages_splits_and_aligns() -> None:
    ack = words("24000000", "0200", "0000", "01000000", "00000000") + words(
        "00000000", "10000000", "e903", "0500", "01000000", "00000000"
    )
    done = words("14000000", "0300", "0200", "02000000", "00000000", "00000000")
    odd = words("11000000", "ea03", "0000", "03000000", "00000000") + b"x\0\0\0"
    parts = list(wire.iter_messages(ack + done + odd))
    assert [(h.type, h.seq, len(body)) for h, body in parts] == [(2, 1, 20), (3, 2, 4), (1002, 3, 1)]


def test_iter_messages_bad_length_takes_the_rest() -> None:
    datagram = words("ff000000", "ea03", "0000", "01000000", "00000000") + b"abc"
    [(header, body)] = list(wire.iter_messages(datagram))
    assert header.length == 255 and body == b"abc"


def test_unicast_record_length_quirk() -> None:
    text = b'audit(1732500000.123:4567): cwd="/root"'
    # unicast: nlmsg_len leaves out the 16-byte header
    unicast = words(f"{len(text):02x}000000", "1b05", "0000", "00000000", "00000000") + text
    assert wire.decode_record(unicast) == (1307, text)
    multicast = words(f"{len(text) + 16:02x}000000", "1b05", "0000", "00000000", "00000000") + text + b"\0"
    assert wire.decode_record(multicast) == (1307, text)


def test_procmon_rule_bytes() -> None:
    rule = Rule(
        FILTER_EXIT,
        ALWAYS,
        (RuleField(11, OPERATORS["="], 0xC000003E), RuleField(210, OPERATORS["="], b"procmon")),
        syscall_mask([59, 322]),
    )
    expected = words(
        "04000000", "02000000", "02000000",
        # mask: execve 59 = word 1 bit 27, execveat 322 = word 10 bit 2
        zeros(1), "00000008", zeros(8), "04000000", zeros(53),
        "0b000000", "d2000000", zeros(62),  # fields: arch, filterkey
        "3e0000c0", "07000000", zeros(62),  # values: AUDIT_ARCH_X86_64, key length
        "00000040", "00000040", zeros(62),  # fieldflags: AUDIT_EQUAL
        "07000000",  # buflen
    ) + b"procmon"  # fmt: skip
    assert rule.to_bytes() == expected
    assert Rule.from_bytes(expected) == rule
    data = AuditRuleData.unpack(expected)
    assert data.header.field_count == 2 and data.buf == b"procmon"
    assert data.pack() == expected


def test_rule_header_checks_array_sizes() -> None:
    with pytest.raises(ValueError):
        AuditRuleHeader(mask=(0,) * 3).pack()
