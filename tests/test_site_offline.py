"""The documentation site works offline: nothing it loads comes from another host (issue 20, point 7).

Read over a built site: ``build/site`` when ``make docs`` made one (the
notebooks executed into its pages), else a fresh ``mkdocs build`` into a
temporary folder (the notebooks not executed). Every page's ``<script src>``
and ``<link href>`` and every stylesheet's ``url(...)``/``@import`` must
stay on the site; MathJax is the npm package's, served from
``javascripts/mathjax/``; a real headless Chromium, with every host name
made unresolvable, typesets the formulas; the package root's API page
links every name of ``jaxopt_course.__all__``.
"""

from __future__ import annotations

import html.parser
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILT = ROOT / "build" / "site"


def _load_vendor():
    spec = importlib.util.spec_from_file_location("docs_vendor", ROOT / "docs" / "javascripts" / "vendor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    if (BUILT / "javascripts" / "mathjax" / "tex-mml-chtml.js").is_file():
        return BUILT
    for name in ("mkdocs", "material", "mkdocstrings", "mkdocs_jupyter"):
        pytest.importorskip(name, reason=f"{name} is not installed: `make docs` installs the docs extra")
    if shutil.which("npm") is None and not _load_vendor().is_current():
        pytest.skip("npm is not on PATH and build/vendor holds no MathJax: `make docs` needs Node.js's npm")
    site_dir = tmp_path_factory.mktemp("site")
    env = {**os.environ, "JAXOPT_DOCS_EXECUTE": "false", "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return site_dir


class _Loads(html.parser.HTMLParser):
    """The URLs a page makes the browser fetch as it loads: scripts, stylesheets, preloads, frames, images."""

    LINK_RELS = {"stylesheet", "preload", "modulepreload", "preconnect", "dns-prefetch", "icon", "manifest"}

    def __init__(self):
        super().__init__()
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "video", "audio") and attrs.get("src"):
            self.urls.append((tag, attrs["src"]))
        elif tag == "link" and attrs.get("href"):
            if set((attrs.get("rel") or "").lower().split()) & self.LINK_RELS:
                self.urls.append((f"link rel={attrs.get('rel')}", attrs["href"]))


def _is_remote(url: str) -> bool:
    parts = urlsplit(url.strip())
    return bool(parts.netloc) or parts.scheme not in ("", "data", "blob")


def test_is_remote_by_hand():
    assert _is_remote("https://unpkg.com/mathjax@3/es5/tex-mml-chtml.js")
    assert _is_remote("//fonts.googleapis.com/css") and _is_remote("http://example.org/a.css")
    assert not _is_remote("javascripts/mathjax/tex-mml-chtml.js") and not _is_remote("../assets/x.css")
    assert not _is_remote("data:image/png;base64,AAAA")
    loads = _Loads()
    loads.feed(
        '<link rel="preconnect" href="https://fonts.gstatic.com"><link rel="canonical" href="https://x.org/">'
        '<script src="a.js"></script><a href="https://github.com/">a link is not a load</a>'
    )
    assert loads.urls == [("link rel=preconnect", "https://fonts.gstatic.com"), ("script", "a.js")]


@pytest.mark.slow
def test_no_page_loads_a_script_or_stylesheet_from_another_host(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 20, "the site has its pages"
    remote, local_scripts = [], set()
    for page in pages:
        loads = _Loads()
        loads.feed(page.read_text(encoding="utf-8"))
        for what, url in loads.urls:
            if _is_remote(url):
                remote.append(f"{page.relative_to(site)}: {what} {url}")
            elif what == "script":
                local_scripts.add((page, url))
    assert not remote, "\n".join(remote[:20])
    # Every page loads MathJax from the site itself, and the file is there.
    index_scripts = {url for page, url in local_scripts if page == site / "index.html"}
    assert "javascripts/mathjax/tex-mml-chtml.js" in index_scripts, index_scripts
    for page, url in local_scripts:
        path = urlsplit(url).path  # 404.html uses paths from the site's root
        target = (site / path.lstrip("/")) if path.startswith("/") else (page.parent / path).resolve()
        assert target.is_file(), f"{page.relative_to(site)} loads {url}, which the site lacks"
    # Stylesheets: no font or import from another host either.
    for css in site.rglob("*.css"):
        for url in re.findall(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""", css.read_text(errors="replace")):
            assert not _is_remote(url), f"{css.relative_to(site)} loads {url}"


@pytest.mark.slow
def test_mathjax_is_the_pinned_npm_package_not_a_hand_copy(site):
    import json

    vendor = _load_vendor()
    lock = json.loads((ROOT / "docs" / "javascripts" / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/mathjax"]
    assert pinned["version"] == "3.2.2" and pinned["integrity"].startswith("sha512-")
    served = site / "javascripts" / "mathjax" / "tex-mml-chtml.js"
    installed = vendor.mathjax_root() / "tex-mml-chtml.js"
    assert installed.is_file() and served.read_bytes() == installed.read_bytes()
    assert (site / "javascripts" / "mathjax" / "LICENSE").is_file()
    # Nothing of MathJax is kept in git: only the two manifests and the script that installs it.
    tracked = subprocess.run(["git", "ls-files", "docs/javascripts"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode == 0 and tracked.stdout.strip():
        assert not [f for f in tracked.stdout.split() if "mathjax/" in f or f.endswith(".woff")], tracked.stdout


def test_vendor_without_npm_says_so_in_one_line(tmp_path, monkeypatch):
    vendor = _load_vendor()
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm there
    with pytest.raises(RuntimeError, match="npm is not on PATH"):
        vendor.ensure_mathjax(tmp_path / "vendor")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "javascripts" / "vendor.py")],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(tmp_path)},
        cwd=tmp_path,
    )
    if vendor.is_current():  # build/vendor already holds it: nothing to install, no npm needed
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode == 2 and proc.stderr.startswith("vendor.py: error: npm is not on PATH")
        assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_real_browser_typesets_the_formulas_with_every_host_unreachable(site, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no Chromium on PATH (Debian: apt-get install chromium)")
    page = site / "notebooks" / "01_scores_and_losses.html"
    assert "arithmatex" in page.read_text() or "$" in page.read_text()
    proc = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=15000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    dom = proc.stdout
    assert proc.returncode == 0 and "</html>" in dom, proc.stderr[-2000:]
    typeset = dom.count("<mjx-container")
    assert typeset >= 5, f"MathJax typeset {typeset} formulas offline"
    assert "<mjx-merror" not in dom, "a formula failed to typeset"


@pytest.mark.slow
def test_the_package_root_api_page_lists_every_name(site):
    import jaxopt_course

    page = (site / "api" / "jaxopt_course.html").read_text(encoding="utf-8")
    links = dict(
        (name, href) for href, name in re.findall(r'<a [^>]*href="([^"]+)"[^>]*>\s*<code>(\w+)</code>\s*</a>', page)
    )
    missing = [name for name in jaxopt_course.__all__ if name not in links]
    assert not missing, f"the root API page does not list {missing}"
    for name in jaxopt_course.__all__:
        target, _, anchor = links[name].partition("#")
        assert anchor.endswith(f".{name}"), (name, links[name])
        assert f'id="{anchor}"' in (site / "api" / target).read_text(encoding="utf-8"), (name, links[name])
