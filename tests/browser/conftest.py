"""The notifier served in this process (uvicorn), and headless Chromium driven by Playwright.

Chromium is Debian's (``make test`` installs it: ``followback.infra.browser``). Without it these
tests skip on a developer's machine and fail where the infrastructure is required (CI).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import uvicorn
from playwright.async_api import Browser, async_playwright

from followback.infra.browser import find_chromium
from services.notifier.app import create_app
from services.notifier.passwords import hash_password
from shared.settings import HttpSettings, NotifierSettings, Settings
from tests.receivers import free_port
from tests.support import required_tool

CHROMIUM_ARGS = [
    "--no-sandbox",  # root in a container has no user namespace for the sandbox
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Served:
    url: str
    settings: Settings


@pytest.fixture(scope="session")
def chromium() -> str:
    return required_tool(find_chromium(), "no Chromium: run `make browser` (installs Debian's chromium)")


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="session")
def ana_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
async def served(settings: Settings, ana_hash: str) -> AsyncIterator[Served]:
    """The notifier (consumer, worker and review queue) on a free port, with the user ``ana``."""
    port = free_port()
    config = settings.model_copy(
        update={
            "http": HttpSettings(notifier_port=port),
            "notifier": NotifierSettings(users={"ana": ana_hash}, poll_interval_s=0.1),  # type: ignore[dict-item]
        }
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield Served(f"http://127.0.0.1:{port}", config)
    finally:
        server.should_exit = True
        await task
