"""Record parsing and value decoding, on lines captured from auditd on this machine."""

from __future__ import annotations

import pytest

from exectrail.parse.fields import (
    BadValue,
    decode_proctitle,
    decode_text,
    decode_value,
    encode_value,
    split_fields,
)
from exectrail.parse.record import MalformedRecord, parse_line, parse_netlink
from exectrail.parse.types import record_type_name

ENRICHED = (
    b"type=SYSCALL msg=audit(1795617647.510:8): arch=c000003e syscall=59 success=yes exit=0 a0=559c74202380 "
    b"a1=559c741e2aa0 a2=559c741e5ba0 a3=9dab4000206351ea items=2 ppid=3056 pid=3114 auid=4294967295 uid=0 "
    b'gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="echo" '
    b'exe="/usr/bin/echo" key="procmon"\x1dARCH=x86_64 SYSCALL=execve AUID="unset" UID="root" GID="root"\n'
)


def test_enriched_line_keeps_only_the_raw_part() -> None:
    rec = parse_line(ENRICHED)
    assert rec.type == "SYSCALL"
    assert rec.key == b"1795617647.510:8"
    assert (rec.seconds, rec.milliseconds, rec.serial) == (1795617647, 510, 8)
    assert rec.node is None
    assert rec.body.endswith(b'key="procmon"')
    assert b"\x1d" not in rec.body and b"ARCH=" not in rec.body


def test_raw_line_and_node_prefix() -> None:
    rec = parse_line(b'node=web-1 type=CWD msg=audit(1795617647.510:8): cwd="/tmp/ac"\n')
    assert (rec.node, rec.type, rec.body) == ("web-1", "CWD", b'cwd="/tmp/ac"')


def test_unknown_type_header() -> None:
    rec = parse_line(b"type=UNKNOWN[1334] msg=audit(1795617647.510:9): prog-id=12 op=LOAD\n")
    assert rec.type == "UNKNOWN[1334]"
    assert split_fields(rec.body) == {b"prog-id": b"12", b"op": b"LOAD"}


def test_netlink_text_form_with_numeric_type() -> None:
    rec = parse_netlink(1309, b'audit(1795617647.510:8): argc=2 a0="ls" a1="-l"\x00')
    assert (rec.type, rec.key, rec.body) == ("EXECVE", b"1795617647.510:8", b'argc=2 a0="ls" a1="-l"')
    assert parse_netlink(1320, b"audit(1795617647.510:8): ").type == "EOE"
    assert record_type_name(9999) == "UNKNOWN[9999]"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"\n", "empty line"),
        (b"hello world\n", "does not start with type= or node="),
        (b"type=SYSCALL arch=c000003e\n", "no msg=audit(SECONDS.MS:SERIAL) header"),
        (b"type=SYSCALL msg=audit(1795617647.5", "truncated or damaged header"),
        (b"\x00\x01\x02type=SYSCALL", "binary data (NUL bytes)"),
    ],
)
def test_malformed_lines_say_why(line: bytes, reason: str) -> None:
    with pytest.raises(MalformedRecord) as caught:
        parse_line(line)
    assert caught.value.kind == "malformed-line"
    assert caught.value.reason == reason


def test_values_with_equals_spaces_and_field_lookalikes() -> None:
    body = (
        b'argc=5 a0="a=b" a1="key=procmon" a2="type=EXECVE" a3=6869207468657265 a4=""'
        b" msg='op=PAM:session_open acct=\"root\" res=success'"
    )
    fields = split_fields(body)
    assert decode_value(fields[b"a0"]) == b"a=b"
    assert decode_value(fields[b"a1"]) == b"key=procmon"
    assert decode_value(fields[b"a2"]) == b"type=EXECVE"
    assert decode_value(fields[b"a3"]) == b"hi there"
    assert decode_value(fields[b"a4"]) == b""
    assert fields[b"msg"] == b"'op=PAM:session_open acct=\"root\" res=success'"
    assert b"key" not in fields and b"acct" not in fields


def test_decode_null_hex_and_non_utf8() -> None:
    assert decode_value(b"(null)") is None
    assert decode_value(b'"(null)"') == b"(null)"
    assert decode_value(b"FF00C3A9") == b"\xff\x00\xc3\xa9"
    with pytest.raises(BadValue):
        decode_value(b"not-hex")
    text = decode_text(b"2F746D702FFF")
    assert text is not None and text.encode("utf-8", "surrogateescape") == b"/tmp/\xff"


def test_proctitle_nul_separated() -> None:
    assert decode_proctitle(b"6C73002D6C61002F746D70") == "ls -la /tmp"
    assert decode_proctitle(b'"bash"') == "bash"


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        (b"-la", b'"-la"'),
        (b"hello world", b"68656C6C6F20776F726C64"),
        (b'say "hi"', b"7361792022686922"),
        (b"", b'""'),
        (b"\x7f", b"7F"),
        ("é".encode(), b"C3A9"),
    ],
)
def test_encode_value_follows_the_kernel_rule(raw: bytes, encoded: bytes) -> None:
    assert encode_value(raw) == encoded
    assert decode_value(encoded) == raw
