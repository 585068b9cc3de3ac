"""Deterministic, realistic demo data: Single Window accounts plus the CEB messages about them.

``generate(out_dir, consumers=20, seed=1, today=None)`` writes

* ``out_dir/accounts.csv`` — ``account_id,name,id_type,id_number,phone`` (UTF-8, no BOM, ``\\n``);
* ``out_dir/ceb/<yyyyMMddHHmmss>_<CEBxxx>_<nnnnn>.xml`` — CEB621–626/816/818 messages, written with
  the project's one CEB writer (``bot.domain.cebxml``) as real senders write them: every list and
  every cancellation or return signed (an enveloped ``ds:Signature``, SM2/SM3 from 2022 on, RSA-SHA1
  before), with the ``ceb:`` prefix, and half of them with real-style guids
  (``CEB621_HZ29_3301_20261118093015_0042``) rather than UUIDs. The timestamp is the message's
  *arrival* time, so sorted file names are the arrival order, which is not always the logical order.

Everything comes from ``random.Random(seed)``; there is no wall clock. ``today`` defaults to
``DEFAULT_TODAY`` (2026-11-20) so that the same seed gives byte-identical files on any day; the
CLI passes the real date. Declarations span the four calendar years ``today.year-3 … today.year``
and no date or time lies after ``today``.

How the messages reference each other (the same rules a real feed follows):

* a list (CEB621) is identified by ``ebcCode + orderNo`` (unique here) and always carries
  ``copNo`` and ``preNo``; it carries ``invtNo`` once customs has taken it (any receipt ≥ 100);
* a receipt (CEB622) always carries ``preNo``, ``copNo`` and ``ebcCode`` of its list, and
  ``invtNo`` from customs' first answer (100 / 120) on — never for 1–4 or negative codes;
* a tax slip (CEB816) and its status changes (CEB818) carry ``invtNo`` and
  ``taxNo = invtNo + "_0"``; a slip exists for every list that reached 399 (海关审结).

* a cancellation (CEB623) or a return (CEB625) names its list by ``invtNo`` (and ``ebcCode`` +
  ``orderNo``); their receipts (CEB624 / CEB626: 120, then 399 = approved) carry the request's
  ``copNo`` and ``preNo`` and the list's ``invtNo``.

Scenarios a newcomer should see: a cancelled order (its tax slip voided), a partly returned one, a
list suspended for 交易真实性验核 (status 600, a few days before ``today``, so the 15-day countdown
runs), and lists refused with code 1313 (over the annual limit, with the receipt's totals).

Deliberate awkwardness, as in real feeds: some lists arrive after their receipts and tax slip;
for some lists an older receipt arrives after a newer one; one CEB621 carries two lists; one
account's ID number ends in a lowercase ``x`` in the CSV; buyer phones in the lists and in the
CSV are written in mixed formats. The returned ``DemoSummary`` says what a correct ingest must
conclude for every account.

Over 400 lines: the demo world (products, platforms, people, the life of each order) must be
generated in one deterministic pass from one random stream, so that a seed and a day give
byte-identical files.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from random import Random
from typing import Any

from bot.domain import cbec, cebxml
from bot.domain.identity import make_id_number

__all__ = [
    "DEFAULT_TODAY",
    "PRODUCTS",
    "REQUIRED_STATUSES",
    "AccountExpectation",
    "DemoSummary",
    "Product",
    "generate",
    "product_named",
]

DEFAULT_TODAY = date(2026, 11, 20)
# Every list status the views must be able to show; each is the final status of some list.
REQUIRED_STATUSES = (1, 2, 3, 4, 100, 120, 300, 399, 500, 501, 502, 503, 599, 600, 700, 800, 899, -1)
NAMESPACE = "http://www.chinaport.gov.cn/ceb"
ZERO = Decimal(0)
CENT = Decimal("0.01")
KG = Decimal("0.001")
_FILE_NAME = re.compile(r"\d{14}_CEB\d{3}_\d{5}\.xml")


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class AccountExpectation:
    """What a correct ingest must show for one account (dicts keyed by calendar year)."""

    account_id: str
    name: str
    id_number: str  # normalised (uppercase X)
    phone: str  # 11-digit national mobile number
    lists: int  # CEB621 lists declared under this ID number, any status
    counted: dict[int, int]  # year → counted lists (cbec.is_counted; not cancelled nor all returned)
    # year → cbec.quota_for(...).consumed of the counted lists, less what returns took back
    consumed: dict[int, Decimal]
    tax_slips: int
    suspicious: int  # lists with a phone other than the account's, or on a platform never used
    platforms: tuple[str, ...]  # platforms the person really uses


@dataclass(frozen=True)
class DemoSummary:
    accounts: int
    lists: int  # CEB621 Inventory items (all buyers, orphans included)
    receipts: int  # CEB622 messages
    tax_slips: int  # CEB816 messages
    tax_statuses: int  # CEB818 messages
    files: int  # XML files written under ceb/
    orphan_lists: int  # lists whose buyer has no account: they must show up nowhere
    today: date
    expectations: tuple[AccountExpectation, ...] = field(repr=False)
    requests: int = 0  # CEB623 cancellations and CEB625 returns
    request_receipts: int = 0  # CEB624 / CEB626

    def expectation(self, account_id: str) -> AccountExpectation:
        return next(e for e in self.expectations if e.account_id == account_id)


# --------------------------------------------------------------------------- reference data


@dataclass(frozen=True)
class Product:
    name: str  # gname
    gcode: str  # 10-digit HS code
    gmodel: str
    unit: str  # declared unit (JGS code)
    country: str  # origin country (legacy numeric code)
    low: int  # unit price range, 元
    high: int
    legal_unit: str  # unit1
    legal_qty: Decimal  # qty1 per declared unit
    net_kg: Decimal
    consumption: Decimal = ZERO  # consumption-tax rate (cosmetics ≥ 10 元/ml or g: 15%; wine 10%)
    tariff: Decimal = ZERO  # MFN tariff, charged only outside the limits
    kind: str = "goods"


def _p(
    name: str, gcode: str, gmodel: str, unit: str, country: str, low: int, high: int, net: str, **kw: Any
) -> Product:
    legal_unit, legal_qty = kw.pop("legal", ("035", net))
    return Product(name, gcode, gmodel, unit, country, low, high, legal_unit, Decimal(legal_qty), Decimal(net), **kw)


C15, C10 = Decimal("0.15"), Decimal("0.10")
# Prices keep every cosmetic clearly on one side of the 10 元/ml-or-g line for high-end cosmetics.
PRODUCTS: tuple[Product, ...] = (
    _p("海蓝之谜精华面霜", "3304990099", "60ml/瓶", "142", "502", 2100, 2600, "0.2", consumption=C15,
       tariff=Decimal("0.01"), kind="cosmetic"),
    _p("赫莲娜活颜修护晚霜", "3304990099", "50ml/瓶", "142", "305", 2800, 3300, "0.18", consumption=C15,
       tariff=Decimal("0.01"), kind="cosmetic"),
    _p("资生堂红妍肌活精华露", "3304990099", "50ml/瓶", "142", "116", 560, 760, "0.15", consumption=C15,
       kind="cosmetic"),
    _p("迪奥烈艳蓝金唇膏", "3304100090", "3.5g/支", "012", "305", 280, 350, "0.03", consumption=C15,
       kind="cosmetic"),
    _p("SK-II护肤精华露", "3304990099", "230ml/瓶", "142", "116", 1290, 1590, "0.45", kind="cosmetic"),
    _p("雪花秀滋盈肌本润颜水", "3304990099", "150ml/瓶", "142", "133", 290, 420, "0.35", kind="cosmetic"),
    _p("兰蔻小黑瓶精华肌底液", "3304990099", "100ml/瓶", "142", "305", 760, 980, "0.3", kind="cosmetic"),
    _p("芙丽芳丝净润洗面霜", "3401300000", "100g/支", "012", "116", 105, 160, "0.15", kind="cosmetic"),
    _p("爱他美卓萃婴儿配方奶粉3段", "1901101000", "900g/罐", "122", "304", 238, 298, "0.9", kind="milk"),
    _p("a2至初婴儿配方奶粉3段", "1901101000", "900g/罐", "122", "609", 265, 335, "0.9", kind="milk"),
    _p("明治婴儿配方奶粉1段", "1901101000", "800g/罐", "122", "116", 185, 235, "0.8", kind="milk"),
    _p("Swisse维生素C泡腾片", "2106909090", "60片/瓶", "142", "601", 89, 129, "0.25", kind="health"),
    _p("Blackmores深海鱼油软胶囊", "2106909090", "400粒/瓶", "142", "601", 159, 229, "0.6", kind="health"),
    _p("Nature Made维生素D3软胶囊", "2106909090", "100粒/瓶", "142", "502", 79, 119, "0.1", kind="health"),
    _p("FANCL综合维生素营养包", "2106909090", "30袋/盒", "140", "116", 158, 218, "0.12", kind="health"),
    _p("COACH蔻驰女士托特包", "4202210090", "牛皮 中号", "007", "141", 1800, 3600, "0.8",
       legal=("007", "1"), tariff=Decimal("0.10"), kind="luxury"),
    _p("天梭力洛克系列机械男表", "9102110000", "T006.407.11.053", "008", "331", 3200, 4800, "0.15",
       legal=("008", "1"), kind="luxury"),
    _p("卡西欧G-SHOCK运动电子表", "9102120000", "GA-2100", "008", "136", 699, 1099, "0.1",
       legal=("008", "1"), kind="luxury"),
    _p("奔富BIN389赤霞珠设拉子红葡萄酒", "2204210000", "750ml 14.5%vol", "142", "601", 468, 628, "1.3",
       legal=("095", "0.75"), consumption=C10, kind="wine"),
    _p("拉菲传奇波尔多红葡萄酒", "2204210000", "750ml 13%vol", "142", "305", 158, 228, "1.3",
       legal=("095", "0.75"), consumption=C10, kind="wine"),
    _p("明治雪吻巧克力", "1806320000", "185g/盒", "140", "116", 38, 58, "0.185", kind="snack"),
    _p("卡乐比水果麦片", "1904100000", "700g/袋", "136", "116", 55, 79, "0.7", kind="snack"),
    _p("乐天木糖醇口香糖", "1704100000", "143g/瓶", "142", "133", 25, 39, "0.143", kind="snack"),
    _p("农心辛拉面", "1902300000", "120g*5袋", "136", "133", 29, 45, "0.6", kind="snack"),
    _p("好丽友巧克力派", "1905909000", "12枚/盒", "140", "133", 25, 39, "0.4", kind="snack"),
    _p("LOTUS和情焦糖饼干", "1905310000", "250g/袋", "136", "301", 22, 36, "0.25", kind="snack"),
    _p("白色恋人白巧克力夹心饼干", "1905310000", "12枚/盒", "140", "116", 88, 128, "0.25", kind="snack"),
    _p("Kirkland混合坚果", "2008199990", "1.13kg/罐", "122", "502", 128, 168, "1.13", kind="snack"),
    _p("花王妙而舒纸尿裤L码", "9619001100", "54片/包", "125", "116", 98, 138, "1.5", kind="daily"),
    _p("狮王齿力佳牙膏", "3306100000", "120g/支", "012", "116", 18, 29, "0.12", kind="daily"),
    _p("贝亲宽口径PPSU奶瓶", "3924100000", "240ml/个", "007", "116", 129, 169, "0.3", kind="daily"),
    # Scenario-only goods: an HTML-hostile name, and a single indivisible item above 5,000.
    _p('Tom & Jerry <Limited> "Gift" Set', "9503002100", "公仔礼盒 3只装", "006", "502", 199, 299, "0.6",
       legal=("006", "1"), kind="html"),
    _p("路易威登Neverfull中号手袋", "4202210090", "涂层帆布 MM", "007", "305", 6500, 7200, "0.6",
       legal=("007", "1"), tariff=Decimal("0.10"), kind="full_tax"),
)  # fmt: skip
_BY_NAME = {p.name: p for p in PRODUCTS}
_REGULAR_KINDS = ("cosmetic", "milk", "health", "luxury", "wine", "snack", "daily")


def product_named(gname: str) -> Product:
    """The catalogue entry behind a demo list line (tests use it to recompute taxes)."""
    return _BY_NAME[gname]


@dataclass(frozen=True)
class Platform:
    name: str
    code: str
    order_no: Callable[[Random], str]
    sellers: tuple[tuple[str, str], ...]  # (ebcCode, ebcName)


def _digits(rng: Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _numbered(rng: Random, prefix: str, n: int) -> str:
    return prefix + _digits(rng, n)


PLATFORMS: tuple[Platform, ...] = (
    Platform("天猫国际", "3301964J31", lambda r: "2" + _digits(r, 18), (
        ("3301966A4N", "天猫国际进口超市(香港)有限公司"),
        ("3301962B17", "Costco Wholesale Hong Kong Limited"),
        ("3301968K05", "资生堂海外旗舰店(香港)有限公司"),
    )),
    Platform("京东国际", "1101969J62", lambda r: "3" + _digits(r, 11), (
        ("1101966J21", "京东国际自营(香港)有限公司"),
        ("1101963C88", "Chemist Warehouse(香港)有限公司"),
    )),
    Platform("考拉海购", "3301964L89", lambda r: "XS" + _digits(r, 16), (
        ("3301966K12", "考拉海购(香港)有限公司"),
        ("3301961M36", "LOOKFANTASTIC Hong Kong Limited"),
    )),
    Platform("抖音全球购", "1101960D77", lambda r: "6" + _digits(r, 18), (
        ("1101965D42", "抖音全球购跨境贸易(香港)有限公司"),
        ("4401962010", "韩国乐天免税店(香港)有限公司"),
    )),
    Platform("唯品会", "4401966W22", lambda r: "2" + _digits(r, 16), (
        ("4401966W87", "唯品会(香港)有限公司"),
        ("4401963S19", "香港莎莎网络有限公司"),
    )),
)  # fmt: skip


@dataclass(frozen=True)
class Carrier:
    name: str
    code: str
    waybill: Callable[[Random], str]


CARRIERS: tuple[Carrier, ...] = (
    Carrier("中国邮政速递物流股份有限公司", "1105910159", lambda r: "EA" + _digits(r, 9) + "CN"),
    Carrier("顺丰速运有限公司", "4403180WT3", lambda r: "SF" + _digits(r, 13)),
    Carrier("中通国际物流有限公司", "3101980Z46", lambda r: "78" + _digits(r, 12)),
    Carrier("圆通速递有限公司", "3101960YT2", lambda r: "YT" + _digits(r, 13)),
    Carrier("京东物流股份有限公司", "1101961JD8", lambda r: "JD" + _digits(r, 13)),
    Carrier("菜鸟供应链管理有限公司", "3301960CN6", lambda r: "LP" + _digits(r, 14)),
)


@dataclass(frozen=True)
class CustomsSite:
    code: str  # customsCode = portCode
    agent: tuple[str, str]  # 申报企业 (agentCode, agentName); also the guarantor (assureCode)
    area: tuple[str, str]  # 区内企业 (bonded warehouse operator), for 1210
    prefix: str  # copNo prefix


SITES: tuple[CustomsSite, ...] = (
    CustomsSite("2924", ("3301980Z02", "杭州跨境通报关有限公司"), ("3301W6K001", "杭州下沙保税物流有限公司"), "HZ"),
    CustomsSite("5165", ("4401980N11", "广州南沙跨境供应链有限公司"), ("4401W6N003", "广州南沙保税仓储有限公司"), "GZ"),
    CustomsSite("2244", ("3122980Y05", "上海洋山国际报关有限公司"), ("3122W6Y002", "上海外高桥保税物流有限公司"), "SH"),
    CustomsSite(
        "4604", ("4101980Z31", "郑州航空港跨境报关有限公司"), ("4101W6Z008", "郑州新郑综保区仓储有限公司"), "ZZ"
    ),
    CustomsSite("8012", ("5001980X17", "重庆西永跨境报关有限公司"), ("5001W6X004", "重庆西永综保区物流有限公司"), "CQ"),
)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "慕容")
GIVEN_MALE = "伟强磊军洋勇杰涛明超浩宇俊鹏辉斌峰建国志文博轩睿哲"
GIVEN_FEMALE = "芳娜敏静丽艳娟霞婷雪琳颖慧佳欣怡萱梦瑶晴诗雨薇"
REGIONS = (
    ("110105", "北京市朝阳区"), ("110108", "北京市海淀区"), ("310104", "上海市徐汇区"), ("310115", "上海市浦东新区"),
    ("440106", "广东省广州市天河区"), ("440305", "广东省深圳市南山区"), ("330106", "浙江省杭州市西湖区"),
    ("320106", "江苏省南京市鼓楼区"), ("510107", "四川省成都市武侯区"), ("420106", "湖北省武汉市武昌区"),
    ("370202", "山东省青岛市市南区"), ("350203", "福建省厦门市思明区"), ("610113", "陕西省西安市雁塔区"),
    ("500103", "重庆市渝中区"), ("210202", "辽宁省大连市中山区"),
)  # fmt: skip
STREETS = ("建国路", "中山路", "人民路", "解放路", "南京西路", "天河路", "科技园南路", "文三路", "长江路", "和平大街")
MOBILE_PREFIXES = ("138", "139", "135", "136", "137", "150", "151", "152", "158", "159", "182", "186", "187", "188",
                   "189", "133", "153", "177", "180", "181", "199", "166")  # fmt: skip

_RECEIPT_INFO = {
    1: "电子口岸已暂存",
    3: "发送海关成功",
    4: "发送海关失败[Desc:海关连接超时，请重新发送]",
    100: "[Code:2400;Desc:海关退单]",
    120: "[Code:1800;Desc:逻辑校验通过]",
    300: "[Code:2100;Desc:转人工审核]",
    399: "[Code:2200;Desc:海关审结]",
    500: "[Code:2300;Desc:查验]",
    501: "[Code:2310;Desc:扣留移送通关]",
    502: "[Code:2320;Desc:扣留移送缉私]",
    503: "[Code:2330;Desc:扣留移送法规]",
    599: "[Code:2390;Desc:其它扣留]",
    700: "[Code:2700;Desc:退运]",
    800: "[Code:2600;Desc:放行]",
    899: "[Code:2800;Desc:结关]",
    600: (
        "挂起,向订购人发起交易真实性验核，请及时联系订购人在15天内登入“掌上海关”APP、微信小程序或"
        "“掌上单一窗口”APP完成验核"
    ),
    -1: "[Code:-1;Desc:报文处理异常：订购人信息校验失败]",
}
# As the customs word it (next-features.md §1.3): the year's total with this order, and the limit.
_OVER_LIMIT_INFO = (
    "[Code:1313;Desc:订购人购买超过年度限额,超过个人年度购买额度;totalPrice：{total} > limitPrice: {limit};]"
)
_CANCEL_INFO = {
    120: "[Code:1800;Desc:逻辑校验通过]",
    399: "[Code:2300;Desc:审核通过],撤单申请审核通过,清单[{invt}]已成功撤单",
}
_REFUND_INFO = {120: "[Code:1800;Desc:逻辑校验通过]", 399: "[Code:2300;Desc:审核通过],退货申请审核通过"}

# Seconds between one receipt and the next, as (low, high); bounded so that _MARGIN_DAYS holds.
_STEP_SECONDS = {
    1: (1, 5), 2: (5, 30), 3: (30, 120), 4: (30, 120), 100: (600, 3600), 120: (120, 600),
    300: (1800, 14400), 399: (600, 7200), 500: (3600, 21600), 501: (86400, 172800), 502: (86400, 172800),
    503: (86400, 172800), 599: (86400, 172800), 600: (600, 7200), 700: (259200, 864000), 800: (3600, 86400),
    899: (86400, 259200), -1: (10, 60),
}  # fmt: skip
# Days a list's receipts may run past its declaration date (upper bound of the steps above).
_MARGIN_DAYS = {1: 0, 2: 0, 3: 0, 4: 0, -1: 0, 100: 1, 120: 1, 300: 1, 399: 1, 500: 1, 600: 1, 800: 2, 899: 5, 700: 12}
_RECENT = frozenset({1, 2, 3, 4, 120, 300, 399, 500, 501, 502, 503, 599, 600})  # still in progress: recent lists
# Scenario lists placed so their story fits before `today`: (fewest, most) days before it.
_DAYS_AGO = {"cancelled": (4, 12), "returned": (45, 300)}


def _margin(status: int) -> int:
    return _MARGIN_DAYS.get(status, 3)  # 501–599: up to two days after 500


def _sequence(rng: Random, final: int) -> list[int]:
    """A realistic chain of receipt statuses ending in `final`, e.g. 2 → 120 → 399 → 800 → 899."""
    sent = [2, 3] if rng.random() < 0.5 else [2]
    if final in (1, 2):
        return [1, 2] if final == 2 else [1]
    if final in (3, 4):
        return [2, final]
    if final < 0:
        return [2, final]
    if final == 100:
        return [*sent, 100]
    chain = [*sent, 120]
    if final == 120:
        return chain
    if final in (300, 399, 500, 600):
        return [*chain, final]
    if 500 < final < 600:
        return [*chain, 500, final]
    if final == 700:  # assessed, inspected, shipped back: the tax slip is then voided
        return [*chain, 399, 500, 700]
    chain.append(399)
    chain.append(800)
    return chain if final == 800 else [*chain, 899]


# --------------------------------------------------------------------------- people


@dataclass
class _Person:
    name: str
    id_number: str
    phone: str
    address: str
    platforms: list[Platform]
    account_id: str | None  # None: an identity with no Single Window account (orphan)
    csv_phone: str = ""
    csv_id: str = ""


def _name(rng: Random, male: bool, compound: bool) -> str:
    surname = rng.choice(COMPOUND_SURNAMES) if compound else rng.choice(SURNAMES)
    pool = GIVEN_MALE if male else GIVEN_FEMALE
    return surname + "".join(rng.choice(pool) for _ in range(rng.choice((1, 2, 2))))


def _phone(rng: Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + _digits(rng, 8)


def _csv_phone(phone: str, style: int) -> str:
    """The same mobile as people type it: plain, +86 with dashes, 86 prefix, grouped, +86."""
    a, b, c = phone[:3], phone[3:7], phone[7:]
    return (phone, f"+86 {a}-{b}-{c}", "86" + phone, f"{a} {b} {c}", "+86" + phone)[style % 5]


def _address(rng: Random, region: str | None = None) -> str:
    city = region or rng.choice(REGIONS)[1]
    return (
        f"{city}{rng.choice(STREETS)}{rng.randint(1, 999)}号"
        f"{rng.randint(1, 30)}栋{rng.randint(1, 3)}单元{rng.randint(1, 32)}{rng.randint(1, 4):02d}室"
    )


def _person(rng: Random, today: date, index: int, *, compound: bool, want_x: bool, account_id: str | None) -> _Person:
    male = rng.random() < 0.45
    region, city = rng.choice(REGIONS)
    age_days = rng.randint(20 * 365 + 5, 65 * 365)
    birth = today - timedelta(days=age_days)
    seq = rng.randrange(0, 500) * 2 + (1 if male else 0)  # odd = male, even = female (GB 11643)
    id_number = make_id_number(region, birth, seq % 1000)
    while want_x and not id_number.endswith("X"):  # one account shows the "x" check character
        seq = (seq + 2) % 1000
        id_number = make_id_number(region, birth, seq)
    phone = _phone(rng)
    person = _Person(
        name=_name(rng, male, compound),
        id_number=id_number,
        phone=phone,
        address=_address(rng, city),
        platforms=rng.sample(list(PLATFORMS), rng.randint(1, 3)),
        account_id=account_id,
        csv_phone=_csv_phone(phone, index),
        csv_id=id_number.lower() if want_x else id_number,
    )
    return person


def _people(rng: Random, today: date, consumers: int) -> tuple[list[_Person], list[_Person]]:
    accounts: list[_Person] = []
    ids: set[str] = set()
    account_ids: set[str] = set()
    compound_at, x_at = min(1, consumers - 1), min(2, consumers - 1)
    for i in range(consumers + 3):  # three extra identities have records but no account
        while True:
            account_id = f"SW{rng.randrange(10**9, 10**10)}"
            if account_id not in account_ids:
                break
        account_ids.add(account_id)
        while True:  # identities must be distinct (a clash is astronomically unlikely)
            person = _person(
                rng, today, i, compound=(i == compound_at or rng.random() < 0.05), want_x=(i == x_at),
                account_id=account_id if i < consumers else None,
            )  # fmt: skip
            if person.id_number not in ids:
                break
        ids.add(person.id_number)
        accounts.append(person)
    return accounts[:consumers], accounts[consumers:]


# --------------------------------------------------------------------------- lists


@dataclass
class _Line:
    product: Product
    qty: int
    price: Decimal

    @property
    def total(self) -> Decimal:
        return self.price * self.qty


@dataclass
class _List:
    person: _Person
    kind: str  # "regular" or a scenario name
    final: int
    app_time: datetime
    platform: Platform
    seller: tuple[str, str]
    carrier: Carrier
    site: CustomsSite
    trade_mode: str
    lines: list[_Line]
    freight: Decimal
    insured_fee: Decimal
    phone: str  # 11 digits
    address: str
    phone_text: str = ""  # buyerTelephone as the platform wrote it
    order_no: str = ""
    cop_no: str = ""
    pre_no: str = ""
    invt_no: str = ""
    logistics_no: str = ""
    message: int | None = None  # lists sharing a number are written in one CEB621
    receipts: list[tuple[int, datetime, str]] = field(default_factory=list)
    tax_time: datetime | None = None
    tax_events: list[tuple[int, datetime, str | None]] = field(default_factory=list)
    guids: dict[str, str] = field(default_factory=dict)
    requests: list[_Request] = field(default_factory=list)  # a cancellation or a return
    over_limit: tuple[Decimal, Decimal] | None = None  # 1313: (the year's total with it, the limit)

    @property
    def decl_date(self) -> date:
        return self.app_time.date()

    @property
    def value(self) -> Decimal:
        return cbec.dutiable_value([ln.total for ln in self.lines], self.freight, self.insured_fee)

    @property
    def full_tax(self) -> bool:
        """A single indivisible item above the single-transaction limit is taxed in full (§1.3)."""
        limit = cbec.single_limit(self.decl_date)
        single = len(self.lines) == 1 and self.lines[0].qty == 1
        return single and limit is not None and self.value > limit

    @property
    def suspicious(self) -> bool:
        return self.phone != self.person.phone or self.platform not in self.person.platforms

    @property
    def cancelled(self) -> bool:
        return any(r.kind == "cancel" and r.approved for r in self.requests)

    @property
    def returned(self) -> dict[int, int]:
        """gnum → pieces sent back by approved returns."""
        out: dict[int, int] = {}
        for r in self.requests:
            if r.kind == "refund" and r.approved:
                for gnum, qty in r.lines:
                    out[gnum] = out.get(gnum, 0) + qty
        return out

    @property
    def returned_value(self) -> Decimal:
        back = self.returned
        if not back:
            return ZERO
        rows = [(ln.total, Decimal(ln.qty), Decimal(back.get(g, 0))) for g, ln in enumerate(self.lines, 1)]
        return cbec.returned_value(self.value, rows)

    @property
    def counted(self) -> bool:
        """Counts toward the quota: by its status, unless cancelled or all of it returned."""
        everything_back = self.returned_value > 0 and self.returned_value >= self.value
        return cbec.is_counted(self.final) and not self.cancelled and not everything_back

    @property
    def counted_value(self) -> Decimal:
        return self.value - self.returned_value if self.counted else ZERO


@dataclass
class _Request:
    """A cancellation (CEB623) or a return (CEB625) and its receipts (CEB624 / CEB626)."""

    kind: str  # "cancel" or "refund"
    app_time: datetime
    cop_no: str
    pre_no: str
    lines: list[tuple[int, int]]  # refund: (gnum, pieces)
    receipts: list[tuple[int, datetime, str]] = field(default_factory=list)
    guid: str = ""

    @property
    def approved(self) -> bool:
        return bool(self.receipts) and max(self.receipts, key=lambda r: r[1])[0] == 399


def _price(rng: Random, product: Product) -> Decimal:
    yuan = rng.randint(product.low, product.high)
    cents = rng.choice((0, 0, 0, 90, 50, rng.randint(1, 99)))
    return (Decimal(yuan) + Decimal(cents) / 100).quantize(CENT)


def _lines(rng: Random, kind: str, limit: Decimal) -> list[_Line]:
    if kind == "full_tax":
        product = _BY_NAME["路易威登Neverfull中号手袋"]
        return [_Line(product, 1, _price(rng, product))]
    if kind == "returned":  # two goods, two pieces of the first: one of them goes back
        first, second = rng.sample([p for p in PRODUCTS if p.kind in ("health", "daily")], 2)
        return [_Line(first, 2, _price(rng, first)), _Line(second, 1, _price(rng, second))]
    if kind == "long":  # a big basket of cheap goods: 42 lines
        pool = [p for p in PRODUCTS if p.kind in ("snack", "daily")]
        return [_Line(p, 1, _price(rng, p)) for p in (rng.choice(pool) for _ in range(42))]
    kinds = [rng.choice(_REGULAR_KINDS) for _ in range(rng.choice((1, 1, 2, 2, 3)))]
    products = []
    for k in kinds:
        product = rng.choice([p for p in PRODUCTS if p.kind == k])
        if product not in products:
            products.append(product)
    if kind == "html":
        products.insert(0, _BY_NAME['Tom & Jerry <Limited> "Gift" Set'])
    lines = [_Line(p, rng.choice((1, 1, 1, 2, 2, 3)), _price(rng, p)) for p in products]
    # Stay within the single-transaction limit: fewer pieces, then fewer lines.
    while sum((ln.total for ln in lines), ZERO) > limit - 100:
        biggest = max(lines, key=lambda ln: ln.total)
        if biggest.qty > 1:
            biggest.qty -= 1
        elif len(lines) > 1:
            lines.remove(biggest)
        else:
            break
    return lines


def _declared_at(rng: Random, today: date, final: int, year: int | None, kind: str = "") -> datetime:
    first = max(date(today.year - 3, 1, 1), cbec.CBEC_START)  # no CBEC lists before 2016-04-08
    latest = today - timedelta(days=_margin(final))
    if kind in _DAYS_AGO:
        fewest, most = _DAYS_AGO[kind]
        lo, hi = max(first, today - timedelta(days=most)), max(first, today - timedelta(days=fewest))
    elif final == 600:  # suspended for 验核 a few days ago: the 15-day countdown still runs
        lo, hi = max(first, today - timedelta(days=4)), latest
    elif final in _RECENT:
        lo, hi = max(first, today - timedelta(days=20)), latest
    elif year is not None:
        lo, hi = max(first, date(year, 1, 1)), min(date(year, 12, 31), latest)
    else:
        lo, hi = first, latest
    if lo > hi:
        lo = hi
    day = lo + timedelta(days=rng.randint(0, (hi - lo).days))
    # Orders are placed between 08:00 and 21:59, leaving a same-day chain room before midnight.
    return datetime.combine(day, time(rng.randint(8, 21), rng.randint(0, 59), rng.randint(0, 59)))


def _new_list(
    rng: Random,
    today: date,
    person: _Person,
    kind: str,
    final: int,
    *,
    year: int | None = None,
    platform: Platform | None = None,
) -> _List:
    app_time = _declared_at(rng, today, final, year, kind)
    platform = platform or rng.choice(person.platforms)
    site = rng.choice(SITES)
    bonded = kind == "long" or rng.random() < 0.6
    limit = cbec.single_limit(app_time.date()) or Decimal(5000)
    lines = _lines(rng, kind, limit)
    freight = ZERO if bonded and rng.random() < 0.7 else Decimal(rng.choice((8, 10, 12, 15, 20, 25, 30)))
    insured = ZERO if rng.random() < 0.8 else (Decimal(rng.randint(50, 500)) / 100).quantize(CENT)
    phone, address = person.phone, person.address
    if kind in ("stolen", "other_phone"):
        phone = _phone(rng)
        address = _address(rng) if kind == "stolen" else address
    return _List(
        person=person, kind=kind, final=final, app_time=app_time, platform=platform,
        seller=rng.choice(platform.sellers), carrier=rng.choice(CARRIERS), site=site,
        trade_mode="1210" if bonded else "9610", lines=lines, freight=freight, insured_fee=insured,
        phone=phone, address=address, phone_text=_csv_phone(phone, rng.choice((0, 0, 0, 0, 0, 0, 2, 4))),
    )  # fmt: skip


def _plan_lists(rng: Random, today: date, holders: list[_Person], orphans: list[_Person]) -> list[_List]:
    lists: list[_List] = []
    turn = iter(range(10**6))

    def holder() -> _Person:
        return holders[next(turn) % len(holders)]

    for status in REQUIRED_STATUSES:
        lists.append(_new_list(rng, today, holder(), "regular_scenario", status))
    lists.append(_new_list(rng, today, holder(), "full_tax", 899))
    lists.append(_new_list(rng, today, holder(), "html", 800))
    lists.append(_new_list(rng, today, holder(), "long", 899))
    lists.append(_new_list(rng, today, holder(), "other_phone", 899))
    lists.append(_new_list(rng, today, holder(), "cancelled", 399))  # then cancelled, approved
    lists.append(_new_list(rng, today, holder(), "returned", 899))  # then partly returned, approved
    for final in (800, 399):  # someone else's phone and address, on a platform the victim never used
        victim = holder()
        unused = [p for p in PLATFORMS if p not in victim.platforms]
        lists.append(_new_list(rng, today, victim, "stolen", final, platform=rng.choice(unused)))
    buyer = holder()
    first = _new_list(rng, today, buyer, "batch", 800)
    second = _new_list(rng, today, buyer, "batch", 800, platform=first.platform)
    second.app_time = first.app_time + timedelta(seconds=rng.randint(1, 40))
    second.site = first.site  # one declaring agent sends the message
    first.message = second.message = 1
    lists += [first, second]
    for person in orphans:
        for _ in range(rng.randint(1, 2)):
            lists.append(_new_list(rng, today, person, "orphan", rng.choice((800, 899))))
    # Everyday shopping: 1–4 lists a year each, over the four years; one heavy buyer hits the limit.
    for person in holders:
        for year in range(today.year - 3, today.year + 1):
            for _ in range(rng.randint(1, 4)):
                lists.append(_new_list(rng, today, person, "regular", rng.choice((800, 899, 899)), year=year))
    heavy = holders[0]
    for _ in range(12):
        lst = _new_list(rng, today, heavy, "regular", 899, year=today.year - 1)
        product = rng.choice([p for p in PRODUCTS if p.kind == "luxury" and p.high > 3000])
        lst.lines = [_Line(product, 1, _price(rng, product))]
        lists.append(lst)
    for _ in range(max(1, len(holders) // 5)):  # an odd failure now and then
        lists.append(_new_list(rng, today, holder(), "regular", rng.choice((100, 700, -1))))
    return lists


def _apply_annual_limit(lists: list[_List]) -> None:
    """A counted list that would take its buyer past the annual limit is refused (退单 100)."""
    used: dict[tuple[str, int], Decimal] = {}
    for lst in sorted(lists, key=lambda x: x.app_time):
        if not cbec.is_counted(lst.final):
            continue
        key = (lst.person.id_number, lst.decl_date.year)
        limit = cbec.annual_limit(key[1]) or Decimal(10**9)
        total = used.get(key, ZERO) + lst.value
        if total > limit and lst.kind == "regular":
            lst.final = 100
            lst.kind = "over_limit"
            lst.over_limit = (total, limit)
            continue
        used[key] = total


def _number_lists(rng: Random, lists: list[_List]) -> None:
    """Order, waybill, copNo, preNo and invtNo: unique, and consistent with the dates."""
    seen: set[str] = set()

    def unique(make: Callable[[], str]) -> str:
        while True:
            value = make()
            if value not in seen:
                seen.add(value)
                return value

    for lst in lists:
        day = lst.decl_date.strftime("%Y%m%d")
        lst.order_no = unique(partial(lst.platform.order_no, rng))
        lst.logistics_no = unique(partial(lst.carrier.waybill, rng))
        lst.cop_no = unique(partial(_numbered, rng, f"{lst.site.prefix}{day}", 6))
        lst.pre_no = unique(partial(_numbered, rng, f"B{day}", 9))
        lst.invt_no = unique(partial(_numbered, rng, f"{lst.site.code}{lst.decl_date.year}I", 9))


def _receipts(rng: Random, lst: _List) -> None:
    moment = lst.app_time
    for status in _sequence(rng, lst.final):
        low, high = _STEP_SECONDS[status]
        moment += timedelta(seconds=rng.randint(low, high), milliseconds=rng.randint(0, 999))
        if status == 2:
            info = f"清单新增申报成功[电商企业编码：{lst.seller[0]}订单编号：{lst.order_no}]"
        elif status == 100 and lst.over_limit is not None:
            total, limit = lst.over_limit
            info = _OVER_LIMIT_INFO.format(total=f"{total:,.2f}", limit=f"{limit:,.0f}")
        else:
            info = _RECEIPT_INFO[status]
        lst.receipts.append((status, moment, info))
        if status == 399:
            lst.tax_time = moment + timedelta(seconds=rng.randint(1, 90), milliseconds=rng.randint(0, 999))


def _requests(rng: Random, lst: _List) -> None:
    """The seller cancels an assessed order, or has part of a released one returned; E-port takes
    the request in (120) and customs approve it (399)."""
    if lst.kind == "cancelled":
        after = lst.receipts[-1][1] + timedelta(hours=rng.randint(1, 6), seconds=rng.randint(0, 3599))
        kind, info, lines = "cancel", _CANCEL_INFO, []
    elif lst.kind == "returned":
        released = next(t for status, t, _ in lst.receipts if status == 800)
        after = released + timedelta(days=rng.randint(5, 20), seconds=rng.randint(0, 86399))
        kind, info, lines = "refund", _REFUND_INFO, [(1, 1)]
    else:
        return
    day = f"{after:%Y%m%d}"
    letter = "C" if kind == "cancel" else "T"
    request = _Request(kind, after.replace(microsecond=0), f"{lst.site.prefix}{letter}{day}{_digits(rng, 6)}",
                       f"{letter}{day}{_digits(rng, 9)}", lines)  # fmt: skip
    moment = request.app_time
    for status, (low, high) in ((120, (30, 600)), (399, (1800, 14400))):
        moment += timedelta(seconds=rng.randint(low, high), milliseconds=rng.randint(0, 999))
        request.receipts.append((status, moment, info[status].format(invt=lst.invt_no)))
    lst.requests.append(request)


def _tax_events(rng: Random, lst: _List, end_of_today: datetime, serial: Callable[[], int]) -> None:
    """CEB818: void the slip of a list shipped back (700); summarise most slips after 10–25 days."""
    if lst.tax_time is None:
        return
    if lst.cancelled:  # the cancellation is approved: no tax will be collected
        approved = max(r[1] for q in lst.requests for r in q.receipts)
        lst.tax_events.append((cbec.TAX_VOID, approved + timedelta(minutes=rng.randint(1, 30)), None))
        return
    if lst.final == 700:
        moment = lst.receipts[-1][1] + timedelta(minutes=rng.randint(1, 60), milliseconds=rng.randint(0, 999))
        lst.tax_events.append((cbec.TAX_VOID, moment, None))
        return
    moment = lst.tax_time + timedelta(days=rng.randint(10, 25), seconds=rng.randint(0, 86399))
    if moment <= end_of_today and rng.random() < 0.85:
        duty_no = f"{lst.site.code}{moment:%Y%m%d}{serial():06d}"
        lst.tax_events.append((cbec.TAX_SUMMARISED, moment, duty_no))


# --------------------------------------------------------------------------- taxes


@dataclass(frozen=True)
class _TaxLine:
    gnum: int
    gcode: str
    price: Decimal  # 完税价格 of the line: its goods plus its share of freight and insurance
    tax: cbec.TaxAmounts


def _tax_lines(lst: _List) -> list[_TaxLine]:
    # Freight and insurance are shared out in proportion to line value; the last line takes the
    # rounding remainder so that the lines add up to the list's dutiable value exactly.
    extra = lst.freight + lst.insured_fee
    goods = sum((ln.total for ln in lst.lines), ZERO)
    shares, given = [], ZERO
    for i, ln in enumerate(lst.lines):
        share = extra - given if i == len(lst.lines) - 1 else cbec.round_fen(extra * ln.total / goods)
        given += share
        shares.append(ln.total + share)
    vat = cbec.vat_rate_on(lst.decl_date)
    out = []
    for gnum, (ln, price) in enumerate(zip(lst.lines, shares, strict=True), 1):
        tax = cbec.line_tax(
            price,
            tariff_rate=ln.product.tariff,
            consumption_rate=ln.product.consumption,
            vat_rate=vat,
            within_limits=not lst.full_tax,
        )
        out.append(_TaxLine(gnum, ln.product.gcode, price, tax))
    return out


# --------------------------------------------------------------------------- XML


def _money(x: Decimal) -> str:
    return f"{x:.2f}"


def _qty(x: Decimal) -> str:
    return format(x.normalize(), "f") if x != x.to_integral_value() else str(int(x))


# Declarations are written as the 202205 samples are (ceb: prefix, signed); E-port's and customs'
# answers in the default namespace, standalone, and tax-slip status changes without a declaration.
_DECLARATION = cebxml.Style(prefix="ceb", indent="    ")
_ANSWER = cebxml.Style(standalone=True, indent="    ")
_BARE = cebxml.Style(declaration=False, indent="    ")


def _signature(rng: Random, when: datetime) -> cebxml.Signature:
    """The right shape, not a real signature: SM2/SM3 as the 202205 rules, RSA-SHA1 before 2022."""
    sm2 = when.year >= 2022
    return cebxml.Signature(
        digest=rng.randbytes(32 if sm2 else 20),
        value=rng.randbytes(64 if sm2 else 128),
        certificate=rng.randbytes(1100),
        key_name=f"{rng.getrandbits(32):08x}",
        algorithms=cebxml.SM2_SM3 if sm2 else cebxml.RSA_SHA1,
    )


def _base_transfer(site: CustomsSite) -> cebxml.Node:
    return cebxml.base_transfer(
        {"copCode": site.agent[0], "copName": site.agent[1], "dxpMode": "DXP", "dxpId": f"DXPENT000{site.code}01",
         "note": ""}
    )  # fmt: skip


def _inventory_xml(lst: _List, bar_codes: dict[str, str], reached_customs: bool) -> cebxml.Node:
    bonded = lst.trade_mode == "1210"
    net = sum((ln.product.net_kg * ln.qty for ln in lst.lines), ZERO).quantize(KG)
    head: dict[str, cebxml.Value] = {
        "guid": lst.guids["621"], "appType": "1", "appTime": cebxml.app_time(lst.app_time), "appStatus": "2",
        "orderNo": lst.order_no, "ebpCode": lst.platform.code, "ebpName": lst.platform.name,
        "ebcCode": lst.seller[0], "ebcName": lst.seller[1], "logisticsNo": lst.logistics_no,
        "logisticsCode": lst.carrier.code, "logisticsName": lst.carrier.name, "copNo": lst.cop_no,
        "preNo": lst.pre_no, "assureCode": lst.site.agent[0],
        "emsNo": f"T{lst.site.code}W000{lst.site.prefix}1" if bonded else "",
        "invtNo": lst.invt_no if reached_customs else "", "ieFlag": "I", "declTime": cebxml.day(lst.decl_date),
        "customsCode": lst.site.code, "portCode": lst.site.code, "ieDate": cebxml.day(lst.decl_date),
        "buyerIdType": "1", "buyerIdNumber": lst.person.id_number, "buyerName": lst.person.name,
        "buyerTelephone": lst.phone_text, "consigneeAddress": lst.address, "agentCode": lst.site.agent[0],
        "agentName": lst.site.agent[1], "areaCode": lst.site.area[0] if bonded else "",
        "areaName": lst.site.area[1] if bonded else "", "tradeMode": lst.trade_mode, "trafMode": "Y" if bonded else "5",
        "trafNo": "" if bonded else "CA1052", "voyageNo": "" if bonded else f"{lst.decl_date:%Y%m%d}",
        "billNo": "" if bonded else f"999-{lst.invt_no[-8:]}", "loctNo": f"{lst.site.code}01", "licenseNo": "",
        "country": "142" if bonded else lst.lines[0].product.country, "freight": _money(lst.freight),
        "insuredFee": _money(lst.insured_fee), "currency": "142", "wrapType": "2", "packNo": "1",
        "grossWeight": str((net * Decimal("1.15") + Decimal("0.2")).quantize(KG)), "netWeight": str(net), "note": "",
    }  # fmt: skip
    lines: list[cebxml.Fields] = []
    for gnum, ln in enumerate(lst.lines, 1):
        p = ln.product
        lines.append({
            "gnum": gnum, "itemNo": f"{lst.seller[0][-4:]}-{bar_codes[p.name][-6:]}", "itemName": p.name,
            "gcode": p.gcode, "gname": p.name, "gmodel": p.gmodel, "barCode": bar_codes[p.name], "country": p.country,
            "tradeCountry": "110" if lst.trade_mode == "9610" else p.country, "currency": "142", "qty": ln.qty,
            "unit": p.unit, "qty1": _qty(p.legal_qty * ln.qty), "unit1": p.legal_unit, "price": _money(ln.price),
            "totalPrice": _money(ln.total), "note": "",
        })  # fmt: skip
    return cebxml.inventory(head, lines)


def _receipt_xml(lst: _List, status: int, moment: datetime, info: str, guid: str) -> cebxml.Node:
    has_invt_no = status >= 100
    return cebxml.inventory_return({
        "guid": guid, "customsCode": lst.site.code, "ebpCode": lst.platform.code, "ebcCode": lst.seller[0],
        "agentCode": lst.site.agent[0], "copNo": lst.cop_no, "preNo": lst.pre_no,
        "invtNo": lst.invt_no if has_invt_no else None, "returnStatus": status,
        "returnTime": cebxml.return_time(moment), "returnInfo": info,
    })  # fmt: skip


def _request_xml(lst: _List, request: _Request) -> cebxml.Node:
    head: dict[str, cebxml.Value] = {
        "guid": request.guid, "appType": "1", "appTime": cebxml.app_time(request.app_time), "appStatus": "2",
        "customsCode": lst.site.code, "orderNo": lst.order_no, "ebpCode": lst.platform.code,
        "ebpName": lst.platform.name, "ebcCode": lst.seller[0], "ebcName": lst.seller[1],
        "logisticsNo": lst.logistics_no, "logisticsCode": lst.carrier.code, "logisticsName": lst.carrier.name,
        "copNo": request.cop_no, "preNo": "", "invtNo": lst.invt_no, "buyerIdType": "1",
        "buyerIdNumber": lst.person.id_number, "buyerName": lst.person.name, "buyerTelephone": lst.phone_text,
        "agentCode": lst.site.agent[0], "agentName": lst.site.agent[1],
        "reason": "消费者申请取消订单" if request.kind == "cancel" else "消费者申请退货（商品破损）", "note": "",
    }  # fmt: skip
    if request.kind == "cancel":
        return cebxml.invt_cancel(head)
    by_gnum = dict(enumerate(lst.lines, 1))
    lines: list[cebxml.Fields] = [
        {"gnum": g, "gcode": by_gnum[g].product.gcode, "gname": by_gnum[g].product.name, "qty": q,
         "unit": by_gnum[g].product.unit, "note": ""}
        for g, q in request.lines
    ]  # fmt: skip
    return cebxml.invt_refund(head, lines)


def _request_receipt_xml(
    lst: _List, request: _Request, status: int, moment: datetime, info: str, guid: str
) -> cebxml.Node:
    values: dict[str, cebxml.Value] = {
        "guid": guid, "customsCode": lst.site.code, "agentCode": lst.site.agent[0], "ebpCode": lst.platform.code,
        "ebcCode": lst.seller[0], "copNo": request.cop_no, "preNo": request.pre_no, "invtNo": lst.invt_no,
        "returnStatus": status, "returnTime": cebxml.return_time(moment), "returnInfo": info,
    }  # fmt: skip
    return (cebxml.invt_cancel_return if request.kind == "cancel" else cebxml.invt_refund_return)(values)


def _tax_xml(lst: _List, lines: list[_TaxLine], guid: str) -> cebxml.Node:
    assert lst.tax_time is not None
    head: dict[str, cebxml.Value] = {
        "guid": guid, "returnTime": cebxml.return_time(lst.tax_time), "invtNo": lst.invt_no,
        "taxNo": lst.invt_no + "_0",
        "customsTax": _money(sum((t.tax.customs for t in lines), ZERO)),
        "valueAddedTax": _money(sum((t.tax.vat for t in lines), ZERO)),
        "consumptionTax": _money(sum((t.tax.consumption for t in lines), ZERO)),
        "status": cbec.TAX_GENERATED, "entDutyNo": "", "note": "", "assureCode": lst.site.agent[0],
        "ebcCode": lst.seller[0], "logisticsCode": lst.carrier.code, "agentCode": lst.site.agent[0],
        "customsCode": lst.site.code, "orderNo": lst.order_no, "logisticsNo": lst.logistics_no,
    }  # fmt: skip
    rows: list[cebxml.Fields] = [
        {"gnum": t.gnum, "gcode": t.gcode, "taxPrice": _money(t.price), "customsTax": _money(t.tax.customs),
         "valueAddedTax": _money(t.tax.vat), "consumptionTax": _money(t.tax.consumption)}
        for t in lines
    ]  # fmt: skip
    return cebxml.tax(head, rows)


def _tax_status_xml(lst: _List, status: int, moment: datetime, duty_no: str | None, guid: str) -> cebxml.Node:
    return cebxml.tax_status({
        "guid": guid, "returnTime": cebxml.return_time(moment), "invtNo": lst.invt_no,
        "taxNo": lst.invt_no + "_0", "status": status, "entDutyNo": duty_no or "", "assureCode": lst.site.agent[0],
    })  # fmt: skip


def _ean13(rng: Random, country: str) -> str:
    prefix = {"116": "49", "133": "880", "601": "93", "609": "94", "304": "40", "305": "30", "502": "0"}.get(
        country, "69"
    )
    body = prefix + _digits(rng, 12 - len(prefix))
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body)) % 10) % 10
    return body + str(check)


# --------------------------------------------------------------------------- assembly


@dataclass(order=True)
class _File:
    arrival: datetime
    msg_type: str
    order: int  # creation order: a stable tie-break
    data: bytes = field(compare=False)


def _uuid(rng: Random, upper: bool) -> str:
    text = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return text.upper() if upper else text


def _out_of_order(rng: Random, lists: list[_List], end_of_today: datetime) -> tuple[set[int], set[int]]:
    """Pick lists whose CEB621 arrives after its receipts, and lists whose last two receipts swap."""
    cutoff = end_of_today - timedelta(days=2)
    old = [i for i, x in enumerate(lists) if x.message is None and len(x.receipts) >= 3 and x.receipts[-1][1] < cutoff]
    late_lists = set(rng.sample(old, min(3, len(old))))
    rest = [i for i in old if i not in late_lists]
    swapped = set(rng.sample(rest, min(2, len(rest))))
    return late_lists, swapped


def _real_style_guid(msg_type: str, lst: _List, serial: int) -> str:
    """36 characters as some senders make them (no UUID): type, site, seller, time, serial."""
    site = f"{lst.site.prefix}{lst.site.code[:2]}"
    guid = f"{msg_type}_{site}_{lst.seller[0][:4]}_{lst.app_time:%Y%m%d%H%M%S}_{serial:04d}"
    assert len(guid) == 36
    return guid


def _files(rng: Random, lists: list[_List], end_of_today: datetime) -> list[_File]:
    files: list[_File] = []
    counter = iter(range(10**9))
    serials = iter(range(1, 10**4))
    bar_codes = {p.name: _ean13(rng, p.country) for p in PRODUCTS}
    late_lists, swapped = _out_of_order(rng, lists, end_of_today)

    def add(arrival: datetime, msg_type: str, data: bytes) -> None:
        files.append(_File(arrival.replace(microsecond=0), msg_type, next(counter), data))

    def answer(msg_type: str, guid: str, node: cebxml.Node, style: cebxml.Style = _ANSWER) -> bytes:
        return cebxml.message(msg_type, guid, [node], style=style)

    batches: dict[int, list[_List]] = {}
    for i, lst in enumerate(lists):
        real_style = rng.random() < 0.5
        lst.guids["621"] = _real_style_guid("CEB621", lst, next(serials)) if real_style else _uuid(rng, upper=True)
        if lst.message is not None:
            batches.setdefault(lst.message, []).append(lst)
            continue
        arrival = lst.app_time
        if i in late_lists:  # the list itself is delivered hours after its receipts and tax slip
            last = max([r[1] for r in lst.receipts] + ([lst.tax_time] if lst.tax_time else []))
            arrival = min(last + timedelta(seconds=rng.randint(600, 21600)), end_of_today)
        node = _inventory_xml(lst, bar_codes, reached_customs=_reached_customs(lst))
        data = cebxml.message(
            "CEB621", lst.guids["621"], [node], transfer=_base_transfer(lst.site),
            signature=_signature(rng, lst.app_time), style=_DECLARATION,
        )  # fmt: skip
        add(arrival, "CEB621", data)
    for group in batches.values():
        nodes = [_inventory_xml(x, bar_codes, _reached_customs(x)) for x in group]
        data = cebxml.message(
            "CEB621", _uuid(rng, upper=True), nodes, transfer=_base_transfer(group[0].site),
            signature=_signature(rng, group[0].app_time), style=_DECLARATION,
        )  # fmt: skip
        add(min(x.app_time for x in group), "CEB621", data)

    for i, lst in enumerate(lists):
        arrivals = [r[1] for r in lst.receipts]
        if i in swapped:  # an older receipt turns up after the newest one
            arrivals[-2] = min(arrivals[-1] + timedelta(seconds=rng.randint(60, 7200)), end_of_today)
        for (status, moment, info), arrival in zip(lst.receipts, arrivals, strict=True):
            guid = _uuid(rng, upper=False)
            add(arrival, "CEB622", answer("CEB622", guid, _receipt_xml(lst, status, moment, info, guid)))
        if lst.tax_time is not None:
            guid = _uuid(rng, upper=False)
            add(lst.tax_time, "CEB816", answer("CEB816", guid, _tax_xml(lst, _tax_lines(lst), guid)))
        for status, moment, duty_no in lst.tax_events:
            guid = _uuid(rng, upper=False)
            add(moment, "CEB818", answer("CEB818", guid, _tax_status_xml(lst, status, moment, duty_no, guid), _BARE))
        for request in lst.requests:
            msg_type, reply = ("CEB623", "CEB624") if request.kind == "cancel" else ("CEB625", "CEB626")
            request.guid = _real_style_guid(msg_type, lst, next(serials))
            data = cebxml.message(
                msg_type, request.guid, [_request_xml(lst, request)], transfer=_base_transfer(lst.site),
                signature=_signature(rng, request.app_time), style=_DECLARATION,
            )  # fmt: skip
            add(request.app_time, msg_type, data)
            for status, moment, info in request.receipts:
                guid = _uuid(rng, upper=False)
                add(moment, reply, answer(reply, guid, _request_receipt_xml(lst, request, status, moment, info, guid)))
    return sorted(files)


def _reached_customs(lst: _List) -> bool:
    return any(status >= 100 for status, _, _ in lst.receipts)


def _csv(accounts: list[_Person]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["account_id", "name", "id_type", "id_number", "phone"])
    for p in accounts:
        writer.writerow([p.account_id, p.name, "1", p.csv_id, p.csv_phone])
    return buffer.getvalue().encode("utf-8")


def _expectations(accounts: list[_Person], lists: list[_List], today: date) -> tuple[AccountExpectation, ...]:
    years = range(today.year - 3, today.year + 1)
    out = []
    for person in accounts:
        own = [x for x in lists if x.person is person]
        counted = [x for x in own if x.counted]
        out.append(
            AccountExpectation(
                account_id=person.account_id or "",
                name=person.name,
                id_number=person.id_number,
                phone=person.phone,
                lists=len(own),
                counted={y: sum(1 for x in counted if x.decl_date.year == y) for y in years},
                consumed={
                    y: cbec.quota_for(y, [x.counted_value for x in counted if x.decl_date.year == y]).consumed
                    for y in years
                },
                tax_slips=sum(1 for x in own if x.tax_time is not None),
                suspicious=sum(1 for x in own if x.suspicious),
                platforms=tuple(p.name for p in person.platforms),
            )
        )
    return tuple(out)


def _clear_old_output(ceb_dir: Path) -> None:
    # Only files this generator names are removed, so a rerun with another seed leaves no strays.
    for path in ceb_dir.glob("*.xml"):
        if _FILE_NAME.fullmatch(path.name):
            path.unlink()


def generate(out_dir: Path, *, consumers: int = 20, seed: int = 1, today: date | None = None) -> DemoSummary:
    """Write demo accounts and CEB messages under `out_dir`; the same arguments give the same bytes.

    `today` defaults to DEFAULT_TODAY (not the wall clock) so that output is reproducible.
    Accounts: `consumers`; the last one (and, from 8 consumers, the last two) have no records.
    """
    if consumers < 1:
        raise ValueError("consumers must be at least 1")
    today = today or DEFAULT_TODAY
    end_of_today = datetime.combine(today, time(23, 59, 59))
    rng = Random(seed)

    accounts, orphans = _people(rng, today, consumers)
    idle = 0 if consumers < 3 else (2 if consumers >= 8 else 1)
    holders = accounts[: consumers - idle]
    lists = _plan_lists(rng, today, holders, orphans)
    lists.sort(key=lambda x: (x.app_time, x.order_no))
    _apply_annual_limit(lists)
    _number_lists(rng, lists)
    serial = iter(range(1, 10**6))
    for lst in lists:
        _receipts(rng, lst)
        _requests(rng, lst)
        _tax_events(rng, lst, end_of_today, lambda: next(serial))
    files = _files(rng, lists, end_of_today)

    ceb_dir = out_dir / "ceb"
    ceb_dir.mkdir(parents=True, exist_ok=True)
    _clear_old_output(ceb_dir)
    (out_dir / "accounts.csv").write_bytes(_csv(accounts))
    for seq, f in enumerate(files, 1):
        (ceb_dir / f"{f.arrival:%Y%m%d%H%M%S}_{f.msg_type}_{seq:05d}.xml").write_bytes(f.data)

    return DemoSummary(
        accounts=len(accounts),
        lists=len(lists),
        receipts=sum(len(x.receipts) for x in lists),
        tax_slips=sum(1 for x in lists if x.tax_time is not None),
        tax_statuses=sum(len(x.tax_events) for x in lists),
        files=len(files),
        orphan_lists=sum(1 for x in lists if x.person.account_id is None),
        today=today,
        expectations=_expectations(accounts, lists, today),
        requests=sum(len(x.requests) for x in lists),
        request_receipts=sum(len(r.receipts) for x in lists for r in x.requests),
    )
