"""`advtext report`: one self-contained page, checked in a real headless browser where one is installed."""

import json
import re
import shutil
import subprocess

import pytest
from test_bad_input import one_line_error
from test_image_cli import advtext

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def page(small_clf, tmp_path_factory):
    """A report of one attack file and of the same records as TextAttack's CSV, side by side."""
    run, _ = small_clf
    root = tmp_path_factory.mktemp("report")
    records, table, out = root / "a.jsonl", root / "a.csv", root / "report.html"
    for args in (["attack", run, "--corpus", "rotten-tomatoes", "--n", "40", "--method", "greedy", "--dictionary",
                  "wordnet", "--no-similarity", "--out", records],
                 ["stats", records, "--csv", table], ["report", records, table, "--out", out]):
        done = advtext(*map(str, args))
        assert done.returncode == 0, done.stderr
    return out, [json.loads(line) for line in records.read_text().splitlines()[1:]]


def test_the_page_holds_every_example_inline_and_asks_for_nothing(page):
    out, records = page
    text = out.read_text()
    assert text.count('<section class="text">') == 2
    assert text.count("<tr data-status=") == 2 * len(records)
    changed = sum(r["words_changed"] for r in records)
    assert text.count("<del>") == text.count("<ins>") == 2 * changed
    assert "default-src 'none'" in text and not re.search(r"(src|href)=\"(https?:)?//", text)
    assert text.count("data:image/png;base64,") >= 2 and out.stat().st_size < 2_000_000


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (make setup installs Debian's where it can)")
def test_the_page_renders_and_filters_in_a_headless_browser(page):
    out, records = page
    failed = sum(r["status"] == "failed" for r in records)
    assert failed
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           "--virtual-time-budget=3000", "--dump-dom", f"file://{out}#status=failed"],
                          capture_output=True, text=True, timeout=120)
    dom = done.stdout
    assert 'data-ready="yes"' in dom, done.stderr[-2000:]  # the script ran
    rows = re.findall(r"<tr data-status=\"(\w+)\"[^>]*?( hidden(?:=\"\")?)?>", dom)
    shown = [status for status, hidden in rows if not hidden]
    assert len(rows) == 2 * len(records) and shown == ["failed"] * (2 * failed)


def test_report_refuses_what_it_cannot_read(tmp_path):
    other = tmp_path / "eval.json"
    other.write_text("{}")
    done = advtext("report", str(other), "--out", str(tmp_path / "r.html"))
    one_line_error(done.returncode, done.stderr, "not a result advtext reads")
    done = advtext("report", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "r.html"))
    one_line_error(done.returncode, done.stderr, "not found")
