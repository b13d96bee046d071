"""A picture of a report's Videos section as a browser shows it (docs/agents.md).

    python scripts/report_screenshot.py reports/report.md docs/images/report-videos.png

Writes the section as HTML beside the report (videos_section.html, removed afterwards; its
images are the report's own relative links) and screenshots it with headless Chromium
(`apt install chromium`; not a Python dependency). A GIF shows its first frame.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import markdown  # installed with mkdocs (the dev lock)

STYLE = """body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif;
max-width: 860px; margin: 24px auto; color: #1f2328; font-size: 15px; line-height: 1.5; }
h2 { border-bottom: 1px solid #d1d9e0; padding-bottom: .3em; }
img { max-width: 100%; border: 1px solid #d1d9e0; }"""


def section_html(report: str) -> str:
    if "## Videos" not in report:
        raise SystemExit("the report has no '## Videos' section: run `dvc repro` first")
    section = "## Videos" + report.split("## Videos", 1)[1].split("\n## ", 1)[0]
    body = markdown.markdown(section, extensions=["tables"])
    head = f'<meta charset="utf-8"><style>{STYLE}</style>'
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--size", default="900,1400", help="the window, width,height")
    args = parser.parse_args(argv)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("chromium not found (apt install chromium)", file=sys.stderr)
        return 1
    page = args.report.parent / "videos_section.html"
    page.write_text(section_html(args.report.read_text()))
    try:
        args.png.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                browser,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--window-size={args.size}",
                f"--screenshot={args.png.resolve()}",
                page.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    finally:
        page.unlink(missing_ok=True)
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
