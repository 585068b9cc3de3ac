"""storage.ceb's two XML paths agree: the C parser (`_parse_xml_fast`) takes only documents on
which it gives what the guarded streaming parser gives, and hands everything else to it.

Each case is parsed twice, once as shipped and once with the fast path switched off; the outcome
(the message, or the refusal and its reason) must be the same. Cases sit on the edges the fast
path checks after the fact: the element cap, the depth cap, the signature's caps and place.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bot import demo
from bot.domain import cebxml
from storage import ceb
from storage.ceb import MAX_SIGNATURE_CHARS, MAX_SIGNATURE_ELEMENTS, CebMessage, CebRejected, parse_message
from tests.support import paths

SAMPLE_621 = (paths.SAMPLES / "ceb621_two_lines.xml").read_bytes()
_GOOD = cebxml.Signature(b"\x01" * 32, b"\x02" * 64, b"\x03" * 1100).xml()


def _outcome(data: bytes, **caps: int) -> CebMessage | str:
    try:
        return parse_message(data, **caps)
    except CebRejected as exc:
        return f"rejected: {exc.reason}"


def _both(monkeypatch: pytest.MonkeyPatch, data: bytes, **caps: int) -> CebMessage | str:
    fast = _outcome(data, **caps)
    with monkeypatch.context() as m:
        m.setattr(ceb, "_parse_xml_fast", lambda *_args: None)
        guarded = _outcome(data, **caps)
    assert fast == guarded
    return fast


def _took_fast_path(data: bytes) -> bool:
    return ceb._parse_xml_fast(ceb._decode(data), ceb.MAX_DEPTH, ceb.MAX_ELEMENTS) is not None


def _signed(signature: str) -> bytes:
    return SAMPLE_621.replace(b"</CEB621Message>", signature.encode() + b"\n</CEB621Message>")


def test_samples_and_a_demo_feed_take_the_fast_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    demo.generate(tmp_path, consumers=2, seed=3)
    feed = sorted((tmp_path / "ceb").iterdir())
    assert len(feed) > 20
    for path in [*sorted(paths.SAMPLES.iterdir()), *feed]:
        data = path.read_bytes()
        assert isinstance(_both(monkeypatch, data), CebMessage), path.name
        assert _took_fast_path(data), path.name
    assert _took_fast_path(_signed(_GOOD))


def test_a_dtd_anywhere_goes_the_guarded_way(monkeypatch: pytest.MonkeyPatch) -> None:
    in_comment = SAMPLE_621.replace(b"<InventoryHead>", b"<!-- <!DOCTYPE x> --><InventoryHead>")
    assert not _took_fast_path(in_comment)
    assert isinstance(_both(monkeypatch, in_comment), CebMessage)  # a comment is no DTD: accepted
    declared = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "y">]>' + SAMPLE_621.split(b"?>", 1)[1]
    assert "DTD" in str(_both(monkeypatch, declared))


def test_comments_cdata_and_foreign_elements(monkeypatch: pytest.MonkeyPatch) -> None:
    data = SAMPLE_621.replace(
        b"<InventoryHead>", b"<?pi x?><InventoryHead><!-- c --><x:ext xmlns:x='urn:x'><x:a/></x:ext>"
    ).replace(b"<note>", b"<note><![CDATA[</a></b>]]>")
    assert _took_fast_path(data)
    assert isinstance(_both(monkeypatch, data), CebMessage)


def test_element_cap_edge(monkeypatch: pytest.MonkeyPatch) -> None:
    elements = SAMPLE_621.count(b"<") - SAMPLE_621.count(b"</") - SAMPLE_621.count(b"<?")
    assert isinstance(_both(monkeypatch, SAMPLE_621, max_elements=elements), CebMessage)
    assert "XML elements" in str(_both(monkeypatch, SAMPLE_621, max_elements=elements - 1))


@pytest.mark.parametrize("inside", ["field", "signature"])
def test_depth_cap_edge(monkeypatch: pytest.MonkeyPatch, inside: str) -> None:
    outcomes = []
    for depth in range(24, 34):
        if inside == "field":  # an unknown extension element under a list head, nested
            nested = "<x:e xmlns:x='urn:x'>" * depth + "</x:e>" * depth
            data = SAMPLE_621.replace(b"<InventoryHead>", b"<InventoryHead>" + nested.encode())
        else:
            nested = "<ds:Object>" * depth + "</ds:Object>" * depth
            data = _signed(_GOOD.replace("<ds:SignedInfo>", nested + "<ds:SignedInfo>"))
        outcomes.append(isinstance(_both(monkeypatch, data), CebMessage))
    assert True in outcomes and False in outcomes  # the cap lies in the range


def _edge(make: Callable[[int], bytes], low: int, high: int) -> int:
    """The largest n in [low, high) whose document the guarded parser accepts (it must be monotone)."""
    def accepted(n: int) -> bool:
        root = ceb._parse_xml_guarded
        try:
            root(ceb._decode(make(n)), ceb.MAX_DEPTH, ceb.MAX_ELEMENTS)
        except CebRejected:
            return False
        return True

    assert accepted(low) and not accepted(high)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if accepted(mid) else (low, mid)
    return low


def test_signature_character_cap_edge(monkeypatch: pytest.MonkeyPatch) -> None:
    def make(n: int) -> bytes:
        return _signed(_GOOD.replace("<ds:KeyName>0001", "<ds:KeyName>0001" + "k" * n))

    edge = _edge(make, 0, MAX_SIGNATURE_CHARS)
    assert isinstance(_both(monkeypatch, make(edge)), CebMessage)
    assert _took_fast_path(make(edge))
    assert "XML signature larger than" in str(_both(monkeypatch, make(edge + 1)))


def test_signature_attribute_characters_count(monkeypatch: pytest.MonkeyPatch) -> None:
    def make(n: int) -> bytes:
        return _signed(_GOOD.replace("<ds:SignedInfo>", f'<ds:SignedInfo Id="{"i" * n}">'))

    edge = _edge(make, 0, MAX_SIGNATURE_CHARS)
    assert isinstance(_both(monkeypatch, make(edge)), CebMessage)
    assert "XML signature larger than" in str(_both(monkeypatch, make(edge + 1)))


def test_signature_element_cap_edge(monkeypatch: pytest.MonkeyPatch) -> None:
    def make(n: int) -> bytes:
        return _signed(_GOOD.replace("</ds:KeyInfo>", "<ds:KeyName/>" * n + "</ds:KeyInfo>"))

    edge = _edge(make, 0, MAX_SIGNATURE_ELEMENTS)
    assert isinstance(_both(monkeypatch, make(edge)), CebMessage)
    assert _took_fast_path(make(edge))
    assert f"more than {MAX_SIGNATURE_ELEMENTS} elements" in str(_both(monkeypatch, make(edge + 1)))


@pytest.mark.parametrize(
    "signature",
    [
        _GOOD + _GOOD,
        cebxml.Signature(b"d", b"v", b"c", reference="http://127.0.0.1:9/x").xml(),
        cebxml.Signature(b"d", b"v", b"c", reference="#frag").xml(),
    ],
)
def test_signature_checks_agree(monkeypatch: pytest.MonkeyPatch, signature: str) -> None:
    _both(monkeypatch, _signed(signature))


def test_signature_out_of_place_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    inside = SAMPLE_621.replace(b"</InventoryHead>", _GOOD.encode() + b"</InventoryHead>")
    assert "direct child" in str(_both(monkeypatch, inside))


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_malformed_agrees(monkeypatch: pytest.MonkeyPatch, cut: float) -> None:
    assert "malformed XML" in str(_both(monkeypatch, SAMPLE_621[: int(len(SAMPLE_621) * cut)]))


def test_parsed_messages_cross_processes_unchanged(tmp_path: Path) -> None:
    """What the parser process sends back (pickled, `ceb._Compact`) is the message it parsed."""
    import pickle

    demo.generate(tmp_path, consumers=3, seed=5)
    messages = [parse_message(p.read_bytes()) for p in sorted((tmp_path / "ceb").iterdir())]
    kinds = {type(item) for m in messages for item in m.items}
    assert {ceb.Inventory, ceb.InventoryReturn, ceb.TaxSlip, ceb.TaxStatus} <= kinds
    loaded = pickle.loads(pickle.dumps(messages, protocol=pickle.HIGHEST_PROTOCOL))
    assert loaded == messages
    assert [type(item) for m in loaded for item in m.items] == [type(item) for m in messages for item in m.items]
    line = ceb.RefundLine(gnum=1, gcode=None, gname=None, qty=Decimal("1.5"), unit=None, note=None)
    request = ceb.ListRequest(
        kind=ceb.REFUND, guid="g" * 36, app_type="1", app_time=datetime(2024, 1, 2, 3, 4, 5), app_status="2",
        customs_code=None, order_no="o", ebp_code=None, ebc_code="e", logistics_no=None, cop_no=None, pre_no=None,
        invt_no="i", agent_code=None, reason=None, note=None, lines=(line,),
    )  # fmt: skip
    assert pickle.loads(pickle.dumps(request)) == request
