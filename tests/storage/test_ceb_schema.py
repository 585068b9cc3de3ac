"""storage.ceb on messages as the official 202205 schema allows them (reference/ceb-schema.md),
written with the project's one CEB writer (bot.domain.cebxml): signed declarations, real-style
guids, both namespace styles, GB encodings, drafts, CEB623–626; and the writer itself."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from bot.domain import cebxml
from storage.ceb import (
    CANCEL,
    REFUND,
    CebRejected,
    Inventory,
    ListRequest,
    RequestReturn,
    parse_message,
)

GUID = "CEB621_HNZB_FXJK_20220208175054_0034"  # 36 characters, not a UUID (a real sender's)
SIGNATURE = cebxml.Signature(digest=b"\x01" * 32, value=b"\x02" * 64, certificate=b"\x03" * 1100)
RSA = cebxml.Signature(b"\x04" * 20, b"\x05" * 128, b"\x06" * 1100, key_name="01691fe9", algorithms=cebxml.RSA_SHA1)
TRANSFER = cebxml.base_transfer({"copCode": "46121601BC", "copName": "海南某某", "dxpMode": "DXP", "dxpId": "DXPENT1"})

HEAD = {
    "guid": "CEB621_HNZB_FXJK_20220208175055_0035", "appType": "1", "appTime": "20220208175055", "appStatus": "2",
    "orderNo": "48037605991776256", "ebpCode": "46121601BC", "ebpName": "海南某某互联网医药有限公司",
    "ebcCode": "46121601BC", "ebcName": "海南某某互联网医药有限公司", "logisticsNo": "2222222",
    "logisticsCode": "4101986180", "logisticsName": "圆通", "copNo": "4101W68006", "preNo": "",
    "assureCode": "4101960AGP", "invtNo": "", "ieFlag": "I", "declTime": "20220209", "customsCode": "4601",
    "portCode": "4601", "buyerIdType": "1", "buyerIdNumber": "11010519491231002X", "buyerName": "用户_15150368",
    "buyerTelephone": "18209182500", "consigneeAddress": "海口市某某路1号", "agentCode": "46121601BC",
    "agentName": "海南某某互联网医药有限公司", "tradeMode": "9610", "trafMode": "W", "country": "142",
    "freight": "0.00", "insuredFee": "0", "currency": "142", "packNo": "1", "grossWeight": "0.07",
    "netWeight": "0.06", "note": "",
}  # fmt: skip
LINE = {
    "gnum": "1", "itemRecordNo": "0797776159482", "itemNo": "HNGGKJ00000057", "itemName": "通用铁剂胶囊",
    "gcode": "2106909090", "gname": "ACTIVE IRON",
    "gmodel": "4|3|乳清蛋白(牛奶)65%,胶囊壳21%,硫酸亚铁1.2%\n    10.8%|30粒/盒|无中文名称/ACTIVE IRON\n",
    "country": "306", "currency": "142", "qty": "1", "unit": "140", "qty1": "0.06", "price": "410.0",
    "totalPrice": "410.0",
}  # fmt: skip


def inventory_message(style: cebxml.Style = cebxml.Style(), signature: object = SIGNATURE, **head: str) -> bytes:
    return cebxml.message(
        "CEB621",
        GUID,
        [cebxml.inventory({**HEAD, **head}, [LINE])],
        transfer=TRANSFER,
        signature=signature,  # type: ignore[arg-type]
        style=style,
    )


@pytest.mark.parametrize(
    "style",
    [
        cebxml.Style(prefix="ceb", version="v1.0"),  # as the sender's sample, with xmlns:ceb
        cebxml.Style(standalone=True),  # default namespace, standalone="yes"
        cebxml.Style(declaration=False, indent=None),  # no XML declaration, one line
        cebxml.Style(encoding="GB2312"),
        cebxml.Style(encoding="GBK", prefix="ceb"),
        cebxml.Style(encoding="GB18030"),
        cebxml.Style(root_attributes={"xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance"}),
    ],
)
@pytest.mark.parametrize("signature", [SIGNATURE, RSA, None])
def test_signed_list_in_every_style(style: cebxml.Style, signature: cebxml.Signature | None) -> None:
    data = inventory_message(style, signature)
    msg = parse_message(data)
    assert msg.msg_type == "CEB621"
    assert msg.guid == GUID.lower()  # compared case-insensitively
    (inv,) = msg.items
    assert isinstance(inv, Inventory)
    assert inv.guid == "ceb621_hnzb_fxjk_20220208175055_0035"
    assert (inv.buyer_name, inv.traf_mode, inv.ebp_name) == ("用户_15150368", "W", "海南某某互联网医药有限公司")
    assert (inv.pre_no, inv.invt_no, inv.note, inv.ie_date) == (None, None, None, None)  # empty or absent
    assert inv.lines[0].total_price == Decimal("410.0")  # a Java-style decimal
    assert (inv.lines[0].qty1, inv.lines[0].unit1) == (Decimal("0.06"), None)
    assert inv.declared


def test_nothing_of_the_signature_is_kept() -> None:
    msg = parse_message(inventory_message())
    text = repr(msg)
    for fragment in ("AQEB", "AgIC", "AwMD", "Signature", "sm2", "KeyName", "0001"):
        assert fragment not in text


def test_draft_is_read_as_such() -> None:
    (inv,) = parse_message(inventory_message(appStatus="1", signature=None)).items
    assert (inv.app_status, inv.declared) == ("1", False)


def test_guid_without_spaces_any_case() -> None:
    mixed = "5923DGGB-9940-415B-B666-C09BOO7F40B2"  # the customs' own CEB625 sample: not even hex
    msg = parse_message(cebxml.message("CEB621", mixed, [cebxml.inventory({**HEAD, "guid": mixed}, [LINE])]))
    assert msg.guid == msg.items[0].guid == mixed.lower()
    for bad in ("CEB621_HNZB_FXJK_20220208175054_003", "CEB621 HNZB_FXJK_20220208175054_0034", "\u200b" * 36):
        with pytest.raises(CebRejected, match="missing or invalid guid attribute"):
            parse_message(cebxml.message("CEB621", bad, [cebxml.inventory(HEAD, [LINE])]))


# -- cancellations and returns ---------------------------------------------------------------------

REQUEST = {
    "guid": "4CDE1CFD-EDED-46B1-946C-B8022E42FC94", "appType": "1", "appTime": "20160315153555", "appStatus": "2",
    "customsCode": "3700", "orderNo": "order2016030811340001", "ebpCode": "1101110325", "ebpName": "测试企业",
    "ebcCode": "1101110325", "ebcName": "测试企业", "logisticsNo": "L201603081138001", "logisticsCode": "1101180326",
    "logisticsName": "测试物流企业", "copNo": "NBBH20160308001", "preNo": "B20160308000000001",
    "invtNo": "150201613031520001", "buyerIdType": "1", "buyerIdNumber": "130681136250023332", "buyerName": "李小宝",
    "buyerTelephone": "13936921298", "agentCode": "1105910159", "agentName": "测试企业", "reason": "a", "note": "",
}  # fmt: skip


def test_ceb623_cancellation() -> None:
    data = cebxml.message(
        "CEB623",
        REQUEST["guid"],
        [cebxml.invt_cancel(REQUEST)] * 2,
        transfer=TRANSFER,
        signature=SIGNATURE,
        style=cebxml.Style(prefix="ceb"),
    )
    msg = parse_message(data)
    assert msg.msg_type == "CEB623" and len(msg.items) == 2
    req = msg.items[0]
    assert isinstance(req, ListRequest)
    assert (req.kind, req.invt_no, req.order_no, req.ebc_code) == (
        CANCEL,
        "150201613031520001",
        REQUEST["orderNo"],
        "1101110325",
    )
    assert (req.cop_no, req.pre_no, req.reason, req.note, req.lines) == (
        "NBBH20160308001",
        "B20160308000000001",
        "a",
        None,
        (),
    )
    assert "李小宝" not in repr(req) and "130681" not in repr(req)  # the buyer is not kept


def test_ceb625_return_and_its_lines() -> None:
    head = {**REQUEST, "guid": "5923DGGB-9940-415B-B666-C09BOO7F40B2", "appType": "2", "invtNo": "15003213300400111"}
    del head["preNo"]
    lines = [
        {"gnum": "1", "gcode": "2412342134", "gname": "可乐", "qty": "12", "unit": "007"},
        {"gnum": "3", "qty": "1.5"},
    ]
    msg = parse_message(cebxml.message("CEB625", head["guid"], [cebxml.invt_refund(head, lines)], signature=SIGNATURE))
    (req,) = msg.items
    assert (req.kind, req.app_type, req.invt_no, req.pre_no) == (REFUND, "2", "15003213300400111", None)
    assert [(ln.gnum, ln.qty, ln.unit) for ln in req.lines] == [(1, Decimal(12), "007"), (3, Decimal("1.5"), None)]
    twice = cebxml.message("CEB625", head["guid"], [cebxml.invt_refund(head, [lines[0], lines[0]])])
    with pytest.raises(CebRejected, match="the same gnum twice"):
        parse_message(twice)
    with pytest.raises(CebRejected, match="invalid appType"):
        parse_message(cebxml.message("CEB623", head["guid"], [cebxml.invt_cancel({**REQUEST, "appType": "2"})]))


@pytest.mark.parametrize(("msg_type", "kind"), [("CEB624", CANCEL), ("CEB626", REFUND)])
def test_request_receipts(msg_type: str, kind: str) -> None:
    values = {
        "guid": "e3e55fe2-1218-40ae-8bc7-043ee3ed5cea", "customsCode": "2924", "agentCode": "3301980Z02",
        "ebpCode": "3301964J31", "ebcCode": "4401962010", "copNo": "cop2016032210052\t", "preNo": "C20200629524696153",
        "invtNo": "29242020I451907002", "returnStatus": "399", "returnTime": "20200629150101123",
        "returnInfo": "[Code:2300;Desc:审核通过],撤单申请审核通过,清单[29242020I451907002]已成功撤单",
    }  # fmt: skip
    node = (cebxml.invt_cancel_return if kind == CANCEL else cebxml.invt_refund_return)(values)
    (ret,) = parse_message(cebxml.message(msg_type, "2B91DA66-77A7-409D-AC5C-982B441E5585", [node])).items
    assert isinstance(ret, RequestReturn)
    assert (ret.kind, ret.cop_no, ret.pre_no, ret.invt_no) == (
        kind,
        "cop2016032210052",
        "C20200629524696153",
        values["invtNo"],
    )
    assert (ret.return_status, ret.return_time) == (399, datetime(2020, 6, 29, 15, 1, 1, 123000))
    assert ret.return_info == values["returnInfo"]


# -- the writer ------------------------------------------------------------------------------------


def test_writer_refuses_unknown_fields_and_wrong_nodes() -> None:
    with pytest.raises(ValueError, match="InventoryReturn has no field orderNo"):
        cebxml.inventory_return({"orderNo": "x"})
    with pytest.raises(ValueError, match="CEB622 holds InventoryReturn nodes"):
        cebxml.message("CEB622", GUID, [cebxml.invt_cancel(REQUEST)])
    with pytest.raises(TypeError):
        cebxml.inventory_return({"guid": 1.5})  # type: ignore[dict-item]


def test_writer_keeps_schema_order_escapes_and_extra_fields() -> None:
    node = cebxml.inventory_return(
        {"returnInfo": "a<b & c", "guid": GUID, "returnStatus": 800}, extra={"futureField": "x"}
    )
    assert [name for name, _ in node.fields] == ["guid", "returnStatus", "returnInfo", "futureField"]
    data = cebxml.message("CEB622", GUID, [node], style=cebxml.Style(indent=None))
    assert b"<returnInfo>a&lt;b &amp; c</returnInfo>" in data
    assert cebxml.decimal(Decimal("1E+1")) == "10.00" and cebxml.decimal(Decimal("0.123456"), None) == "0.123456"
