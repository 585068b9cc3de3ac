"""Language, end to end: Telegram's language_code until a choice is stored, the switch in Settings
and on the welcome screen, Chinese screens in the Single Window's own terms (个人额度, 税单), money
and dates per locale, and the command menus per language."""

from __future__ import annotations

import pytest

from storage.models import TgUser
from tests.support.conversation import (
    EXPIRED_ZH,
    account_ids_with_records,
    bind_by_link,
    demo_fixture,  # noqa: F401 (fixture)
    harness_fixture,  # noqa: F401 (fixture)
)
from tests.support.harness import Harness

pytestmark = pytest.mark.dates  # also run as of other dates (CI: --now)

ZH_MENU = ["💳 个人额度", "🧾 税单", "📦 通关", "🧮 计算器", "⚙️ 设置", "❓ 帮助"]
EN_MENU = ["💳 Quota", "🧾 Tax slips", "📦 Clearance", "🧮 Calculator", "⚙️ Settings", "❓ Help"]


@pytest.mark.parametrize(
    ("code", "chinese"),
    [("zh-hans", True), ("zh", True), ("zh-TW", True), (None, True), ("en", False), ("en-US", False),
     ("ru", False), ("de", False)],
)  # fmt: skip

async def test_telegram_language_code_decides_before_a_choice(h: Harness, code: str | None, chinese: bool) -> None:
    c = h.client(3001, "Uma", code)
    await c.send("/start")
    assert c.visible_text().startswith("👋 欢迎！" if chinese else "👋 Welcome!")
    assert c.labels()[1] == ("🌐 English" if chinese else "🌐 中文")
    await c.send("/help")
    assert c.visible_text().startswith("❓ 帮助" if chinese else "❓ Help")


async def test_choice_on_the_welcome_screen_is_stored_and_wins(h: Harness) -> None:
    c = h.client(3002, "Vic", "en")
    await c.send("/start")
    await c.tap("🌐 中文")
    assert c.visible_text().startswith("👋 欢迎！")
    async with h.db.read() as s:
        user = await s.get(TgUser, 3002)
        assert user is not None and user.language == "zh_CN"
    c = h.client(3002, "Vic", "en-GB")  # Telegram still says English
    await c.send("/bind")
    assert c.visible_text().startswith("第1步，共3步 · 姓名")
    await c.tap("✖ 取消")
    await c.send("/start")
    await c.tap("🌐 English")
    assert c.visible_text().startswith("👋 Welcome!")


async def test_settings_switch_changes_every_screen(h: Harness) -> None:
    account = (await account_ids_with_records(h))[0]
    c = h.client(3003, "Wes", "en")
    await bind_by_link(h, c, account)
    assert c.labels() == EN_MENU
    await c.send("/settings")
    assert "Language: English" in c.visible_text() and "✓ English" in c.labels()
    r = await c.tap("中文")
    assert [x.method for x in r.calls if x.method != "answerCallbackQuery"] == ["editMessageText"]
    assert c.visible_text().startswith("⚙️ 设置") and "语言：中文" in c.visible_text()
    assert "✓ 中文" in c.labels() and "🏠 菜单" in c.labels()
    await c.tap("🏠 菜单")
    assert c.visible_text().startswith("🏠 主菜单") and c.labels() == ZH_MENU
    await c.tap("💳 个人额度")
    year = h.db.clock.today().year
    text = c.visible_text()
    assert text.startswith(f"💳 个人额度 · {year}")
    assert "年度限值：¥26,000.00" in text and "已消费：¥" in text and "可用额度：¥" in text
    assert "CN¥" not in text
    assert "📋 消费明细" in c.labels() and "↺ 重置" in c.labels()
    await c.tap("📋 消费明细")
    assert f"📋 消费明细 · {year}" in c.visible_text()
    await c.send("/tax")
    text = c.visible_text()
    assert text.startswith("🧾 税单\n状态：全部 · 日期：全部时间")
    assert c.labels()[:4] == ["✓ 全部", "已生成", "已汇总", "作废"]
    assert "年" in text.splitlines()[5] and "¥" in text  # 2026年7月27日 · ¥81.87 · 已汇总
    label = next(x for x in c.labels() if x.startswith("1. "))
    await c.tap(label)
    detail = c.visible_text()
    head = ["🧾 税单 ", "清单编号：", "订单编号：", "电商平台：", "状态：", "入库时间：", "应征关税：", "税款合计："]
    item = ["序号 1", "商品编码：", "申报数量：", "单价：", "完税总价：", "关税率：", "消费税率：", "增值税率："]
    for words in head + item:  # DESIGN §3: the tax detail's head and per-item columns
        assert words in detail, words
    assert c.labels() == ["◀ 返回", "🏠 菜单"]
    await c.send("/clearance")
    assert c.visible_text().startswith("📦 通关") and "🔎 按编号查找" in c.labels()
    # And back to English.
    await c.send("/settings")
    await c.tap("English")
    await c.tap("🏠 Menu")
    assert c.labels() == EN_MENU


async def test_expired_buttons_are_answered_in_the_users_language(h: Harness) -> None:
    account = (await account_ids_with_records(h))[0]
    c = h.client(3004, "Xia", "zh-hans")
    await bind_by_link(h, c, account)
    await c.send("/tax")
    old = c.core.last_with_keyboard(c.chat_id)
    await c.send("/unbind")
    await c.tap("确认解除绑定")
    r = await c.tap("↺ 重置", message=old)
    assert r.answer is not None and r.answer.text == EXPIRED_ZH
    r = await c.tap_data("garbage")
    assert r.answer is not None and r.answer.text == EXPIRED_ZH


async def test_binding_flow_speaks_chinese(h: Harness) -> None:
    c = h.client(3005, "Yan", None)
    await c.send("/bind")
    assert c.visible_text().startswith("第1步，共3步 · 姓名")
    await c.send("张三")
    assert c.visible_text().startswith("第2步，共3步 · 身份证号")
    await c.send("11010519491231002X")
    assert c.visible_text().startswith("第3步，共3步 · 手机号")
    keyboard = c.reply_keyboard()
    assert keyboard is not None and keyboard[0][0]["text"] == "📱 分享我的手机号"
    await c.share_contact("13800138000")
    assert c.visible_text().startswith("❌ 这些信息与单一窗口账号不匹配。")


def test_command_menus_and_descriptions_per_language(h: Harness) -> None:
    scope = {"type": "all_private_chats"}
    zh = {c["command"]: c["description"] for c in h.core.commands(scope, "zh")}
    en = {c["command"]: c["description"] for c in h.core.commands(scope, "en")}
    default = {c["command"]: c["description"] for c in h.core.commands(scope, "")}
    assert zh["quota"] == "个人额度" and zh["tax"] == "税单" and zh["clearance"] == "通关清单"
    assert en["quota"] == "Annual quota" and en["tax"] == "Tax slips"
    assert default == zh  # no language_code: Chinese
    assert list(zh) == [
        "menu", "quota", "tax", "clearance", "calc", "settings", "bind", "unbind", "privacy", "mydata", "help"
    ]
    assert "个人额度" in h.core.description("zh") and "annual quota" in h.core.description("en")


async def test_binding_does_not_freeze_the_language_of_a_bound_user(h: Harness) -> None:
    """No choice stored: a bound user's screens follow Telegram's language_code; notifications
    (which carry none) use the language they bound in."""
    account = (await account_ids_with_records(h))[0]
    c = h.client(3010, "Yan", "en")
    await bind_by_link(h, c, account)
    async with h.db.read() as s:
        user = await s.get(TgUser, 3010)
        assert user is not None and user.language is None and user.seen_language == "en"
    c = h.client(3010, "Yan", "zh-hans")  # the person switched their Telegram to Chinese
    await c.send("/menu")
    assert c.visible_text().startswith("🏠 主菜单") and c.labels() == ZH_MENU
