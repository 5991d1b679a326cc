"""The review page as rendered: no build step, nothing fetched from elsewhere, figures only when allowed."""

from __future__ import annotations

import re

from analytics.calibration import calibrate
from analytics.review_queue import Filters
from shadow_optic.api.review_page import render_review_page


def test_the_page_is_self_contained_and_preselects_the_filters_escaped():
    html = render_review_page([], Filters(challenger='cheap"><script>', route="/v1/chat"), token_required=True,
                              random_share=0.2)
    assert not re.search(r"""(src|href)=["']?https?:""", html)  # no script, style or font from elsewhere
    assert 'data-initial="cheap&quot;&gt;&lt;script&gt;"' in html and 'data-initial="/v1/chat"' in html
    assert "20% of the queue is drawn at random" in html
    for key in ("1", "2", "t", "s", "l", "r", "n", "Esc"):
        assert f"<kbd>{key}</kbd>" in html
    assert 'type="password"' in html and "role review" in html


def test_agreement_figures_wait_for_a_token_when_tokens_are_configured():
    calibration = calibrate("pairwise-1:j", [(1.0, 1.0, False)] * 3, judged_pairs=9, flips=1, min_kappa=0.4,
                            min_pairs=20)
    with_token = render_review_page(None, Filters(), token_required=True, random_share=0.2)
    assert "pairwise-1:j" not in with_token and "loading…" in with_token
    open_page = render_review_page([calibration], Filters(), token_required=False, random_share=0.2)
    assert "pairwise-1:j" in open_page and "not calibrated yet: 3 of 20" in open_page
    assert 'type="text"' in open_page and "Your name" in open_page


def test_a_token_names_the_reviewer_and_without_tokens_the_typed_name_does():
    from shadow_optic.api.auth import LOCAL_OPERATOR, Principal
    from shadow_optic.api.routers.review import _reviewer

    amy = Principal(name="amy", role="review", authenticated=True)
    assert _reviewer(amy, "mallory") == "amy"  # a header never overrides a token's name
    local = Principal(name=LOCAL_OPERATOR, role="admin", authenticated=False)
    assert _reviewer(local, "  bob ") == "bob" and _reviewer(local, None) == ""  # no name: the API refuses
