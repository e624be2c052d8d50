"""autograd.explore in a real browser: Debian's chromium driven by selenium (no download).

The references are the engine's own ``.grad`` (computed by ``backward()``, independent of the
page's JavaScript, which re-adds the contributions g * local step by step) and the Graph's node
count. Under ``CI=true`` a missing browser or selenium fails these tests; locally they skip.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import struct
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import autograd as ag
from autograd import Value

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
INSTALL = (
    "apt-get install chromium chromium-driver (Debian/Ubuntu) and "
    "pip install selenium (in the dev extra)"
)


def _browser_missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    if CHROMIUM is None or CHROMEDRIVER is None:
        return "chromium or chromedriver is not on PATH"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests under CI=true: {missing}; {INSTALL}")
        pytest.skip(f"{missing}: {INSTALL}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="deltagrad-chromium-")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
        f"--user-data-dir={profile}",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def mlp_loss() -> tuple[Value, Value]:
    """A hand-built 2-2-1 net with a shared input, constants and a dead ReLU."""
    x = [Value(0.5, "x0"), Value(-1.5, "x1")]
    hidden = []
    with ag.scope("layer0"):
        for j, (ws, b, act) in enumerate([((0.3, -0.8), 0.1, "tanh"), ((-0.6, 0.2), -2.0, "relu")]):
            with ag.scope(f"neuron{j}"):
                w = [Value(v, f"w{i}") for i, v in enumerate(ws)]
                z = ag.dot(w, x, Value(b, "b"))
                hidden.append(getattr(z, act)())
    with ag.scope("layer1"), ag.scope("neuron0"):
        w2 = [Value(0.7, "w0"), Value(-0.4, "w1")]
        y = ag.dot(w2, hidden, Value(0.05, "b")).tanh()
    loss = (y - 1.0) ** 2 + 0.01 * (w2[0] * w2[0])
    loss.label = "L"
    loss.backward()
    return loss, w2[0]


def open_page(driver: object, root: Value, tmp_path: Path, **kw: object) -> ag.Explorer:
    ex = ag.explore(root, **kw)  # type: ignore[arg-type]
    path = ex.save(tmp_path / "graph.html")
    driver.get_log("performance")  # type: ignore[attr-defined]  # drain the start page's
    driver.get(path.resolve().as_uri())  # type: ignore[attr-defined]
    return ex


def grads_shown(driver: object) -> dict[int, str]:
    pairs = driver.execute_script(  # type: ignore[attr-defined]
        "return Array.from(document.querySelectorAll('[data-node]'))"
        ".map(e => [Number(e.dataset.node), e.getAttribute('data-grad')]);"
    )
    return {int(i): g for i, g in pairs}


def press(driver: object, name: str, times: int = 1) -> None:
    from selenium.webdriver.common.by import By

    button = driver.find_element(By.CSS_SELECTOR, f"button[aria-label='{name}']")  # type: ignore[attr-defined]
    for _ in range(times):
        button.click()


def test_page_loads_from_file_with_no_console_error_and_no_request(
    browser: object, tmp_path: Path
) -> None:
    loss, w = mlp_loss()
    open_page(browser, loss, tmp_path, highlight=w)
    logs = browser.get_log("browser")  # type: ignore[attr-defined]
    assert [e for e in logs if e["level"] in ("SEVERE", "ERROR")] == []
    entries = browser.execute_script(  # type: ignore[attr-defined]
        "return performance.getEntriesByType('resource').map(e => e.name);"
    )
    assert entries == []
    requests = [
        json.loads(e["message"])["message"]
        for e in browser.get_log("performance")  # type: ignore[attr-defined]
    ]
    page = (tmp_path / "graph.html").resolve().as_uri()
    sent = [m["params"] for m in requests if m["method"] == "Network.requestWillBeSent"]
    mine = [r["request"]["url"] for r in sent if r.get("documentURL") == page]
    assert mine == [page]  # the page itself, nothing it asked for
    # and nothing anywhere went to the network (chrome:// pages are the browser's own UI)
    assert [
        r["request"]["url"]
        for r in sent
        if not r["request"]["url"].startswith(("file:", "chrome:", "data:"))
    ] == []


def test_one_data_node_per_graph_node_and_initial_grads(browser: object, tmp_path: Path) -> None:
    loss, _ = mlp_loss()
    ex = open_page(browser, loss, tmp_path)
    graph = ag.Graph(loss)
    shown = grads_shown(browser)
    assert sorted(shown) == list(range(len(graph)))
    for i, g in shown.items():
        if graph.grads[i] is None:
            assert g == ""
        elif i == len(graph) - 1:
            assert float(g) == loss.grad
        else:
            assert float(g) == 0.0
    assert len(ex.steps) == sum(1 for i, op in enumerate(graph.ops) if op is not None)


def test_stepping_once_per_op_node_ends_with_every_grad(browser: object, tmp_path: Path) -> None:
    loss, _ = mlp_loss()
    ex = open_page(browser, loss, tmp_path)
    graph = ex.graph
    press(browser, "Step", len(ex.steps))
    shown = grads_shown(browser)
    for i, g in shown.items():
        want = graph.nodes[i].grad
        if want is None:
            assert g == ""
        else:
            assert math.isclose(float(g), want, rel_tol=1e-9, abs_tol=1e-300), (i, g, want)
    press(browser, "Step")  # past the end: nothing changes
    assert grads_shown(browser) == shown


def fills_shown(driver: object) -> dict[int, str]:
    pairs = driver.execute_script(  # type: ignore[attr-defined]
        "return Array.from(document.querySelectorAll('[data-node]'))"
        ".map(e => [Number(e.dataset.node), (e.querySelector('.box') || e)"
        ".getAttribute('fill')]);"
    )
    return {int(i): f for i, f in pairs}


def test_heat_colours_follow_the_stepping(browser: object, tmp_path: Path) -> None:
    """Before backward only the root is coloured (every other box: grad 0, grey); stepping
    colours boxes as their gradients grow; after the last step each box has the fill the
    static drawing gives its final .grad (the heat palette by |grad| / max |grad|)."""
    import autograd.draw as draw_mod

    loss, _ = mlp_loss()
    ex = open_page(browser, loss, tmp_path)
    graph = ex.graph
    palette = list(draw_mod._PALETTE)
    static = {  # the drawing's own fill per value box (from the DOT text, not the page)
        int(m.group(1)): m.group(2)
        for m in re.finditer(r'^\tv(\d+) \[.*?fillcolor="(#[0-9a-f]{6})"', ex_source(loss), re.M)
    }
    start = fills_shown(browser)
    grey = draw_mod._ZERO_FILL
    root = len(graph) - 1
    movable = [i for i in range(len(graph)) if graph.grads[i] not in (None, 0.0) and i != root]
    assert movable and all(start[i] == grey for i in movable)
    assert start[root] == static[root]
    press(browser, "Step", len(ex.steps) // 2)
    half = fills_shown(browser)
    assert any(half[i] != grey for i in movable) and any(half[i] == grey for i in movable)
    press(browser, "Step", len(ex.steps))
    end = fills_shown(browser)
    for i, want in static.items():
        if want in palette:  # within one level: the page sums in JavaScript doubles
            assert abs(palette.index(end[i]) - palette.index(want)) <= 1, (i, end[i], want)
        else:
            assert end[i] == want, (i, end[i], want)
    press(browser, "Reset")
    assert fills_shown(browser) == start


def moons_mlp_loss() -> Value:
    """A 2-16-16-1 MLP on one sample: drawn by default, its neurons collapse."""
    import nn

    m = nn.MLP(2, [16, 16, 1], activation="relu", seed=4)
    loss = nn.mse_loss(m([0.4, -0.9]), 1.0)
    loss.backward()
    return loss


def groups_shown(driver: object) -> dict[int, tuple[list[str], str | None]]:
    rows = driver.execute_script(  # type: ignore[attr-defined]
        "return Array.from(document.querySelectorAll('g.node[data-group]')).map(e =>"
        " [Number(e.dataset.group), Array.from(e.querySelectorAll('text')).map(t =>"
        " t.textContent), (e.querySelector('.box') || e).getAttribute('fill')]);"
    )
    return {int(k): (texts, fill) for k, texts, fill in rows}


def deltas(texts: list[str]) -> list[float]:
    return [float(t.rsplit("δ ", 1)[1].split()[0]) for t in texts if "δ " in t]


def test_collapsed_neurons_follow_the_stepping_and_open_the_panel(
    browser: object, tmp_path: Path
) -> None:
    """A collapsed neuron's δ row and fill show its z's running gradient: 0 and grey before
    backward, dL/dz (as `Graph` has it) and the static drawing's fill after the last step."""
    from selenium.webdriver.common.by import By

    import autograd.draw as draw_mod

    loss = moons_mlp_loss()
    ex = open_page(browser, loss, tmp_path)
    p = draw_mod.plan(loss, draw_mod.DrawOptions(max_nodes=draw_mod.MAX_NODES))
    assert p.collapsed and len(p.groups) == 33
    start = groups_shown(browser)
    assert sorted(start) == list(range(33))
    for texts, fill in start.values():
        assert deltas(texts) == [0.0] and fill == draw_mod._ZERO_FILL, texts
    static = {  # the static drawing's fill of each group node
        int(m.group(1)): m.group(2)
        for m in re.finditer(r'^\tg(\d+) \[.*?fillcolor="(#[0-9a-f]{6})"', ex_source(loss), re.M)
    }
    palette = list(draw_mod._PALETTE)
    press(browser, "Step", len(ex.steps))
    end = groups_shown(browser)
    graph = ex.graph
    for k, (texts, fill) in end.items():
        (z,) = p.groups[k].zs
        assert deltas(texts) == [pytest.approx(graph.grads[z], abs=1e-4)], (k, texts)
        want = static[k]
        if want in palette:
            assert abs(palette.index(fill) - palette.index(want)) <= 1, (k, fill, want)
        else:
            assert fill == want, (k, fill, want)
    browser.execute_script(  # type: ignore[attr-defined]
        "document.querySelector('g.node[data-group=\"3\"]')"
        ".dispatchEvent(new MouseEvent('click', {bubbles: true}));"
    )
    panel = browser.find_element(By.ID, "panel").text  # type: ignore[attr-defined]
    assert p.groups[3].scope in panel and "a collapsed neuron" in panel
    press(browser, "Reset")
    assert groups_shown(browser) == start


def test_no_contribution_is_written_on_an_edge_into_a_constant(
    browser: object, tmp_path: Path
) -> None:
    """(y - 1) ** 2: the exponent 2 is a constant; its partial (log of a negative base) is
    NaN, and nothing flows into it, so its edge carries no note and no NaN is shown."""
    loss, _ = mlp_loss()
    ex = open_page(browser, loss, tmp_path)
    press(browser, "Step", len(ex.steps))
    texts = browser.execute_script(  # type: ignore[attr-defined]
        "return Array.from(document.querySelectorAll('svg text')).map(t => t.textContent);"
    )
    assert not [t for t in texts if "NaN" in t]
    notes = browser.execute_script(  # type: ignore[attr-defined]
        "return document.querySelectorAll('text.contrib').length;"
    )
    graph = ex.graph
    flowing = sum(
        1
        for c in ex.steps
        for q in graph.parents[c]
        if graph.grads[q] is not None and f"e{c}_" in ex.html()
    )
    assert 0 < notes <= flowing


def ex_source(root: Value) -> str:
    return ag.draw_graph(root, max_nodes=ag.draw.MAX_NODES).source


def test_back_undoes_a_step_exactly_and_reset_returns_to_the_start(
    browser: object, tmp_path: Path
) -> None:
    loss, _ = mlp_loss()
    ex = open_page(browser, loss, tmp_path)
    start = grads_shown(browser)
    press(browser, "Step", 3)
    before = grads_shown(browser)
    press(browser, "Step")
    assert grads_shown(browser) != before
    press(browser, "Back")
    assert grads_shown(browser) == before
    from selenium.webdriver.common.keys import Keys

    body = browser.find_element("tag name", "body")  # type: ignore[attr-defined]
    body.send_keys(Keys.ARROW_RIGHT)
    body.send_keys(Keys.ARROW_LEFT)
    assert grads_shown(browser) == before
    press(browser, "Reset")
    assert grads_shown(browser) == start
    assert len(ex.steps) > 4


def test_clicking_a_node_shows_its_numbers_and_explanation(browser: object, tmp_path: Path) -> None:
    loss, w = mlp_loss()
    ex = open_page(browser, loss, tmp_path)
    i = ex.graph.index(w)
    browser.execute_script(  # type: ignore[attr-defined]
        f"document.querySelector('[data-node=\"{i}\"] text').dispatchEvent("
        "new MouseEvent('click', {bubbles: true}));"
    )
    text = browser.find_element("id", "panel").text  # type: ignore[attr-defined]
    assert f"{w.grad:.4f}" in text and f"{w.data:.4f}" in text
    first = str(ag.explain_grad(w, loss)).splitlines()[0]
    assert first in text


def _png_is_not_blank(png: bytes) -> bool:
    """Decode the PNG's pixels (8-bit RGB/RGBA) and look for at least two colours."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, ctype = 8, b"", 0, 0
    while pos < len(png):
        (n,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            width, _, _, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    bpp = 4 if ctype == 6 else 3
    stride = 1 + width * bpp
    # unfiltered bytes are enough to see variation: distinct byte rows mean distinct content
    rows = {raw[r * stride + 1 : (r + 1) * stride] for r in range(len(raw) // stride)}
    return len(rows) > 10


def test_screenshot_is_written_and_not_blank(browser: object, tmp_path: Path) -> None:
    loss, w = mlp_loss()
    open_page(browser, loss, tmp_path, highlight=w)
    out = tmp_path / "shot.png"
    assert browser.save_screenshot(str(out))  # type: ignore[attr-defined]
    assert out.stat().st_size > 5000 and _png_is_not_blank(out.read_bytes())


def test_hostile_label_is_shown_as_text_and_runs_nothing(browser: object, tmp_path: Path) -> None:
    evil = "</script><script>alert(1)</script>\"'\n<img src=x onerror='window.pwned=1'> & \\N"
    a = Value(2.0, evil)
    with ag.scope(evil.replace("\n", " ")):
        y = (a * a).tanh()
    y.label = evil
    y.backward()
    ex = open_page(browser, y, tmp_path)
    assert browser.execute_script("return document.querySelectorAll('script').length;") == 2  # type: ignore[attr-defined]
    # an alert would make this call raise UnexpectedAlertPresentException
    assert browser.execute_script("return typeof window.pwned;") == "undefined"  # type: ignore[attr-defined]
    assert browser.execute_script("return document.querySelectorAll('img').length;") == 0  # type: ignore[attr-defined]
    labels = browser.execute_script(  # type: ignore[attr-defined]
        "return Array.from(document.querySelectorAll('[data-node]')).map(e => e.dataset.label);"
    )
    assert labels.count(evil) == 2
    browser.execute_script(  # type: ignore[attr-defined]
        f"document.querySelector('[data-node=\"{ex.graph.index(a)}\"] text').dispatchEvent("
        "new MouseEvent('click', {bubbles: true}));"
    )
    heading = browser.find_element("css selector", "#panel h2").text  # type: ignore[attr-defined]
    assert "</script><script>alert(1)</script>" in heading
    press(browser, "Step", len(ex.steps))
    assert math.isclose(float(grads_shown(browser)[ex.graph.index(a)]), a.grad, rel_tol=1e-9)


def test_forward_only_hides_the_grads(browser: object, tmp_path: Path) -> None:
    loss, _ = mlp_loss()
    open_page(browser, loss, tmp_path)
    visible = (
        "return Array.from(document.querySelectorAll('text.grad'))"
        ".filter(t => getComputedStyle(t).display !== 'none').length;"
    )
    assert browser.execute_script(visible) > 0  # type: ignore[attr-defined]
    browser.find_element("id", "forward").click()  # type: ignore[attr-defined]
    assert browser.execute_script(visible) == 0  # type: ignore[attr-defined]


def test_explorer_repr_html_is_an_isolated_iframe() -> None:
    loss, _ = mlp_loss()
    if shutil.which("dot") is None and shutil.which("graphviz-pure") is None:
        pytest.skip("no renderer")
    page = ag.explore(loss)._repr_html_()
    assert page.startswith("<iframe srcdoc=") and 'sandbox="allow-scripts"' in page


def test_bad_arguments_are_errors_naming_explore() -> None:
    loss, _ = mlp_loss()
    with pytest.raises(TypeError, match=r"^explore: root must be a Value, got int: 42"):
        ag.explore(42)  # type: ignore[arg-type]
    stranger = Value(1.0, "zz")
    with pytest.raises(ValueError, match=r"^explore: highlight .*'zz'.* is not in the graph"):
        ag.explore(loss, highlight=stranger)
    with pytest.raises(ValueError, match=r"^explore: .*rankdir"):
        ag.explore(loss, rankdir="up")


def test_a_large_drawing_opens_readable_at_the_root_and_fit_shows_all(
    browser: object, tmp_path: Path
) -> None:
    """Fitted whole, the moons MLP's 10 pt text would be a few pixels high: the page opens at
    one drawing unit per pixel with the root in view; Fit shows everything, and back."""
    loss = moons_mlp_loss()
    open_page(browser, loss, tmp_path)
    js = (
        "var s = document.querySelector('#stage svg'), v = s.viewBox.baseVal;"
        "var r = document.getElementById('stage').getBoundingClientRect();"
        f"var root = document.querySelector('[data-node=\"{len(ag.Graph(loss)) - 1}\"]');"
        "var b = root.getBoundingClientRect();"
        "var t = root.querySelector('text').getBoundingClientRect();"
        "return [v.x, v.y, v.width, v.height, r.left, r.top, r.right, r.bottom,"
        " b.left, b.top, b.right, b.bottom, t.height];"
    )
    full = [float(x) for x in ag.explore(loss).html().split('viewBox="')[1].split('"')[0].split()]
    got = browser.execute_script(js)  # type: ignore[attr-defined]
    view, stage, box, text_px = got[0:4], got[4:8], got[8:12], got[12]
    sw, sh = stage[2] - stage[0], stage[3] - stage[1]
    assert min(sw / full[2], sh / full[3]) < 0.8  # fitted whole, the text would be tiny
    assert view[2:4] == [sw, sh]  # opened at one drawing unit (pt) per pixel
    assert stage[0] <= box[0] and box[2] <= stage[2] and stage[1] <= box[1] and box[3] <= stage[3]
    assert text_px >= 8.0, text_px
    press(browser, "Fit")
    got = browser.execute_script(js)  # type: ignore[attr-defined]
    assert [round(v, 2) for v in got[0:4]] == [round(v, 2) for v in full]
    press(browser, "Fit")
    assert browser.execute_script(js)[0:4] == view  # type: ignore[attr-defined]
