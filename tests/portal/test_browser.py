"""A real browser (Debian's headless Chromium through selenium and chromedriver) walks the portal
served by uvicorn on a loopback socket; each page is saved to artifacts/portal/."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from lims.certificates import verify_pdf
from lims.portal import create_app
from lims.services.public_verification import verification_address
from lims.services.signing_keys import trust_roots
from tests.conftest import IN_CI
from tests.portal._lab import ACCOUNT_PASSWORDS, PortalLab
from tests.portal.conftest import lab_db
from tests.portal.test_public_pages import files

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--lang=zh-CN",
)


@dataclass
class Browser:
    """The driver, the portal's address and where screenshots go."""

    driver: object
    base: str
    shots: Path

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)  # type: ignore[attr-defined]

    def shot(self, name: str, height: int = 1300) -> None:
        width = self.driver.get_window_size()["width"]  # type: ignore[attr-defined]
        self.driver.set_window_size(width, height)  # type: ignore[attr-defined]
        # the CJK font is swapped in when it has loaded: wait for it, or the shot shows boxes
        self.driver.execute_async_script(  # type: ignore[attr-defined]
            "const done = arguments[arguments.length - 1];"
            "document.fonts.ready.then(() => done(document.fonts.status));"
        )
        self.driver.save_screenshot(str(self.shots / f"{name}.png"))  # type: ignore[attr-defined]

    def find(self, css: str) -> object:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)  # type: ignore[attr-defined]

    def all(self, css: str) -> list[object]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, css))  # type: ignore[attr-defined]

    def attr(self, css: str, name: str) -> str:
        return str(self.find(css).get_attribute(name))  # type: ignore[attr-defined]

    def wait_for(self, css: str, seconds: float = 30) -> object:
        """The element, once the page that holds it has loaded."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.wait import WebDriverWait

        return WebDriverWait(self.driver, seconds).until(  # type: ignore[arg-type]
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
        )


def _need_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        why = f"{', '.join(missing)} not installed (apt-get install chromium chromium-driver)"
        if IN_CI:
            pytest.fail(f"CI=true: {why}")
        pytest.skip(why)


@pytest.fixture(scope="module")
def served(sqlite_portal_lab: PortalLab) -> Iterator[str]:
    """The portal under uvicorn on a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(sqlite_portal_lab.portal_config())
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the portal did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def browser(
    served: str, tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path
) -> Iterator[Browser]:
    """Headless Chromium driven by chromedriver (nothing downloaded: selenium is offline)."""
    _need_browser()
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument("--window-size=1280,1300")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    shots = artifacts_dir / "portal"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    try:
        yield Browser(driver, served, shots)
    finally:
        driver.quit()


def test_scanning_the_qr_code_of_an_issued_certificate_opens_the_valid_page(
    browser: Browser, sqlite_portal_lab: PortalLab
) -> None:
    lab = sqlite_portal_lab
    pdf, _ = files(lab, lab.amendment)
    # what the printed QR code carries: the number and the hash declared in the issued PDF
    db = lab_db(lab)
    with db.read() as s:
        roots = trust_roots(s)
    db.dispose()
    report = verify_pdf(pdf, roots)
    assert report.declared_hash is not None
    address = verification_address(browser.base, lab.amendment, report.declared_hash)
    browser.driver.get(address)  # type: ignore[attr-defined]
    assert browser.attr("#state", "data-state") == "issued"
    assert browser.attr("#hash", "data-hash") == "match"
    assert "示范碳计量中心" in browser.find("header").text  # type: ignore[attr-defined]
    browser.shot("01-verify-valid")
    browser.driver.set_window_size(412, 915)  # type: ignore[attr-defined]
    browser.shot("02-verify-valid-phone", height=1500)
    browser.driver.set_window_size(1280, 1300)  # type: ignore[attr-defined]


def test_a_superseded_certificate_leads_to_its_replacement(
    browser: Browser, sqlite_portal_lab: PortalLab
) -> None:
    lab = sqlite_portal_lab
    browser.open(f"/v/{lab.superseded}")
    assert browser.attr("#state", "data-state") == "superseded"
    browser.shot("03-verify-superseded")
    browser.find("#replacement").click()  # type: ignore[attr-defined]
    browser.wait_for(f"a[href='/v/{lab.superseded}']")  # the replacement's "replaces" link
    assert browser.driver.current_url.endswith(f"/v/{lab.amendment}")  # type: ignore[attr-defined]
    assert browser.attr("#state", "data-state") == "issued"
    browser.open(f"/v/{lab.revoked}")
    assert browser.attr("#state", "data-state") == "revoked"
    browser.shot("04-verify-revoked")
    browser.open(f"/v/{lab.simulated}")
    assert browser.find("#simulated").is_displayed()  # type: ignore[attr-defined]
    browser.shot("05-verify-simulated")
    browser.open("/v/DEMO2026-99999")
    assert browser.attr("#state", "data-state") == "unknown"
    browser.shot("06-verify-unknown")


def test_a_tampered_pdf_upload_is_rejected(
    browser: Browser, sqlite_portal_lab: PortalLab, tmp_path: Path
) -> None:
    pdf, _ = files(sqlite_portal_lab, sqlite_portal_lab.amendment)
    tampered = bytearray(pdf)
    tampered[len(pdf) // 3] ^= 0x01
    intact_file, tampered_file = tmp_path / "intact.pdf", tmp_path / "tampered.pdf"
    intact_file.write_bytes(pdf)
    tampered_file.write_bytes(bytes(tampered))
    browser.open("/")
    browser.shot("07-home")
    for path, expected, name in (
        (tampered_file, "invalid", "08-upload-tampered"),
        (intact_file, "valid", "09-upload-intact"),
    ):
        browser.open("/")
        browser.find("#certificate").send_keys(str(path))  # type: ignore[attr-defined]
        browser.find("form[action='/verify'] button").click()  # type: ignore[attr-defined]
        browser.wait_for("#verdict")
        assert browser.attr("#verdict", "data-verdict") == expected
        browser.shot(name)


def test_a_customer_sees_only_its_own_certificates_and_others_are_404(
    browser: Browser, sqlite_portal_lab: PortalLab
) -> None:
    lab = sqlite_portal_lab
    browser.open("/account/certificates")
    assert "/login" in browser.driver.current_url  # type: ignore[attr-defined]
    browser.shot("10-login")
    browser.find("#username").send_keys("green.qa")  # type: ignore[attr-defined]
    browser.find("#password").send_keys(ACCOUNT_PASSWORDS["green.qa"])  # type: ignore[attr-defined]
    browser.find("form[action='/login'] button").click()  # type: ignore[attr-defined]
    browser.wait_for("#certificates")
    shown = {e.text for e in browser.all("a.cert")}  # type: ignore[attr-defined]
    assert shown == lab.env_numbers
    assert lab.other not in browser.driver.page_source  # type: ignore[attr-defined]
    browser.shot("11-my-certificates")
    browser.open(f"/account/certificates/{lab.amendment}")
    assert browser.find("#pdf").is_displayed()  # type: ignore[attr-defined]
    browser.shot("12-certificate")
    browser.open("/account/recall?within=400")
    assert lab.amendment in browser.driver.page_source  # type: ignore[attr-defined]
    browser.shot("13-recall")
    browser.open(f"/account/certificates/{lab.other}")
    assert "未找到" in browser.find("h1").text  # type: ignore[attr-defined]
    browser.shot("14-other-customer-404")
    browser.open(f"/account/certificates/{lab.other}/pdf")
    assert "未找到" in browser.find("h1").text  # type: ignore[attr-defined]
    browser.driver.set_window_size(412, 915)  # type: ignore[attr-defined]
    browser.open("/account/certificates")
    browser.shot("15-my-certificates-phone", height=1800)
