"""`swbot sandbox` in a real browser: headless Chromium (Debian's package) driven by Playwright.

The sandbox runs as a user runs it (`python bot.py sandbox --port N` in a subprocess, on a free
port); the test opens the page, binds a demo person with the deep-link button, taps through quota →
tax slips → a detail, switches the language, pushes a new tax slip through the operator API and
waits for the notification to appear in the chat, downloads this year's tax slips as a PDF, opens
the quota chart and prices a cosmetic that would go over the annual limit, then stops the sandbox
with Ctrl-C (SIGINT).
Screenshots go to tests/artifacts/ (gitignored). Every request the page makes is checked to stay on
127.0.0.1.

Skips, with the reason, only where no browser is available: the `playwright` package (the
``browser`` extra) or a Chromium executable (``apt-get install chromium``; or
``SWBOT_TEST_CHROMIUM=/path``). `.ci/run` installs both and sets ``SWBOT_REQUIRE_BROWSER=1``, which
turns a missing browser into a failure instead of a skip.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support import paths

pytestmark = [pytest.mark.browser, pytest.mark.subprocess]

ROOT = paths.ROOT
ARTIFACTS = paths.ARTIFACTS
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TIMEOUT_MS = 20_000


def _chromium() -> str | None:
    explicit = os.environ.get("SWBOT_TEST_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


def _unavailable(reason: str) -> None:
    if os.environ.get("SWBOT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"SWBOT_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[browser]')")
    path = _chromium()
    if path is None:
        _unavailable("no Chromium executable (apt-get install chromium, or set SWBOT_TEST_CHROMIUM)")
    return path  # type: ignore[return-value]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sandbox:
    def __init__(self, proc: subprocess.Popen[str], url: str, lines: list[str]) -> None:
        self.proc, self.url, self.lines = proc, url, lines

    def output(self) -> str:
        return "".join(self.lines)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[Sandbox]:
    cwd = tmp_path_factory.mktemp("sandbox-cwd")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWBOT_")}
    env["SWBOT_LOG_LEVEL"] = "WARNING"
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bot.py"), "sandbox", "--port", str(port), "--consumers", "6"],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 240
        while not any(line.startswith("sandbox: ready") for line in lines):
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                pytest.fail("swbot sandbox exited before it was ready:\n" + "".join(lines))
            lines.append(line)
            assert time.monotonic() < deadline, "swbot sandbox was not ready in time:\n" + "".join(lines)
        assert f"sandbox: open http://127.0.0.1:{port}/\n" in lines
        yield Sandbox(proc, f"http://127.0.0.1:{port}/", lines)
    finally:
        if proc.poll() is None:  # a failed test: still stop it like a user would, so it cleans up
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _pdf_text(pdf: bytes) -> str | None:
    if not shutil.which("pdftotext"):
        return None
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
    return out.stdout.decode()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"sandbox-{name}.png"), animations="disabled")


def test_the_whole_bot_in_a_browser(sandbox: Sandbox, chromium: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    outside: list[str] = []
    errors: list[str] = []

    def guard(route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=chromium, args=CHROMIUM_FLAGS, headless=True,
            viewport={"width": 1280, "height": 900}, locale="en-US",
        )
        context.set_default_timeout(TIMEOUT_MS)
        expect.set_options(timeout=TIMEOUT_MS)
        context.route("**/*", guard)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

        def send(text: str) -> None:
            before = page.locator(".msg.in").count()
            page.locator("#input").fill(text)
            page.locator("#input").press("Enter")
            expect(page.locator(".msg.in")).not_to_have_count(before)

        # The page: the bot's description and START, the demo people masked, the loading veil gone.
        page.goto(sandbox.url)
        expect(page.locator("#loading")).to_be_hidden()
        expect(page.locator("#intro")).to_contain_text("Single Window")
        expect(page.locator("#start-btn")).to_be_visible()
        people = page.locator(".person")
        expect(people).to_have_count(6)
        first = people.first
        expect(first.locator(".pid")).to_have_text(re.compile(r"^\d{6}\*{8}\d{3}[\dX]$"))
        _shot(page, "01-start")

        # Bind the first person with a one-time deep link from the operator API.
        first.locator("[data-act=link]").click()
        bot_msgs = page.locator(".msg.in")
        expect(bot_msgs.filter(has_text="Bound").first).to_be_visible()
        expect(first.locator(".badge")).to_have_text("bound")
        expect(page.locator(".msg.out")).to_have_count(0)  # the bot deleted "/start <token>"
        expect(page.locator("#new-tax")).to_be_enabled()
        _shot(page, "02-bound")

        # Quota: the menu message is edited in place (same message id, same number of bubbles).
        menu = bot_msgs.last
        menu_id = menu.get_attribute("data-id")
        count = page.locator(".msg").count()
        menu.locator(".ikb button", has_text="Quota").click()
        quota = page.locator(f'.msg[data-id="{menu_id}"]')
        expect(quota).to_contain_text("Annual quota")
        expect(quota.locator(".edited")).to_be_visible()
        assert page.locator(".msg").count() == count
        expect(quota.locator(".ikb button", has_text="Consumption details")).to_be_visible()
        _shot(page, "03-quota")

        # Tax slips → the first slip → its detail.
        quota.locator(".ikb button", has_text="Menu").click()
        expect(quota).to_contain_text("Main menu")
        quota.locator(".ikb button", has_text="Tax slips").click()
        expect(quota).to_contain_text(re.compile(r"\d+ tax slips"))
        quota.locator(".ikb button", has_text=re.compile(r"^1\. ")).click()
        expect(quota).to_contain_text(re.compile(r"\d{8}I\d{9}_0"))  # the slip's number
        expect(quota).to_contain_text("HS code")
        expect(quota.locator("strong").first).to_be_visible()  # HTML formatting rendered as elements
        _shot(page, "04-tax-detail")

        # Language: the fake user's language_code → the command menu and the page follow at once…
        page.locator('#lang [data-lang="zh-hans"]').click()
        expect(page.locator("#input")).to_have_attribute("placeholder", "消息")
        page.locator("#menu-btn").click()
        items = page.locator(".cmd-item")
        expect(items.first).to_contain_text("/menu")
        expect(items.first).not_to_contain_text("Main menu")
        expect(items.first.locator("span")).to_have_text(re.compile(r"[\u4e00-\u9fff]"))
        _shot(page, "05-commands-zh")
        page.locator("#menu-btn").click()
        # …and the binding keeps the language it was made in until Settings changes it.
        page.locator("#input").fill("/settings")
        page.locator("#input").press("Enter")
        settings = bot_msgs.last
        expect(settings.locator(".ikb button", has_text="中文")).to_be_visible()
        settings.locator(".ikb button", has_text="中文").click()
        expect(settings).to_contain_text("设置")
        _shot(page, "06-settings-zh")

        # A new tax slip arrives through the signed operator API; the notifier tells the chat.
        before = bot_msgs.count()
        page.locator("#new-tax").click()
        log_line = page.locator("#log li", has_text="new tax slip")
        expect(log_line).to_be_visible()
        tax_no = re.search(r"\d{4}\d{4}I\d{9}_0", log_line.inner_text()).group(0)  # type: ignore[union-attr]
        note = bot_msgs.filter(has_text=tax_no)
        expect(note.first).to_be_visible()
        expect(note.first).to_contain_text(re.compile(r"[\u4e00-\u9fff]"))  # in the binding's language now
        assert bot_msgs.count() > before
        _shot(page, "07-new-tax-notification")
        note.first.locator(".ikb button").first.click()
        # The detail: the slip's number with its lines' 10-digit HS codes.
        expect(bot_msgs.filter(has_text=tax_no).filter(has_text=re.compile(r"(?<!\d)\d{10}(?!\d)")).first).to_be_visible()
        _shot(page, "08-new-tax-detail")

        # Export: this year's tax slips as a PDF, a document bubble the browser downloads; the new
        # slip is in it, with the total its notification showed.
        send("/tax")
        tax_list = bot_msgs.last
        expect(tax_list).to_contain_text("税单")
        tax_list.locator(".ikb button", has_text="导出").click()
        expect(tax_list).to_contain_text("导出")
        tax_list.locator(".ikb button", has_text="PDF").click()
        doc = page.locator(".msg.in .doc").last
        expect(doc).to_contain_text(re.compile(r"tax-slips-\d{4}\.pdf"))
        with page.expect_download() as download:
            doc.click()
        pdf = Path(download.value.path()).read_bytes()
        assert pdf.startswith(b"%PDF")
        text = _pdf_text(pdf)
        if text is not None:
            assert tax_no in text.replace("\n", "")
            total = re.search(r"税款合计：(¥[\d,]+\.\d{2})", note.first.inner_text())
            assert total is not None and total.group(1) in text  # the amount the notification showed
        _shot(page, "09-export-pdf")

        # The quota chart: a photo in the chat, the PNG as the bot drew it.
        send("/quota")
        quota_zh = bot_msgs.last
        expect(quota_zh).to_contain_text("个人额度")
        available = re.search(r"可用额度：¥([\d,]+\.\d{2})", quota_zh.inner_text())
        quota_zh.locator(".ikb button", has_text="图表").click()
        photo = page.locator(".msg.in img.photo").last
        expect(photo).to_be_visible()
        page.wait_for_function("img => img.complete && img.naturalWidth === 960", arg=photo.element_handle())
        _shot(page, "10-chart")

        # The calculator: price a cosmetic that would push this year over the annual limit.
        left = Decimal(available.group(1).replace(",", "")) if available else Decimal(0)
        price = left + Decimal(100)
        send("/calc")
        calc = bot_msgs.last
        calc.locator(".ikb button", has_text="化妆品").click()
        expect(calc).to_contain_text("680 30ml")
        send(f"{price:.2f} 100ml")
        answer = bot_msgs.last
        expect(answer).to_contain_text("税款合计")
        expect(answer).to_contain_text("1313")  # customs would refuse the whole order
        _shot(page, "11-calculator")
        context.close()

    assert not outside, f"the page tried to reach outside 127.0.0.1: {outside}"
    assert not errors, f"errors in the page: {errors}"

    # Ctrl-C stops everything cleanly.
    sandbox.proc.send_signal(signal.SIGINT)
    out, _ = sandbox.proc.communicate(timeout=30)
    sandbox.lines.append(out)
    assert sandbox.proc.returncode == 0, sandbox.output()
    assert sandbox.output().rstrip().endswith("sandbox: stopped"), sandbox.output()
