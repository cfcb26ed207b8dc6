"""Serializing an outgoing message straight to SMTP wire bytes (RFC 5322 / MIME, CRLF).

Why not `email.message.EmailMessage`: building one and flattening it costs about 1.2 ms of CPU
per message (its header registry parses every header it is given, and creates a class per
header), which capped SMTP dispatch far below what one plain `smtplib` connection sends. The
messages we send have a fixed, simple shape — addresses already validated by the enqueue path,
a text and/or HTML body — so they are written directly here, using the standard library for the
parts that need care: RFC 2047 encoded words for non-ASCII unstructured headers and display
names (`email.header`), quoted-printable UTF-8 bodies (`email.charset`), `Date` and `Message-ID`
(`email.utils`). The result parses back with `email.message_from_bytes(…, policy=default)` to
the same headers and bodies the EmailMessage path produced (see tests/backends).

Rules kept from before: a header value with a line break is refused (`ValueError`, header
injection); Bcc never appears in the headers (the envelope carries it); an address whose
addr-spec is not ASCII is written as UTF-8 and the message needs SMTPUTF8 (`Wire.utf8`).
"""

from __future__ import annotations

import email.charset
import email.header
import email.utils
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

MAX_LINE = 78  # recommended header line length (RFC 5322 2.1.1); 998 is the hard limit
MAX_BODY_LINE = 998
_UTF8_QP = email.charset.Charset("utf-8")
_UTF8_QP.header_encoding = email.charset.QP
_UTF8_QP.body_encoding = email.charset.QP
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII but ':'
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Wire:
    """A message ready for DATA: its bytes, its Message-ID, and whether it needs SMTPUTF8."""

    data: bytes
    message_id: str
    utf8: bool


def _no_break(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"header {name} contains a line break")
    return value


def _unstructured(name: str, value: str) -> str:
    """`Name: value`, folded, with RFC 2047 encoded words when the value is not ASCII."""
    _no_break(name, value)
    line = f"{name}: {value}"
    if value.isascii() and len(line) <= MAX_LINE:
        return line
    charset = "us-ascii" if value.isascii() else _UTF8_QP
    encoded = email.header.Header(value, charset, header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded}"


def _address(value: str) -> tuple[str, bool]:
    """One address as written in a header, and whether it needs SMTPUTF8."""
    _no_break("address", value)
    if value.isascii():
        return value, False
    name, addr = email.utils.parseaddr(value)
    if not addr:
        raise ValueError(f"cannot parse the address {value!r}")
    if name and not name.isascii():
        encoded = email.header.Header(name, _UTF8_QP).encode()
        value = f"{encoded} <{addr}>"
    elif name:
        value = email.utils.formataddr((name, addr))
    else:
        value = addr
    return value, not addr.isascii()


def _address_header(name: str, addresses: Sequence[str]) -> tuple[str, bool]:
    """`Name: a, b, …` folded after the commas; and whether any addr-spec needs SMTPUTF8."""
    parts: list[str] = []
    utf8 = False
    for raw in addresses:
        text, needs = _address(raw)
        parts.append(text)
        utf8 = utf8 or needs
    line = f"{name}: {', '.join(parts)}"
    if len(line) <= MAX_LINE:
        return line, utf8
    lines, current = [], f"{name}: {parts[0]}"
    for part in parts[1:]:
        if len(current) + 2 + len(part) > MAX_LINE:
            lines.append(current + ",")
            current = " " + part
        else:
            current += ", " + part
    lines.append(current)
    return "\r\n".join(lines), utf8


def _text_part(content: str, subtype: str) -> tuple[list[str], str]:
    """Content headers and the encoded body (ending in CRLF, as `set_content` ends content with a
    line break): 7bit when it can be, else quoted-printable UTF-8."""
    lines = _LINE_BREAK.split(content)
    if lines[-1] == "":
        lines.pop()
    if content.isascii() and all(len(line) <= MAX_BODY_LINE for line in lines):
        body = "\r\n".join(lines)
        headers = [f'Content-Type: text/{subtype}; charset="us-ascii"',
                   "Content-Transfer-Encoding: 7bit"]  # fmt: skip
    else:
        body = _LINE_BREAK.sub("\r\n", _UTF8_QP.body_encode("\n".join(lines)) or "")
        headers = [f'Content-Type: text/{subtype}; charset="utf-8"',
                   "Content-Transfer-Encoding: quoted-printable"]  # fmt: skip
    return headers, body + "\r\n"


def _boundary(bodies: Iterable[str]) -> str:
    while True:
        boundary = "===============" + secrets.token_hex(12) + "=="
        if not any(boundary in b for b in bodies):
            return boundary


def serialize(
    *,
    message_no: int,
    from_addr: str,
    to: Sequence[str],
    cc: Sequence[str],
    reply_to: str | None,
    subject: str,
    text: str | None,
    html: str | None,
    headers: Iterable[tuple[str, str]],
    tag: str | None,
    now: datetime,
    msgid_domain: str,
) -> Wire:
    """The message as wire bytes (CRLF line ends; the SMTP client dot-stuffs it)."""
    utf8 = False
    out: list[str] = []
    line, needs = _address_header("From", [from_addr])
    out.append(line)
    utf8 = utf8 or needs
    for name, addresses in (("To", to), ("Cc", cc), ("Reply-To", [reply_to] if reply_to else [])):
        if addresses:
            line, needs = _address_header(name, addresses)
            out.append(line)
            utf8 = utf8 or needs
    out.append(_unstructured("Subject", subject))
    out.append(f"Date: {email.utils.format_datetime(now)}")
    message_id = email.utils.make_msgid(domain=msgid_domain)
    out.append(f"Message-ID: {message_id}")
    out.append(f"X-Mailconsole-Id: {message_no}")
    if tag:
        out.append(_unstructured("X-Mailconsole-Tag", tag))
    for name, value in headers:
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"invalid header name {name!r}")
        out.append(_unstructured(name, value))
    out.append("MIME-Version: 1.0")
    if text is not None and html is not None:
        text_headers, text_body = _text_part(text, "plain")
        html_headers, html_body = _text_part(html, "html")
        boundary = _boundary((text_body, html_body))
        out.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        # The CRLF before a boundary line belongs to the boundary (RFC 2046 5.1.1).
        body = (
            f"\r\n--{boundary}\r\n" + "\r\n".join(text_headers) + "\r\n\r\n" + text_body
            + f"\r\n--{boundary}\r\n" + "\r\n".join(html_headers) + "\r\n\r\n" + html_body
            + f"\r\n--{boundary}--\r\n"
        )  # fmt: skip
    else:
        html_only = text is None and html is not None
        part_headers, body = _text_part(
            (html or "") if html_only else (text or ""), "html" if html_only else "plain"
        )
        out.extend(part_headers)
    wire = "\r\n".join(out) + "\r\n\r\n" + body
    return Wire(wire.encode("utf-8"), message_id, utf8)
