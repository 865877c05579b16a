"""Fixtures for the admin screens: approvers, escalated tasks, and one headless Chromium."""

import shutil
import time
from decimal import Decimal

import pytest
from django.db import connection

from emma import services

PASSWORD = "correct-horse-battery"


@pytest.fixture
def submit_escalated(make_user):
    """Submit a task that the default policy escalates (cost 50 > threshold 10); returns the SubmitResult."""

    def submit(submitter=None, description="Summarise the quarterly report", cost="50", **parameters):
        submitter = submitter or make_user("alice", role="submitter")
        return services.task_submit(user=submitter, task_type="diagnostic.echo", description=description,
                                    parameters=parameters or {"text": description}, estimated_cost=Decimal(cost))

    return submit


@pytest.fixture(scope="session")
def live_server_sessions_ended(django_db_setup, django_db_blocker):
    """Set up before the live server, so torn down after it: wait until the server's database sessions
    have ended, or dropping the test database fails with "being accessed by other users"."""
    yield
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        for _ in range(100):
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid()")
            if not cursor.fetchone()[0]:
                break
            time.sleep(0.05)


@pytest.fixture(scope="session")
def browser(live_server_sessions_ended, live_server, tmp_path_factory):
    """One headless Chromium for the session; skipped when Chromium or its driver is not installed."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.skip("no chromium/chromedriver installed: browser tests skipped")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1400,1000", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def admin_browser(browser, live_server):
    """The session's browser with no cookies left from an earlier test."""
    browser.get(f"{live_server.url}/admin/login/")
    browser.delete_all_cookies()
    return browser


@pytest.fixture
def acme_policy(make_user):
    """Set parts of acme's policy (merged into the current one), as its admin would."""
    from governance import services as governance

    def set_policy(**document):
        admin = make_user("acme-policy-admin", role="admin")
        return governance.policy_update(tenant_id=admin.memberships.get().tenant_id, user=admin, document=document)

    return set_policy
