"""The review page in a real browser: headless Chromium (Debian's package) driven by selenium through the
system chromedriver, keyboard only. Ratings travel page -> API -> shadow.feedback -> worker -> ClickHouse,
and the judge's agreement with people appears on the page. Saves a screenshot under the test's temporary
directory; with SHADOW_UPDATE_SCREENSHOT=1 it also replaces docs/review-page.png (the README's picture), so a
test run leaves the checkout as it was.

Nothing is downloaded: the driver and the browser are given by path, so selenium-manager never runs.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from analytics.calibration import cohen_kappa, preference_class
from infra.clickhouse import connect
from schemas.events import Judgment, PairAnswers, ScoredRecord, ShadowStatus
from schemas.settings import ApiToken
from shadow_optic.stack.processes import free_port, wait_until
from stream_agents.sink import ScoreSink
from tests.integration.conftest import http_json

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
DOCS_SCREENSHOT = REPO / "docs" / "review-page.png"
N = 10
TOKEN = "amy-review-token"


def _browser() -> webdriver.Chrome:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, ("headless Chromium and its driver come from Debian: "
                                 "apt-get install chromium chromium-driver (scripts/install.sh does)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1366,860",
                 "--disable-gpu", "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def _records(app: str) -> list[ScoredRecord]:
    """N pairs: the judge prefers the challenger on even events, production on odd ones, and flips on one."""
    now = datetime.now(UTC) - timedelta(minutes=5)
    records = []
    for i in range(N):
        judged = Judgment(judge_version="pairwise-1:sim", judge_model="sim", status="judged",
                          score=1.0 if i % 2 == 0 else 0.0, flipped=False, ts_judged=now)
        if i == 3:
            judged = judged.model_copy(update={"score": 0.5, "flipped": True})
        records.append(ScoredRecord(
            event_id=f"{app}-e{i:02d}", challenger="cheap", challenger_model="cheap", is_control=False, app=app,
            route="/v1/chat/completions", tenant="acme", production_model="prod", production_model_rev="1",
            request_hash=f"h{i}", ts_request=now + timedelta(seconds=i), ts_scored=now + timedelta(seconds=i),
            status=ShadowStatus.OK, similarity=0.3 + i / 20, production_latency_ms=10.0, scorer_version="v1",
            judgment=judged,
            answers=PairAnswers(request=f"### user\nQuestion {i}: what is the capital of France? Call [PHONE].",
                                production_answer=f"The capital of France is Paris. It has been since 987 ({i}).",
                                challenger_answer=f"Paris, I believe, is the capital of France ({i}).")))
    return records


def _key(driver: webdriver.Chrome, *keys: str) -> None:
    """Type into whatever has the focus, as a person at the keyboard does."""
    driver.switch_to.active_element.send_keys(*keys)


def _current(driver: webdriver.Chrome) -> tuple[str, str, str]:
    pair = driver.find_element(By.ID, "pair")
    return pair.get_attribute("data-event"), driver.find_element(By.ID, "left").text, pair.get_attribute(
        "data-reason")


async def test_a_reviewer_rates_pairs_with_the_keyboard_and_sees_the_judges_agreement(
        pipeline_settings, processes, clickhouse, tmp_path):
    screenshot = tmp_path / "review-page.png"
    port = free_port()
    settings = pipeline_settings.model_copy(update={
        "api_tokens": [ApiToken(name="amy", token=TOKEN, role="review")], "judge_calibration_min_pairs": 5,
        "judge_min_kappa": 0.4, "review_random_share": 0.2})
    app = settings.app_name
    sink = ScoreSink(lambda: connect(settings.clickhouse_url), answers_ttl_days=settings.answers_ttl_days)
    await sink.write(_records(app))
    sink.close()
    worker = processes.start("worker", settings, "worker")  # its feedback agent stores the ratings
    api = processes.start("api", settings, "api", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_json(f"{base}/healthz")["status"] == "ok", 60, "the API", api)

    driver = _browser()
    try:
        driver.get(f"{base}/review")
        wait_until(lambda: driver.switch_to.active_element.get_attribute("id") == "token-input", 10,
                   "the token prompt to take the focus")
        _key(driver, TOKEN, Keys.ENTER)
        wait_until(lambda: driver.find_element(By.ID, "pair").is_displayed(), 20, "the first pair")
        assert driver.find_element(By.ID, "who").text == "amy"
        assert "[PHONE]" in driver.find_element(By.ID, "request").text  # shown as masked at the gateway
        assert driver.find_elements(By.CSS_SELECTOR, "#left mark")  # the differing words are marked

        # Rate 7 pairs with the keys alone: production is always preferred, the 5th is a tie, and one
        # pair is skipped. The first also gets 1-5 ratings of both answers and a note.
        rated: dict[str, float] = {}
        shown: dict[str, str] = {}
        reasons: dict[str, str] = {}
        skipped, seen_sides = None, set()
        while len(rated) < 7:
            event, left, reason = _current(driver)
            production_left = left.startswith("The capital")
            seen_sides.add(production_left)
            if skipped is None and len(rated) == 2:
                skipped = event
                _key(driver, "s")
            else:
                if not rated:
                    _key(driver, "l")
                    _key(driver, "4", Keys.ESCAPE)
                    _key(driver, "r")
                    _key(driver, "2", Keys.ESCAPE)
                    _key(driver, "n")
                    _key(driver, "vague answer", Keys.ESCAPE)
                if len(rated) == 4:
                    _key(driver, "t")
                    rated[event] = 0.5
                else:
                    _key(driver, "1" if production_left else "2")
                    rated[event] = 0.0
                shown[event] = "production" if production_left else "challenger"
                reasons[event] = reason
            wait_until(lambda: driver.find_element(By.ID, "pair").get_attribute("data-event") != event
                       or not driver.find_element(By.ID, "pair").is_displayed(), 10, "the next pair")
        assert seen_sides == {True, False}  # blind: production was on the left for some pairs, right for others
        assert driver.find_element(By.ID, "session-count").text == "7"
        assert driver.find_element(By.ID, "left-count").text == str(N - 7)
        assert driver.find_element(By.ID, "status").text == ""

        # The ratings arrive in ClickHouse through shadow.feedback and the worker.
        sql = ("SELECT event_id, value, reviewer, shown_first, queue_reason, rating_production, rating_challenger, "
               "note FROM shadow_feedback FINAL WHERE kind = 'preference' AND startsWith(event_id, {p:String}) "
               "ORDER BY event_id")
        wait_until(lambda: len(clickhouse.query(sql, parameters={"p": f"{app}-"}).result_rows) == 7, 60,
                   "the ratings in ClickHouse", worker)
        stored = {r[0]: r[1:] for r in clickhouse.query(sql, parameters={"p": f"{app}-"}).result_rows}
        assert skipped not in stored
        assert {e: v[0] for e, v in stored.items()} == rated
        assert {e: v[2] for e, v in stored.items()} == shown and {v[1] for v in stored.values()} == {"amy"}
        assert {e: v[3] for e, v in stored.items()} == reasons
        first = next(e for e, v in stored.items() if v[6] == "vague answer")
        left_rating, right_rating = 4.0, 2.0
        expected = (left_rating, right_rating) if shown[first] == "production" else (right_rating, left_rating)
        assert stored[first][4:6] == expected

        # The judge's agreement with amy appears on the page, as computed from the same pairs here.
        judge = {r.event_id: r.judgment.score for r in _records(app)}
        judge_classes = [preference_class(judge[e]) for e in sorted(rated)]
        people_classes = [preference_class(rated[e]) for e in sorted(rated)]
        accuracy = sum(j == p for j, p in zip(judge_classes, people_classes)) / len(rated)
        kappa = cohen_kappa(judge_classes, people_classes)
        row = f"pairwise-1:sim 7 {accuracy:.3f} ["
        wait_until(lambda: row in driver.find_element(By.ID, "calibration").text, 30,
                   "the agreement figures on the page")
        text = driver.find_element(By.ID, "calibration").text
        assert f"{kappa:.3f} [" in text and "10.0%" in text  # kappa with its interval; 1 of 10 pairs flipped
        driver.save_screenshot(str(screenshot))
    finally:
        driver.quit()
    assert screenshot.stat().st_size > 10_000 and screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("SHADOW_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(screenshot, DOCS_SCREENSHOT)
