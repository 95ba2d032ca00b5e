"""Debian's chromium, headless, driven through chromium-driver by selenium: the browser a
dashboard test looks through. Nothing is downloaded (the driver's path is given, so
Selenium Manager never runs); as root chromium needs --no-sandbox."""

from __future__ import annotations

import os
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
QUIET = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-quic", "--disable-extensions", "--window-size=1400,1000")


def chromium(profile: Path) -> webdriver.Chrome:
    """A fresh headless chromium with its own profile directory."""
    os.environ.setdefault("SE_OFFLINE", "true")
    options = Options()
    options.binary_location = CHROMIUM
    for argument in (*QUIET, f"--user-data-dir={profile}"):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
