"""The browser lab (docs/lab/), driven in a real headless Chromium.

The page is served by a real HTTP server on 127.0.0.1 (and once from
``file://``); every request the browser makes is recorded, and one to any
other host fails the test, as does any console error. The lab's maths module
(``window.linearLab``) is compared with the package in float64 on random
cases; the buttons are clicked, the keyboard and the pointer edit the
points, and the drawings are read back as pixels.

Chromium comes from Debian (``apt-get install chromium``, which ``.ci/run``
does when it is missing; playwright's own browser download cannot work
here), driven by playwright for Python (the ``test`` extra) through
``executable_path``. ``$JAXOPT_COURSE_CHROMIUM`` names another binary. The
browser tests skip, saying why, only when no browser can be had.

``python tests/test_lab.py --screenshot docs/figures/lab.png`` rewrites the
README's screenshot.
"""

from __future__ import annotations

import functools
import http.server
import io
import math
import os
import re
import shutil
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course import gradcheck
from jaxopt_course.finite_differences import numerical_gradient
from jaxopt_course.losses import softmax_loss, svm_loss

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
LAB = DOCS / "lab"
LAB_FILES = ("index.html", "linear-lab.js", "lab.js", "lab.css")
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
LOSSES = {"svm": svm_loss, "softmax": softmax_loss}


# ---------------------------------------------------------------------------
# The files themselves (no browser needed).
# ---------------------------------------------------------------------------


def test_the_lab_names_no_other_host():
    for name in LAB_FILES:
        text = (LAB / name).read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE), name


def test_every_asset_the_page_names_is_beside_it():
    html = (LAB / "index.html").read_text()
    assets = re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', html)
    assert {"linear-lab.js", "lab.js", "lab.css"} <= set(assets)
    for asset in assets:
        if not asset.startswith("data:"):
            assert (LAB / asset).is_file(), asset


def test_the_controls_use_the_lectures_words():
    html = (LAB / "index.html").read_text()
    for words in (
        "step size",
        "batch size",
        "reg",
        "h =",
        ">Step<",
        ">Run<",
        "random search",
        "random local search",
        "multiclass SVM",
        "softmax",
    ):
        assert words in html, words


# ---------------------------------------------------------------------------
# The browser, the server and one visit of the page.
# ---------------------------------------------------------------------------


def find_chromium() -> str | None:
    """A Chromium binary: ``$JAXOPT_COURSE_CHROMIUM``, else Debian's, else one on PATH."""
    for candidate in (os.environ.get("JAXOPT_COURSE_CHROMIUM"), *CHROMIUM_CANDIDATES):
        if candidate and (path := shutil.which(candidate)):
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]' installs it)"
    )
    executable = find_chromium()
    if executable is None:
        pytest.skip(
            "no Chromium to drive: install Debian's (apt-get install chromium, as .ci/run does) "
            "or name one in $JAXOPT_COURSE_CHROMIUM"
        )
    with sync_api.sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=executable, headless=True)
        except sync_api.Error as error:
            pytest.skip(f"Chromium at {executable} does not start: {str(error).splitlines()[0]}")
        yield chromium
        chromium.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 -- the base class's name
        pass


@pytest.fixture(scope="module")
def server():
    """docs/ served over HTTP on 127.0.0.1 (a free port), in a thread: the page at /lab/index.html."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(DOCS)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


class Visit:
    """One browser page with every request and every console error recorded; requests to other hosts are refused."""

    def __init__(self, browser, viewport=(1200, 1000)):
        self.context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _route(self, route):
        url = route.request.url
        self.requests.append(url)
        if self.is_local(url):
            route.continue_()
        else:
            route.abort()

    @staticmethod
    def is_local(url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("file", "data", "about") or parts.hostname == "127.0.0.1"

    def open(self, url: str):
        self.page.goto(url)
        self.page.wait_for_function("window.linearLab && typeof window.linearLab.state === 'function'")
        return self

    def other_hosts(self) -> list[str]:
        return [url for url in self.requests if not self.is_local(url)]

    def state(self) -> dict:
        return self.page.evaluate("linearLab.state()")

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser, server):
    """The lab page, opened from the server; afterwards no console error and no other host."""
    v = Visit(browser).open(server + "/lab/index.html")
    yield v
    errors, others = v.errors, v.other_hosts()
    v.close()
    assert not errors, f"console errors: {errors}"
    assert not others, f"requests to other hosts: {others}"


@pytest.fixture(scope="module")
def maths(browser, server):
    """One page for the maths module's tests (they change no state): no console error, no other host."""
    v = Visit(browser).open(server + "/lab/index.html")
    yield v
    errors, others = v.errors, v.other_hosts()
    v.close()
    assert not errors, f"console errors: {errors}"
    assert not others, f"requests to other hosts: {others}"


def _png(data: bytes):
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


# ---------------------------------------------------------------------------
# Loading: no console error, no other host, from the server and from disk.
# ---------------------------------------------------------------------------


def test_the_page_loads_from_the_server_without_errors_or_other_hosts(visit, server):
    assert visit.errors == []
    assert visit.other_hosts() == []
    paths = {urlsplit(url).path for url in visit.requests}
    assert {"/lab/index.html", "/lab/linear-lab.js", "/lab/lab.js", "/lab/lab.css"} <= paths
    assert visit.page.title().startswith("The linear classifier lab")
    state = visit.state()
    assert state["N"] == 24 and len(state["W"]) == 3 and all(len(row) == 3 for row in state["W"])
    assert math.isfinite(state["loss"]) and state["loss"] > 0
    assert (
        state["h"] == pytest.approx(1e-4) and visit.page.locator("#h-value").text_content() == "1.0e-4"
    )  # the lecture's h


def test_the_page_works_from_disk(browser):
    v = Visit(browser).open((LAB / "index.html").as_uri())
    try:
        assert v.errors == [] and v.other_hosts() == []
        assert v.state()["steps"] == 0
        v.page.get_by_role("button", name="Step", exact=True).click()
        assert v.state()["steps"] == 1
    finally:
        v.close()


def test_the_request_recorder_sees_and_refuses_other_hosts(browser):
    """The check the other tests rely on can fail: a page asking another host is caught."""
    v = Visit(browser)
    try:
        v.page.set_content('<img src="http://example.invalid/pixel.png">')
        v.page.wait_for_timeout(100)
        assert v.other_hosts() == ["http://example.invalid/pixel.png"]
    finally:
        v.close()


# ---------------------------------------------------------------------------
# The maths module against the package, in float64.
# ---------------------------------------------------------------------------


def _random_case(seed: int):
    rng = np.random.default_rng(seed)
    C, D, N = [(3, 3, 24), (4, 5, 1), (10, 8, 30)][seed % 3]  # few shapes: each is a compilation
    W = rng.normal(size=(C, D)) * 10.0 ** rng.uniform(-1, 1)
    X = np.concatenate([rng.normal(size=(N, D - 1)) * 2, np.ones((N, 1))], axis=1)
    y = rng.integers(0, C, size=N)
    reg = float(rng.uniform(0, 1)) if seed % 4 else 0.0
    return W, X, y, reg


def _package(name: str, W, X, y, reg):
    """The package's loss and jax.grad in float64."""
    with jax.enable_x64(True):
        args = (jnp.asarray(W, dtype=jnp.float64), jnp.asarray(X, dtype=jnp.float64), jnp.asarray(y), reg)
        loss = float(LOSSES[name](*args))
        grad = np.asarray(jax.grad(LOSSES[name])(*args))
    return loss, grad


_JS_LOSS_AND_GRAD = """([W, X, y, reg]) => ({
  svm: [linearLab.svmLoss(W, X, y, reg), linearLab.svmGrad(W, X, y, reg)],
  softmax: [linearLab.softmaxLoss(W, X, y, reg), linearLab.softmaxGrad(W, X, y, reg)],
  parts: linearLab.lossParts("softmax", W, X, y, reg)
})"""


def test_the_losses_and_gradients_equal_the_packages_in_float64(maths):
    for seed in range(12):
        W, X, y, reg = _random_case(seed)
        js = maths.page.evaluate(_JS_LOSS_AND_GRAD, [W.tolist(), X.tolist(), y.tolist(), reg])
        for name in ("svm", "softmax"):
            loss, grad = _package(name, W, X, y, reg)
            js_loss, js_grad = js[name][0], np.array(js[name][1])
            np.testing.assert_allclose(js_loss, loss, rtol=1e-9, atol=0, err_msg=f"{name} loss, seed {seed}")
            assert js_grad.shape == grad.shape
            np.testing.assert_allclose(
                js_grad, grad, rtol=1e-9, atol=1e-13 * np.abs(grad).max(), err_msg=f"{name} gradient, seed {seed}"
            )
        parts = js["parts"]
        np.testing.assert_allclose(parts["reg"], reg * np.sum(W**2), rtol=1e-12)  # the bias column too
        np.testing.assert_allclose(parts["data"] + parts["reg"], parts["total"], rtol=1e-15)


def test_the_lectures_cat_image_by_hand(maths):
    # scores cat 3.2, car 5.1, frog -1.7, label cat; W = I, so the scores are x itself
    W, X, y = np.eye(3).tolist(), [[3.2, 5.1, -1.7]], [0]
    svm, softmax = maths.page.evaluate(
        "([W, X, y]) => [linearLab.svmLoss(W, X, y, 0), linearLab.softmaxLoss(W, X, y, 0)]", [W, X, y]
    )
    assert svm == pytest.approx(max(0, 5.1 - 3.2 + 1) + max(0, -1.7 - 3.2 + 1), rel=1e-12)  # 2.9
    assert softmax == pytest.approx(math.log(math.exp(3.2) + math.exp(5.1) + math.exp(-1.7)) - 3.2, rel=1e-12)


def test_the_svm_gradient_at_a_kink_is_the_packages(maths):
    """A margin exactly 0 does not count (the package's mask ``margin > 0``): jax.grad agrees."""
    W, X, y = np.eye(3), np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 1.0]]), np.array([0, 1])
    # example 0: margins class 1 = 0 - 1 + 1 = 0 (a kink), class 2 = 0 - 1 + 1 = 0
    js = np.array(
        maths.page.evaluate("([W, X, y]) => linearLab.svmGrad(W, X, y, 0)", [W.tolist(), X.tolist(), y.tolist()])
    )
    np.testing.assert_array_equal(js, _package("svm", W, X, y, 0.0)[1])


def test_the_numerical_gradient_and_its_verdict_equal_the_packages(maths):
    W, X, y, reg = _random_case(1)
    for method in ("central", "forward"):
        js = np.array(
            maths.page.evaluate(
                """([W, X, y, reg, method]) => linearLab.numericalGrad(
                 V => linearLab.softmaxLoss(V, X, y, reg), W, 1e-5, method)""",
                [W.tolist(), X.tolist(), y.tolist(), reg, method],
            )
        )
        with jax.enable_x64(True):
            ours = np.asarray(
                numerical_gradient(
                    lambda V: softmax_loss(V, jnp.asarray(X), jnp.asarray(y), reg),
                    jnp.asarray(W),
                    h=1e-5,
                    method=method,
                )
            )
        # the same differences of the same losses: they differ by the losses' round-off over h
        np.testing.assert_allclose(js, ours, rtol=0, atol=1e-8 * max(1.0, np.abs(ours).max()))
    errors = [0.5, 1e-2, 2e-3, 1e-4, 3e-6, 1e-7, 1e-9, 0.0, float("nan")]
    for smooth in (False, True):
        js_verdicts = maths.page.evaluate(
            "([es, smooth]) => es.map(e => linearLab.verdictOf(e === null ? NaN : e, smooth))",
            [[None if math.isnan(e) else e for e in errors], smooth],
        )
        assert js_verdicts == [gradcheck.verdict_of(e, smooth=smooth) for e in errors]
    pairs = [(1.0, 1.1), (0.0, 0.0), (2.0, -2.0), (3e-9, 1e-9), (-5.0, 0.0)]
    js_errors = maths.page.evaluate("ps => ps.map(([a, b]) => linearLab.relativeError(a, b))", pairs)
    ours = gradcheck.relative_error(np.array([a for a, _ in pairs]), np.array([b for _, b in pairs]))
    np.testing.assert_allclose(js_errors, np.asarray(ours), rtol=1e-6)


def test_bad_arguments_name_the_argument(maths):
    messages = maths.page.evaluate("""() => [
        () => linearLab.svmLoss([[1, 2]], [[1, 2, 1]], [0], 0),
        () => linearLab.softmaxLoss([[1, 2]], [[1, 1]], [3], 0),
        () => linearLab.svmGrad([[1, 2]], [[1, 1]], [0], -1),
        () => linearLab.numericalGrad(W => 0, [[1]], 0),
        () => linearLab.verdictOf(1e-5),
      ].map(f => { try { f(); return "no error"; } catch (e) { return e.message; } })""")
    assert "W (C, D) and X (N, D) disagree on D" in messages[0]
    assert "y[0] must be an integer label in [0, 1), got number 3" in messages[1]
    assert "reg must be a finite number >= 0, got number -1" in messages[2]
    assert "h must be a finite number > 0, got number 0" in messages[3]
    assert "smooth must be true or false, got undefined" in messages[4]


# ---------------------------------------------------------------------------
# The page: Step, minibatches, Run/Pause, the searches, the gradient check.
# ---------------------------------------------------------------------------


def test_ten_steps_lower_the_loss_as_the_package_does(visit):
    start = visit.state()
    step = visit.page.get_by_role("button", name="Step", exact=True)
    for _ in range(10):
        step.click()
    end = visit.state()
    assert end["steps"] == 10 and len(end["history"]) == 11
    assert end["loss"] < start["loss"]
    assert end["batchSize"] == end["N"]  # the default: gradient descent on every point
    # the same ten steps W <- W - step size * dL/dW with the package's jax.grad, in float64
    W = np.array(start["W"])
    X, y = np.array(start["X"]), np.array(start["y"])
    for _ in range(10):
        W = W - start["stepSize"] * _package("svm", W, X, y, start["reg"])[1]
    np.testing.assert_allclose(np.array(end["W"]), W, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(end["loss"], _package("svm", W, X, y, start["reg"])[0], rtol=1e-9)
    assert visit.page.locator("#step-count").text_content() == "step 10"


def test_minibatch_steps_show_their_noise(visit):
    visit.page.get_by_label("batch size").fill("4")
    assert "minibatch SGD" in visit.page.locator("#batch-mode").text_content()
    for _ in range(12):
        visit.page.get_by_role("button", name="Step", exact=True).click()
    state = visit.state()
    assert state["batchSize"] == 4 and len(state["lastBatch"]) == 4
    steps = state["history"][1:]
    assert all(entry["batch"] is not None for entry in steps)
    # a minibatch's loss is not the loss on all the points: the noise the curve shows
    gaps = [
        abs(entry["batch"] - previous["full"]) for previous, entry in zip(state["history"][:-1], steps, strict=True)
    ]
    assert max(gaps) > 1e-3


def test_run_and_pause(visit):
    run = visit.page.locator("#run")
    run.click()
    assert run.text_content() == "Pause" and run.get_attribute("aria-pressed") == "true"
    visit.page.wait_for_function("linearLab.state().steps >= 5")
    run.click()
    assert run.text_content() == "Run" and run.get_attribute("aria-pressed") == "false"
    steps = visit.state()["steps"]
    visit.page.wait_for_timeout(250)
    assert visit.state()["steps"] == steps and not visit.state()["running"]


def test_random_search_and_random_local_search(visit):
    X, y = np.array(visit.state()["X"]), np.array(visit.state()["y"])
    visit.page.get_by_role("button", name="random search", exact=True).click()
    after_search = visit.state()
    assert after_search["history"][-1]["kind"] == "random search"
    np.testing.assert_allclose(
        after_search["loss"], _package("svm", np.array(after_search["W"]), X, y, 0.1)[0], rtol=1e-9
    )
    visit.page.get_by_role("button", name="random local search", exact=True).click()
    after_local = visit.state()
    assert after_local["history"][-1]["kind"] == "random local search"
    assert after_local["loss"] <= after_search["loss"]  # it moves only when the loss falls
    assert "random local search: 100 trials" in visit.page.locator("#search-status").text_content()


def test_the_loss_choice_reg_and_w_update_live(visit):
    page = visit.page
    page.get_by_label("softmax (cross-entropy)").check()
    page.get_by_label("reg (λ)").fill("0.5")
    page.get_by_label("W[0][0]").fill("0.25")
    page.get_by_label("b[2]").fill("-1.5")
    state = visit.state()
    assert state["lossName"] == "softmax" and state["reg"] == 0.5
    assert state["W"][0][0] == 0.25 and state["W"][2][2] == -1.5
    loss = _package("softmax", np.array(state["W"]), np.array(state["X"]), np.array(state["y"]), 0.5)[0]
    np.testing.assert_allclose(state["loss"], loss, rtol=1e-9)
    shown = [float(page.locator(f"#{i}").text_content()) for i in ("data-loss", "reg-loss", "total-loss")]
    assert shown[2] == pytest.approx(loss, abs=1e-4) and shown[0] + shown[1] == pytest.approx(shown[2], abs=2e-4)


def test_h_shows_truncation_and_round_off(visit):
    """Softmax (smooth), centered differences: the error is smallest near h = 1e-5, larger at 1 and at 1e-13."""
    page = visit.page
    page.get_by_label("softmax (cross-entropy)").check()
    errors = {}
    for log_h in ("0", "-5", "-13"):
        page.locator("#log-h").fill(log_h)
        errors[log_h] = float(page.locator("#max-error").text_content())
        verdict = page.locator("#verdict").text_content()
        assert verdict == gradcheck.verdict_of(errors[log_h], smooth=True)
    assert errors["-5"] <= 1e-7  # "good"
    assert errors["0"] > 100 * errors["-5"]  # truncation: h^2 of the third derivative
    assert errors["-13"] > 100 * errors["-5"]  # round-off: eps * L / h
    assert page.locator("#h-value").text_content() == "1.0e-13"


# ---------------------------------------------------------------------------
# Editing the points: pointer and keyboard.
# ---------------------------------------------------------------------------


def _plane_pixel(visit, x, y):
    box = visit.page.locator("#plane").bounding_box()
    return box["x"] + (x + 3) / 6 * box["width"], box["y"] + (3 - y) / 6 * box["height"]


def test_points_are_added_moved_and_deleted_with_the_pointer(visit):
    page = visit.page
    page.get_by_label("class 2 (triangle)").check()
    page.mouse.click(*_plane_pixel(visit, -2.6, 2.6))  # an empty corner
    state = visit.state()
    assert state["N"] == 25 and state["y"][-1] == 2
    np.testing.assert_allclose(state["X"][-1], [-2.6, 2.6, 1], atol=0.03)
    assert state["batchSize"] == 25  # still gradient descent on every point
    page.mouse.move(*_plane_pixel(visit, -2.6, 2.6))
    page.mouse.down()
    page.mouse.move(*_plane_pixel(visit, -2.0, 2.2), steps=4)
    page.mouse.up()
    np.testing.assert_allclose(visit.state()["X"][-1], [-2.0, 2.2, 1], atol=0.03)
    page.keyboard.down("Shift")
    page.mouse.click(*_plane_pixel(visit, -2.0, 2.2))
    page.keyboard.up("Shift")
    assert visit.state()["N"] == 24


def test_the_page_works_by_keyboard(visit):
    page = visit.page
    for _ in range(80):  # Tab through the page to the Step button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "step":
            break
    else:
        pytest.fail("Tab never reached the Step button")
    page.keyboard.press("Enter")
    page.keyboard.press("Space")
    assert visit.state()["steps"] == 2
    page.locator("#plane").focus()
    page.keyboard.press("a")  # a point of class 0 at the origin
    assert visit.state()["N"] == 25
    for key in ("ArrowRight", "ArrowRight", "ArrowUp"):
        page.keyboard.press(key)
    np.testing.assert_allclose(visit.state()["X"][-1], [0.1, 0.05, 1], atol=1e-12)
    assert "point 25 of 25, class 0" in page.locator("#point-status").text_content()
    page.keyboard.press("Delete")
    assert visit.state()["N"] == 24


def test_every_point_can_go_and_the_page_still_works(visit):
    page = visit.page
    page.locator("#plane").focus()
    page.keyboard.press("n")
    for _ in range(24):
        page.keyboard.press("Delete")
    state = visit.state()
    assert state["N"] == 0 and state["X"] == []
    assert state["loss"] == pytest.approx(
        state["reg"] * np.sum(np.array(state["W"]) ** 2), rel=1e-12
    )  # reg * R(W) alone
    assert page.locator("#verdict").text_content() == "no points"
    page.get_by_role("button", name="Step", exact=True).click()  # nothing to step on: nothing happens
    page.get_by_role("button", name="random local search", exact=True).click()
    page.locator("#plane").focus()
    page.keyboard.press("a")
    assert visit.state()["N"] == 1 and visit.state()["batchSize"] == 1


def test_every_control_has_a_name(visit):
    """A screen reader names every input, select and button: a <label>, an aria-label or its text."""
    unnamed = visit.page.evaluate("""() => [...document.querySelectorAll('input, select, button, canvas')]
        .filter(e => !((e.labels && e.labels.length) || e.getAttribute('aria-label') || e.textContent.trim()))
        .map(e => e.outerHTML)""")
    assert unnamed == []
    assert visit.page.locator("input, select, button").count() >= 20


# ---------------------------------------------------------------------------
# The drawings, on a wide screen and on a phone.
# ---------------------------------------------------------------------------


def _colours(image) -> set:
    return {tuple(p) for p in image.reshape(-1, 3)[::7]}


def test_the_page_draws(visit):
    visit.page.get_by_role("button", name="Step", exact=True).click()
    plane = _png(visit.page.locator("#plane").screenshot())
    # the three regions' colours fill most of the plane
    regions = np.array([[239, 154, 154], [165, 214, 167], [144, 202, 249]])
    for rgb in regions:
        assert np.mean(np.all(np.abs(plane.astype(int) - rgb) <= 2, axis=-1)) > 0.03, rgb
    assert len(_colours(plane)) > 20  # lines, markers, edges
    curve = _png(visit.page.locator("#curve").screenshot())
    blue = np.all(np.abs(curve.astype(int) - [63, 81, 181]) <= 40, axis=-1)
    assert blue.sum() > 100  # the loss curve's line
    whole = _png(visit.page.screenshot(full_page=True))
    assert whole.std() > 20


def test_a_phone_sized_viewport_is_readable(browser, server):
    v = Visit(browser, viewport=(390, 844)).open(server + "/lab/index.html")
    try:
        page = v.page
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        box = page.locator("#plane").bounding_box()
        assert 300 <= box["width"] <= 390 and box["x"] >= 0
        assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 14
        for name in ("Step", "Run", "random search", "random local search"):
            button = page.get_by_role("button", name=name, exact=True).bounding_box()
            assert button["x"] >= 0 and button["x"] + button["width"] <= 390 and button["height"] >= 24, name
        shot = _png(page.screenshot())
        assert shot.shape[:2] == (844, 390) and shot.std() > 20
        assert v.errors == [] and v.other_hosts() == []
    finally:
        v.close()


def write_screenshot(path: Path) -> None:
    """The README's screenshot: the lab after a few minibatch steps, on a 1200-pixel-wide screen."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=find_chromium())
        v = Visit(chromium, viewport=(1200, 900)).open((LAB / "index.html").as_uri())
        v.page.get_by_label("batch size").fill("6")
        for _ in range(25):
            v.page.get_by_role("button", name="Step", exact=True).click()
        shot = v.page.screenshot(full_page=True)
        chromium.close()
    from PIL import Image

    # 128 colours are plenty for flat regions and text, and a quarter of the bytes
    Image.open(io.BytesIO(shot)).convert("RGB").quantize(128).save(path, optimize=True)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "--screenshot":
        sys.exit("usage: python tests/test_lab.py --screenshot docs/figures/lab.png")
    write_screenshot(Path(sys.argv[2]))
