"""storage.ceb against hostile input: every case is rejected fast, in bounded memory, offline.

Each case runs twice: once timed (< 1 s) and once under tracemalloc (peak < 50 MB), so the
tracing overhead does not eat the time budget. An audit hook fails the test if the parser opens
a file or a socket while a hostile document is being parsed (XXE, external DTDs), and
socket.socket.connect is patched to raise as a second line of defence.
"""

from __future__ import annotations

import socket
import sys
import tracemalloc
from collections.abc import Iterator

import pytest

from bot.domain import cebxml
from storage.ceb import (
    DEFAULT_MAX_BYTES,
    MAX_ELEMENTS,
    MAX_SIGNATURE_CHARS,
    MAX_SIGNATURE_ELEMENTS,
    CebRejected,
    parse_message,
)
from tests.support import paths
from tests.support.cpu import cpu_time

NS = b"http://www.chinaport.gov.cn/ceb"
GUID = b"c988cb9e-ea4b-463a-87c4-36e3d24aa7d9"
ROOT_OPEN = b'<CEB622Message xmlns="' + NS + b'" version="1.0" guid="' + GUID + b'">'
ROOT_CLOSE = b"</CEB622Message>"
SAMPLE = (paths.SAMPLES / "ceb622_receipt.xml").read_bytes()
SAMPLE_621 = (paths.SAMPLES / "ceb621_two_lines.xml").read_bytes()

TIME_LIMIT_S = 1.0
MEMORY_LIMIT = 50 * 1024 * 1024


# --------------------------------------------------------------------------- I/O guard

_watch = {"active": False, "events": []}


def _audit(event: str, args: tuple) -> None:
    # Audit hooks cannot be removed, so this one is inert unless a test switches it on.
    if _watch["active"] and event in ("open", "socket.connect", "socket.getaddrinfo", "urllib.Request"):
        _watch["events"].append((event, str(args[0])[:80]))


sys.addaudithook(_audit)


def _no_connect(self: socket.socket, *args: object) -> None:
    raise AssertionError("network access attempted while parsing")


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _no_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _no_connect)
    yield


def assert_rejected(data: bytes, fragment: str) -> str:
    """Rejected with a reason containing `fragment`, in < 1 s, < 50 MB, without any file/network I/O."""
    _watch["events"].clear()
    _watch["active"] = True
    try:
        with cpu_time() as cpu, pytest.raises(CebRejected) as info:
            parse_message(data)
        elapsed = cpu.seconds

        tracemalloc.start()
        try:
            with pytest.raises(CebRejected):
                parse_message(data)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        _watch["active"] = False
    assert _watch["events"] == [], f"I/O while parsing: {_watch['events']}"
    assert elapsed < TIME_LIMIT_S, f"took {elapsed:.2f}s"
    assert peak < MEMORY_LIMIT, f"peak {peak / 1e6:.1f} MB"
    assert fragment in info.value.reason
    assert b"root:" not in info.value.reason.encode()
    return info.value.reason


# --------------------------------------------------------------------------- entity attacks


def test_billion_laughs() -> None:
    levels = [b'<!ENTITY lol0 "lol">']
    for i in range(1, 10):
        levels.append(b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10))
    entities = b"".join(levels)
    data = (
        b'<?xml version="1.0"?><!DOCTYPE CEB622Message [' + entities + b"]>"
        + ROOT_OPEN + b"<InventoryReturn><returnInfo>&lol9;</returnInfo></InventoryReturn>" + ROOT_CLOSE
    )  # fmt: skip
    assert_rejected(data, "DTD")


def test_quadratic_blowup() -> None:
    data = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "' + b"A" * 100_000 + b'">]>'
        + ROOT_OPEN + b"<InventoryReturn><returnInfo>" + b"&a;" * 50_000 + b"</returnInfo></InventoryReturn>"
        + ROOT_CLOSE
    )  # fmt: skip
    assert_rejected(data, "DTD")


def test_xxe_local_file() -> None:
    body = SAMPLE[SAMPLE.index(b"<CEB622Message") :].replace(b"<returnInfo>", b"<returnInfo>&xxe;")
    data = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + body
    assert_rejected(data, "DTD")


def test_external_dtd_over_http() -> None:
    data = b'<!DOCTYPE CEB622Message SYSTEM "http://127.0.0.1:9/evil.dtd">' + ROOT_OPEN + ROOT_CLOSE
    assert_rejected(data, "DTD")


def test_external_parameter_entity() -> None:
    data = (
        b'<?xml version="1.0"?><!DOCTYPE r ['
        + b'<!ENTITY % remote SYSTEM "http://example.invalid/x.dtd"> %remote;]>'
        + ROOT_OPEN + ROOT_CLOSE
    )  # fmt: skip
    assert_rejected(data, "DTD")


def test_undeclared_entity() -> None:
    data = SAMPLE.replace(b"<returnInfo>", b"<returnInfo>&xxe;")
    assert_rejected(data, "malformed XML")


def test_xinclude_is_not_processed() -> None:
    xi = b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" parse="text"/>'
    # inside a field it is an element where text belongs; under the root it is an unknown element
    assert_rejected(SAMPLE.replace(b"<returnInfo>", b"<returnInfo>" + xi), "must be text")
    assert_rejected(SAMPLE.replace(b"</CEB622Message>", xi + b"</CEB622Message>"), "unexpected element")


# --------------------------------------------------------------------------- shape attacks


def test_deep_nesting() -> None:
    depth = 10_000
    data = ROOT_OPEN + b"<InventoryReturn>" * depth + b"</InventoryReturn>" * depth + ROOT_CLOSE
    assert_rejected(data, "nested deeper than 32")


def test_deep_nesting_unclosed() -> None:
    assert_rejected(ROOT_OPEN + b"<a>" * 100_000, "nested deeper than 32")


def test_many_siblings() -> None:
    data = ROOT_OPEN + b"<InventoryReturn><note/>" + b"<x/>" * 200_000 + b"</InventoryReturn>" + ROOT_CLOSE
    assert_rejected(data, f"more than {MAX_ELEMENTS} XML elements")


def test_many_business_nodes() -> None:
    node = SAMPLE[SAMPLE.index(b"<InventoryReturn>") : SAMPLE.index(b"</InventoryReturn>") + 18]
    data = ROOT_OPEN + node * 10_000 + ROOT_CLOSE  # 12 elements each: 120k elements, ~4 MB
    assert len(data) < DEFAULT_MAX_BYTES
    assert_rejected(data, "XML elements")


def test_huge_text_within_cap() -> None:
    data = SAMPLE.replace(b"[Code:2600;Desc:", b"[Code:2600;Desc:" + "放".encode() * 3_000_000)
    assert len(data) < DEFAULT_MAX_BYTES
    assert_rejected(data, "returnInfo longer than 1000 characters")


def test_many_attributes() -> None:
    attrs = b" ".join(b'a%d="x"' % i for i in range(100_000))
    assert_rejected(ROOT_OPEN.replace(b"<CEB622Message", b"<CEB622Message " + attrs) + ROOT_CLOSE, "missing")


# --------------------------------------------------------------------------- size and framing


def test_oversize_rejected_before_parsing() -> None:
    # A well-formed message padded to cap + 1 bytes: only the size makes it unacceptable.
    padding = DEFAULT_MAX_BYTES + 1 - len(SAMPLE)
    data = SAMPLE.replace(b"</CEB622Message>", b" " * padding + b"</CEB622Message>")
    assert len(data) == DEFAULT_MAX_BYTES + 1
    assert_rejected(data, f"larger than {DEFAULT_MAX_BYTES} bytes")
    exactly_at_cap = data.replace(b" </CEB622Message>", b"</CEB622Message>")
    assert parse_message(exactly_at_cap).msg_type == "CEB622"


def test_oversize_garbage_rejected_by_size() -> None:
    assert_rejected(b"<" * (DEFAULT_MAX_BYTES + 1), "larger than")


@pytest.mark.parametrize("keep", [1, 10, 100, 0.5, -20, -1])
def test_truncated(keep: float) -> None:
    body = SAMPLE.rstrip()  # a trailing newline is not part of the document
    cut = int(len(body) * keep) if isinstance(keep, float) else keep
    assert_rejected(body[:cut], "malformed XML")


def test_truncated_621() -> None:
    assert_rejected(SAMPLE_621[: len(SAMPLE_621) * 2 // 3], "malformed XML")


def test_trailing_garbage() -> None:
    assert_rejected(SAMPLE + b"<CEB622Message/>", "malformed XML")


def test_wrong_namespace() -> None:
    assert_rejected(SAMPLE.replace(NS, b"http://evil.example/ceb"), "wrong or missing namespace")
    assert_rejected(SAMPLE.replace(b' xmlns="' + NS + b'"', b""), "wrong or missing namespace")


def test_not_xml() -> None:
    assert_rejected(b"%PDF-1.7 \x89\xff", "not valid UTF-8")
    assert_rejected(b'{"CEB622Message": {}}', "malformed XML")


# --------------------------------------------------------------------------- encodings
# Decision: UTF-8 (with or without BOM), and GB2312 / GBK / GB18030 when declared. A declaration
# that does not match the bytes, or any other encoding, is refused (documented in storage.ceb).


def test_utf8_with_bom_accepted() -> None:
    assert parse_message(b"\xef\xbb\xbf" + SAMPLE).msg_type == "CEB622"


def test_utf8_declared_in_any_case_accepted() -> None:
    assert parse_message(SAMPLE.replace(b'encoding="UTF-8"', b"encoding='utf8'")).msg_type == "CEB622"


def test_utf16_with_bom_rejected() -> None:
    text = SAMPLE.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    assert_rejected(text.encode("utf-16"), "unsupported encoding UTF-16")  # little-endian BOM
    assert_rejected(b"\xfe\xff" + text.encode("utf-16-be"), "unsupported encoding UTF-16")


def test_utf32_rejected() -> None:
    assert_rejected(SAMPLE.decode("utf-8").encode("utf-32"), "unsupported encoding UTF-32")


def test_utf16_without_bom_rejected() -> None:
    assert_rejected(SAMPLE.decode("utf-8").encode("utf-16-le"), "NUL byte")


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "Big5", "UTF-16", "Shift_JIS"])
def test_declared_other_encodings_rejected(encoding: str) -> None:
    text = SAMPLE.decode("utf-8").replace('encoding="UTF-8"', f'encoding="{encoding}"')
    reason = assert_rejected(text.encode("utf-8"), "unsupported encoding")
    assert reason == f"unsupported encoding {encoding} declared; send UTF-8 or GB18030"


@pytest.mark.parametrize("encoding", ["GB2312", "gbk", "GB18030"])
def test_declared_gb_encodings_read(encoding: str) -> None:
    text = SAMPLE.decode("utf-8").replace('encoding="UTF-8"', f'encoding="{encoding}"')
    (receipt,) = parse_message(text.encode("gb18030")).items
    assert receipt.return_info == "[Code:2600;Desc:放行]"


@pytest.mark.parametrize("encoding", ["GB2312", "GBK", "GB18030"])
def test_wrong_gb_declaration_over_utf8_rejected(encoding: str) -> None:
    # UTF-8 bytes under a GB declaration would decode as mojibake without an error: refused instead.
    data = SAMPLE.replace(b'encoding="UTF-8"', f'encoding="{encoding}"'.encode())
    assert_rejected(data, f"{encoding} declared but the text is UTF-8")


@pytest.mark.parametrize("encoding", ["GB2312", "GBK", "GB18030"])
def test_gb_text_that_happens_to_be_utf8_is_read_as_declared(encoding: str) -> None:
    # 一 is D2 BB, 为 CE AA, 税 CB B0: valid UTF-8 too (һΪ˰), but not Chinese there, so the declaration holds.
    text = SAMPLE.decode("utf-8").replace('encoding="UTF-8"', f'encoding="{encoding}"').replace("放行", "一为税")
    data = text.encode(encoding)
    assert data.decode("utf-8") != text  # the bytes are UTF-8 as well, of other letters
    (receipt,) = parse_message(data).items
    assert receipt.return_info == "[Code:2600;Desc:一为税]"


def test_gb_text_that_reads_as_utf8_chinese_is_refused() -> None:
    # 妗介丁 in GB2312 is byte for byte 桽鶡 in UTF-8: the bytes cannot say which, so no guess is made.
    text = SAMPLE.decode("utf-8").replace('encoding="UTF-8"', 'encoding="GB2312"').replace("放行", "妗介丁")
    data = text.encode("gb2312")
    assert "桽鶡" in data.decode("utf-8")
    assert_rejected(data, "GB2312 declared but the text is UTF-8")


def test_gbk_bytes_without_declaration_rejected() -> None:
    # Undeclared legacy bytes are read as UTF-8 and fail to decode.
    data = SAMPLE.decode("utf-8").replace('encoding="UTF-8" ', "").encode("gbk")
    assert_rejected(data, "not valid UTF-8 (no encoding declared) text at byte")


def test_gbk_bytes_declared_utf8_rejected() -> None:
    assert_rejected(SAMPLE.decode("utf-8").encode("gbk"), "not valid UTF-8 text at byte")


def test_us_ascii_must_be_ascii() -> None:
    text = SAMPLE.decode("utf-8").replace('encoding="UTF-8"', 'encoding="us-ascii"')
    assert_rejected(text.encode("utf-8"), "not valid us-ascii text")
    assert parse_message(text.replace("放行", "release").encode("ascii")).msg_type == "CEB622"


def test_invalid_gb18030_rejected() -> None:
    text = SAMPLE.decode("utf-8").replace('encoding="UTF-8"', 'encoding="GBK"')
    data = text.encode("gb18030").replace(b"<returnInfo>", b"<returnInfo>\x81\x20")  # lead byte, bad trail
    assert_rejected(data, "not valid GBK text at byte")


def test_bom_with_another_encoding_declared_rejected() -> None:
    text = SAMPLE.decode("utf-8").replace('encoding="UTF-8"', 'encoding="GBK"')
    assert_rejected(b"\xef\xbb\xbf" + text.encode("gbk"), "UTF-8 byte order mark but another encoding")


@pytest.mark.parametrize("where", [0, 5, len(SAMPLE) // 2, len(SAMPLE) - 1])
def test_nul_bytes(where: int) -> None:
    assert_rejected(SAMPLE[:where] + b"\x00" + SAMPLE[where:], "NUL byte")


def test_control_character_rejected() -> None:
    assert_rejected(SAMPLE.replace(b"<returnInfo>", b"<returnInfo>\x01"), "malformed XML")


def test_invalid_utf8_rejected() -> None:
    assert_rejected(SAMPLE.replace(b"<returnInfo>", b"<returnInfo>\xc3\x28"), "not valid UTF-8 text at byte")


# --------------------------------------------------------------------------- the enveloped signature
# Tolerated, never verified, nothing kept (storage.ceb): but bounded, and never pointing elsewhere.


def _signed(signature: str) -> bytes:
    return SAMPLE_621.replace(b"</CEB621Message>", signature.encode() + b"\n</CEB621Message>")


_GOOD = cebxml.Signature(b"\x01" * 32, b"\x02" * 64, b"\x03" * 1100).xml()


def test_a_real_shaped_signature_is_tolerated() -> None:
    assert parse_message(_signed(_GOOD)).items[0].order_no == "124183351885"


@pytest.mark.parametrize(
    "uri", ["http://127.0.0.1:9/evil.xml", "file:///etc/passwd", "//evil.example/x", "evil.xml", "data:,x"]
)
def test_signature_reference_outside_the_message(uri: str) -> None:
    signature = cebxml.Signature(b"d", b"v", b"c", reference=uri).xml()
    assert_rejected(_signed(signature), "XML signature refers to something outside the message")


def test_signature_retrieval_method_outside_the_message() -> None:
    signature = _GOOD.replace("<ds:KeyInfo>", '<ds:KeyInfo><ds:RetrievalMethod URI="http://127.0.0.1:9/k"/>')
    assert_rejected(_signed(signature), "outside the message")


def test_same_document_reference_is_fine() -> None:
    signature = cebxml.Signature(b"d", b"v", b"c", reference="#xpointer(/)").xml()
    assert parse_message(_signed(signature)).msg_type == "CEB621"


def test_huge_signature_within_the_size_cap() -> None:
    signature = cebxml.Signature(b"d", b"v" * 7_000_000, b"c").xml()  # ~9.3 MB of base64
    data = _signed(signature)
    assert len(data) < DEFAULT_MAX_BYTES
    assert_rejected(data, f"XML signature larger than {MAX_SIGNATURE_CHARS} characters")


def test_signature_with_many_elements() -> None:
    signature = _GOOD.replace("</ds:KeyInfo>", "<ds:KeyName/>" * 10_000 + "</ds:KeyInfo>")
    assert_rejected(_signed(signature), f"more than {MAX_SIGNATURE_ELEMENTS} elements")


def test_signature_with_huge_attributes() -> None:
    signature = _GOOD.replace('<ds:SignedInfo>', f'<ds:SignedInfo Id="{"x" * 100_000}">')
    assert_rejected(_signed(signature), "XML signature larger than")


def test_signature_bomb_nesting() -> None:
    signature = _GOOD.replace("<ds:SignedInfo>", "<ds:Object>" * 5000 + "<ds:SignedInfo>")
    assert_rejected(_signed(signature), "nested deeper than 32")


def test_signature_out_of_place_or_twice() -> None:
    inside = SAMPLE_621.replace(b"</InventoryHead>", _GOOD.encode() + b"</InventoryHead>")
    assert_rejected(inside, "XML signature must be a direct child of the message root")
    assert_rejected(_signed(_GOOD + _GOOD), "more than one XML signature")


def test_signature_with_entities() -> None:
    data = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + _signed(
        _GOOD.replace("<ds:KeyName>0001", "<ds:KeyName>&x;")
    ).split(b"?>", 1)[1]
    assert_rejected(data, "DTD")
