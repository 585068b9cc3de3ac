"""Bilingual customs reference tables (reference data like CLDR, not gettext catalogs).

Source: reference/domain.md §2.3 (list statuses), §2.4 (tax-slip statuses), §3 (code tables).
The CEB messages use the legacy 3-digit numeric codes, not ISO. Beware public tables with errors:
country 303 is 英国 (305 is 法国); unit 122 is 罐 (盒 is 140).
English names are our own plain translations. Lookups never raise: an unknown code comes back as
the code itself, None as "-".
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "COUNTRIES",
    "CURRENCIES",
    "CUSTOMS_DISTRICTS",
    "ID_TYPES",
    "LIST_STATUSES",
    "TAX_STATUSES",
    "TRADE_MODES",
    "UNITS",
    "country_name",
    "currency_name",
    "customs_name",
    "id_type_name",
    "is_chinese",
    "list_status_name",
    "list_status_note",
    "tax_status_name",
    "trade_mode_name",
    "unit_name",
]

Names = tuple[str, str]  # (Chinese, English)
Code = str | int | None

# 计量单位, 3-digit (domain.md §3.1).
UNITS: Final[dict[str, Names]] = {
    "001": ("台", "unit"),
    "002": ("座", "structure"),
    "003": ("辆", "vehicle"),
    "006": ("套", "set"),
    "007": ("个", "piece"),
    "008": ("只", "piece"),
    "010": ("张", "sheet"),
    "011": ("件", "item"),
    "012": ("支", "stick"),
    "014": ("根", "rod"),
    "015": ("条", "strip"),
    "016": ("把", "piece"),
    "017": ("块", "block"),
    "018": ("卷", "roll"),
    "019": ("副", "pair"),
    "020": ("片", "slice"),
    "021": ("组", "group"),
    "022": ("份", "portion"),
    "025": ("双", "pair"),
    "026": ("对", "pair"),
    "030": ("米", "metre"),
    "032": ("平方米", "square metre"),
    "035": ("千克", "kilogram"),
    "036": ("克", "gram"),
    "070": ("吨", "tonne"),
    "083": ("盎司", "ounce"),
    "095": ("升", "litre"),
    "096": ("毫升", "millilitre"),
    "120": ("箱", "case"),
    "121": ("批", "batch"),
    "122": ("罐", "can"),
    "123": ("桶", "barrel"),
    "125": ("包", "pack"),
    "127": ("打", "dozen"),
    "132": ("本", "copy"),
    "136": ("袋", "bag"),
    "139": ("粒", "pill"),
    "140": ("盒", "box"),
    "142": ("瓶", "bottle"),
    "163": ("部", "unit"),
}

# 币制, legacy numeric (domain.md §3.2; 133 is UNCONFIRMED there but follows the pattern).
CURRENCIES: Final[dict[str, Names]] = {
    "110": ("港币", "Hong Kong dollar"),
    "116": ("日元", "Japanese yen"),
    "121": ("澳门元", "Macanese pataca"),
    "122": ("马来西亚林吉特", "Malaysian ringgit"),
    "127": ("巴基斯坦卢比", "Pakistani rupee"),
    "129": ("菲律宾比索", "Philippine peso"),
    "132": ("新加坡元", "Singapore dollar"),
    "133": ("韩国元", "South Korean won"),
    "136": ("泰国铢", "Thai baht"),
    "142": ("人民币", "Chinese yuan"),
    "143": ("新台币", "New Taiwan dollar"),
    "300": ("欧元", "euro"),
    "302": ("丹麦克朗", "Danish krone"),
    "303": ("英镑", "pound sterling"),
    "326": ("挪威克朗", "Norwegian krone"),
    "330": ("瑞典克朗", "Swedish krona"),
    "331": ("瑞士法郎", "Swiss franc"),
    "501": ("加拿大元", "Canadian dollar"),
    "502": ("美元", "US dollar"),
    "601": ("澳大利亚元", "Australian dollar"),
    "609": ("新西兰元", "New Zealand dollar"),
}

# 国别(地区), legacy numeric (domain.md §3.3).
COUNTRIES: Final[dict[str, Names]] = {
    "110": ("中国香港", "Hong Kong, China"),
    "112": ("印度尼西亚", "Indonesia"),
    "116": ("日本", "Japan"),
    "121": ("中国澳门", "Macao, China"),
    "122": ("马来西亚", "Malaysia"),
    "129": ("菲律宾", "Philippines"),
    "132": ("新加坡", "Singapore"),
    "133": ("韩国", "South Korea"),
    "136": ("泰国", "Thailand"),
    "141": ("越南", "Vietnam"),
    "142": ("中国", "China"),
    "143": ("中国台湾", "Taiwan, China"),
    "301": ("比利时", "Belgium"),
    "302": ("丹麦", "Denmark"),
    "303": ("英国", "United Kingdom"),
    "304": ("德国", "Germany"),
    "305": ("法国", "France"),
    "306": ("爱尔兰", "Ireland"),
    "307": ("意大利", "Italy"),
    "309": ("荷兰", "Netherlands"),
    "312": ("西班牙", "Spain"),
    "315": ("奥地利", "Austria"),
    "318": ("芬兰", "Finland"),
    "326": ("挪威", "Norway"),
    "330": ("瑞典", "Sweden"),
    "331": ("瑞士", "Switzerland"),
    "344": ("俄罗斯联邦", "Russian Federation"),
    "501": ("加拿大", "Canada"),
    "502": ("美国", "United States"),
    "601": ("澳大利亚", "Australia"),
    "609": ("新西兰", "New Zealand"),
    "701": ("国(地)别不详", "unknown country or region"),
    "999": ("中性包装原产国别", "neutral packaging (origin not stated)"),
}

# 贸易方式 (domain.md §3.4).
TRADE_MODES: Final[dict[str, Names]] = {
    "9610": ("跨境贸易电子商务", "Cross-border e-commerce (direct purchase)"),
    "1210": ("保税跨境贸易电子商务", "Bonded cross-border e-commerce"),
    "1239": ("保税跨境贸易电子商务A", "Bonded cross-border e-commerce A"),
}

# buyerIdType (domain.md §2.2).
ID_TYPES: Final[dict[str, Names]] = {
    "1": ("身份证", "Resident ID card"),
    "2": ("其它", "Other"),
}

# CEB622 returnStatus (domain.md §2.3): (Chinese name, English name, Chinese note, English note).
LIST_STATUSES: Final[dict[int, tuple[str, str, str, str]]] = {
    1: ("电子口岸已暂存", "Saved at China E-port", "已暂存，尚未申报", "saved, not yet declared"),
    2: ("电子口岸申报中", "Being declared", "正在向海关申报", "being declared to customs"),
    3: ("发送海关成功", "Sent to customs", "已送达海关，等待处理", "reached customs, waiting"),
    4: ("发送海关失败", "Sending to customs failed", "未能送达海关", "did not reach customs"),
    100: (
        "海关退单",
        "Rejected by customs",
        "海关退单（如超出额度或数据有误）",
        "rejected by customs (e.g. quota exceeded or data error)",
    ),
    120: ("海关入库", "Accepted by customs", "海关已接收", "accepted into the customs system"),
    300: ("人工审核", "Manual review", "海关人工审核中", "under manual review by customs"),
    399: ("海关审结", "Assessed by customs", "海关已审结，等待放行", "assessed by customs, awaiting release"),
    500: ("查验", "Inspection", "海关查验中", "being inspected by customs"),
    501: ("扣留移送通关", "Detained (clearance)", "被扣留，移交通关部门", "detained, passed to clearance"),
    502: (
        "扣留移送缉私",
        "Detained (anti-smuggling)",
        "被扣留，移交缉私部门",
        "detained, passed to anti-smuggling",
    ),
    503: (
        "扣留移送法规",
        "Detained (legal)",
        "被扣留，移交法规部门",
        "detained, passed to the legal department",
    ),
    599: ("其它扣留", "Other detention", "被海关扣留", "detained by customs"),
    # Not in the official list; two non-official code bases use it (next-features.md §1.1).
    600: (
        "挂起",
        "Suspended",
        "海关挂起，等待处理（如交易真实性验核）",
        "suspended by customs (e.g. a purchase check)",
    ),
    700: ("退运", "Returned abroad", "货物已退运出境", "goods sent back abroad"),
    800: ("放行", "Released", "海关已放行", "released by customs"),
    899: ("结关", "Closed", "已结关，通关完成", "customs clearance closed"),
}
_NEGATIVE_STATUS: Final = (
    "处理异常",
    "Processing error",
    "处理异常回执（申报数据有误）",
    "processing error (the declaration data was rejected)",
)
_NO_RECEIPT_NOTE: Final = ("尚无海关回执", "no customs receipt yet")
_UNKNOWN_NOTE: Final = ("未知状态", "unknown status")

# CEB816 税单状态 (domain.md §2.4).
TAX_STATUSES: Final[dict[int, Names]] = {
    1: ("已生成", "Generated"),
    2: ("已汇总", "Summarised"),
    3: ("作废", "Void"),
}

# 关区代码, district level (first two digits; the last two name a subordinate office). Verified
# against two independent public code tables; an unlisted office falls back to its district.
CUSTOMS_DISTRICTS: Final[dict[str, Names]] = {
    "0100": ("北京关区", "Beijing Customs"),
    "0200": ("天津关区", "Tianjin Customs"),
    "0800": ("沈阳关区", "Shenyang Customs"),
    "0900": ("大连关区", "Dalian Customs"),
    "2200": ("上海关区", "Shanghai Customs"),
    "2300": ("南京关区", "Nanjing Customs"),
    "2900": ("杭州关区", "Hangzhou Customs"),
    "3100": ("宁波关区", "Ningbo Customs"),
    "3500": ("福州关区", "Fuzhou Customs"),
    "3700": ("厦门关区", "Xiamen Customs"),
    "4200": ("青岛关区", "Qingdao Customs"),
    "4600": ("郑州关区", "Zhengzhou Customs"),
    "4700": ("武汉关区", "Wuhan Customs"),
    "4900": ("长沙关区", "Changsha Customs"),
    "5100": ("广州关区", "Guangzhou Customs"),
    "5200": ("黄埔关区", "Huangpu Customs"),
    "5300": ("深圳关区", "Shenzhen Customs"),
    "5700": ("拱北关区", "Gongbei Customs"),
    "7200": ("南宁关区", "Nanning Customs"),
    "7900": ("成都关区", "Chengdu Customs"),
    "8000": ("重庆关区", "Chongqing Customs"),
    "9000": ("西安关区", "Xi'an Customs"),
}


def is_chinese(lang: str | None) -> bool:
    """Anything starting with "zh" (zh_CN, zh-Hans, zh) is Chinese; everything else English."""
    return isinstance(lang, str) and lang.strip().lower().startswith("zh")


def _raw(code: Code) -> str:
    """The code as shown when we have no name for it; missing or blank → "-"."""
    s = "" if code is None else str(code).strip()
    return s or "-"


def _key(code: Code, width: int) -> str | None:
    """Table key: 7, "7", "007" → "007" for width 3 (leading zeros do not matter); None if not digits."""
    s = _raw(code)
    if not s.isascii() or not s.isdigit():
        return None
    return s.lstrip("0").zfill(width)


def _status_int(status: Code) -> int | None:
    if isinstance(status, bool):
        return None
    if isinstance(status, int):
        return status
    s = _raw(status)
    try:
        return int(s) if s.isascii() else None
    except ValueError:
        return None


def _lookup(table: dict[str, Names], code: Code, width: int, lang: str | None) -> str:
    names = table.get(_key(code, width) or "")
    if names is None:
        return _raw(code)
    return names[0] if is_chinese(lang) else names[1]


def unit_name(code: Code, lang: str | None) -> str:
    return _lookup(UNITS, code, 3, lang)


def currency_name(code: Code, lang: str | None) -> str:
    return _lookup(CURRENCIES, code, 3, lang)


def country_name(code: Code, lang: str | None) -> str:
    return _lookup(COUNTRIES, code, 3, lang)


def trade_mode_name(code: Code, lang: str | None) -> str:
    return _lookup(TRADE_MODES, code, 4, lang)


def id_type_name(code: Code, lang: str | None) -> str:
    return _lookup(ID_TYPES, code, 1, lang)


def customs_name(code: Code, lang: str | None) -> str:
    """关区 name: "2900" → 杭州关区; a subordinate office "2924" → 杭州关区（2924）; else the code."""
    if code is None:
        return "-"
    key = _key(code, 4)
    if key is None or len(key) != 4:
        return _raw(code)
    zh = is_chinese(lang)
    if key in CUSTOMS_DISTRICTS:
        return CUSTOMS_DISTRICTS[key][0 if zh else 1]
    district = CUSTOMS_DISTRICTS.get(key[:2] + "00")
    if district is None:
        return _raw(code)
    return f"{district[0]}（{key}）" if zh else f"{district[1]} ({key})"


def list_status_name(status: Code, lang: str | None) -> str:
    """CEB622 returnStatus → name (放行 / Released). Negative codes: processing error."""
    if status is None:
        return "-"
    n = _status_int(status)
    if n is None:
        return _raw(status)
    entry = _NEGATIVE_STATUS if n < 0 else LIST_STATUSES.get(n)
    if entry is None:
        return _raw(status)
    return entry[0] if is_chinese(lang) else entry[1]


def list_status_note(status: Code, lang: str | None) -> str:
    """What the status means for the consumer, in plain words."""
    zh = is_chinese(lang)
    if status is None:
        return _NO_RECEIPT_NOTE[0 if zh else 1]
    n = _status_int(status)
    entry = None if n is None else (_NEGATIVE_STATUS if n < 0 else LIST_STATUSES.get(n))
    if entry is None:
        return _UNKNOWN_NOTE[0 if zh else 1]
    return entry[2] if zh else entry[3]


def tax_status_name(status: Code, lang: str | None) -> str:
    if status is None:
        return "-"
    n = _status_int(status)
    names = None if n is None else TAX_STATUSES.get(n)
    if names is None:
        return _raw(status)
    return names[0] if is_chinese(lang) else names[1]
