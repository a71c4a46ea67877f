"""A real browser for tests (and benchmarks) of the graph explorer page.

The system's Chromium and chromedriver (Debian packages ``chromium`` and
``chromium-driver``) driven by Selenium, with ``SE_OFFLINE=true`` and both paths given,
so that nothing tries to download a browser or driver.  ``.ci/run`` installs the
packages; elsewhere :func:`browser_unavailable` names what is missing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def browser_unavailable() -> str | None:
    """Why no headless Chromium can be driven here (one line), or ``None``."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.is_file():
            return f"{path} not found (apt-get install {package})"
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@contextlib.contextmanager
def headless_chromium(width: int = 1400, height: int = 1000) -> Iterator[webdriver.Chrome]:  # noqa: F821
    """A Selenium driver of a fresh headless Chromium (its own temporary profile) whose
    browser console log is readable with ``driver.get_log("browser")``."""
    previous = os.environ.get("SE_OFFLINE")
    os.environ["SE_OFFLINE"] = "true"
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
            options = webdriver.ChromeOptions()
            options.binary_location = str(CHROMIUM)
            for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
                options.add_argument(flag)
            options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
            driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
            try:
                yield driver
            finally:
                driver.quit()
    finally:
        if previous is None:
            os.environ.pop("SE_OFFLINE", None)
        else:
            os.environ["SE_OFFLINE"] = previous
