"""Install what the site serves itself -- MathJax 3 -- from the npm registry: ``python docs/javascripts/vendor.py``.

The site must work offline (opened from disk, or on a machine without a
network), so it loads no script, stylesheet or font from another host. Its
maths is typeset by MathJax 3, which comes from the npm package ``mathjax``
at the version pinned in ``docs/javascripts/package.json`` and
``package-lock.json`` (with its integrity hash), not from a hand copy:

1. this script copies those two files into ``build/vendor/`` and runs
   ``npm ci`` there (about a second; nothing runs from the package, and it
   runs again only when the lock file changed);
2. ``docs/api/hooks.py`` adds the component ``tex-mml-chtml.js`` and the
   folders it loads lazily (TeX extensions, the fonts, the menu, the
   accessibility parts) to the site as ``javascripts/mathjax/``, which
   ``mkdocs.yml``'s ``extra_javascript`` names.

``make docs`` runs this script before ``mkdocs build``; the hook runs it too
when ``build/vendor`` is missing, so a bare ``mkdocs build`` works as well.
It needs Node.js's ``npm`` on PATH; without it, it exits 2 with one line.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENDOR = ROOT / "build" / "vendor"
MANIFESTS = ("package.json", "package-lock.json")
#: The combined component the pages load, and the folders it may load later (relative to mathjax/es5).
MATHJAX_SITE_FILES = ("tex-mml-chtml.js", "input", "output", "ui", "a11y", "sre")
#: Where the site serves them (a folder of the built site).
SITE_FOLDER = "javascripts/mathjax"


def mathjax_root(vendor: Path = VENDOR) -> Path:
    """The installed package's ``es5/`` folder."""
    return vendor / "node_modules" / "mathjax" / "es5"


def is_current(vendor: Path = VENDOR) -> bool:
    """True when ``vendor`` holds MathJax installed from the current lock file."""
    lock, installed = HERE / "package-lock.json", vendor / "package-lock.json"
    return (
        (mathjax_root(vendor) / "tex-mml-chtml.js").is_file()
        and installed.is_file()
        and installed.read_bytes() == lock.read_bytes()
    )


def ensure_mathjax(vendor: Path = VENDOR) -> Path:
    """Install the pinned MathJax into ``vendor`` unless it is there already; returns its ``es5/`` folder.

    Raises:
      RuntimeError: ``npm`` is not on PATH, or ``npm ci`` failed (its last output lines in the message).
    """
    if is_current(vendor):
        return mathjax_root(vendor)
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            "npm is not on PATH: the site serves MathJax from the npm package 'mathjax' "
            "(install Node.js and npm, e.g. apt-get install npm)"
        )
    vendor.mkdir(parents=True, exist_ok=True)
    for name in MANIFESTS:
        shutil.copyfile(HERE / name, vendor / name)
    proc = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
        cwd=vendor,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 or not (mathjax_root(vendor) / "tex-mml-chtml.js").is_file():
        tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
        raise RuntimeError(f"npm ci in {vendor} failed (exit {proc.returncode}): {tail}")
    return mathjax_root(vendor)


def site_files(vendor: Path = VENDOR) -> list[tuple[str, Path]]:
    """``(path in the site, file on disk)`` for every MathJax file the site serves, and MathJax's licence."""
    root = mathjax_root(vendor)
    pairs = [(f"{SITE_FOLDER}/LICENSE", root.parent / "LICENSE")]
    for name in MATHJAX_SITE_FILES:
        path = root / name
        found = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        pairs += [(f"{SITE_FOLDER}/{p.relative_to(root).as_posix()}", p) for p in found]
    return pairs


def main() -> int:
    try:
        root = ensure_mathjax()
    except RuntimeError as err:
        print(f"vendor.py: error: {err}", file=sys.stderr)
        return 2
    print(f"MathJax {_version(root)} in {root.relative_to(ROOT)} ({len(site_files())} files for the site)")
    return 0


def _version(root: Path) -> str:
    import json

    return json.loads((root.parent / "package.json").read_text())["version"]


if __name__ == "__main__":
    sys.exit(main())
