"""The merchant setup steps on a connection's page, rendered from the same
file a merchant reads (docs/merchants/<vendor>.md, between the `<!-- steps -->`
markers), with the connection's own URL and id filled in. One source, so the
page and the guide never disagree.

markdown-it renders with raw HTML off: the guide is ours, but nothing in it
may become markup the page did not mean.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from markdown_it import MarkdownIt
from markupsafe import Markup

GUIDES = Path(__file__).resolve().parents[3] / "docs" / "merchants"
PLACEHOLDER_URL = "https://YOUR-BRIDGE/hooks/CONNECTION_ID"
START, END = "<!-- steps -->", "<!-- /steps -->"


@lru_cache(maxsize=8)
def _steps_source(vendor: str) -> str | None:
    path = GUIDES / f"{vendor}.md"
    if not path.is_file():  # an installed wheel carries no docs/: the page links to them instead
        return None
    text = path.read_text(encoding="utf-8")
    if START not in text or END not in text:
        return None
    return text[text.index(START) + len(START):text.index(END)]


def setup_steps(vendor: str, webhook_url: str, connection_id: str) -> Markup | None:
    source = _steps_source(vendor)
    if source is None:
        return None
    filled = source.replace(PLACEHOLDER_URL, webhook_url).replace("CONNECTION_ID", connection_id)
    return Markup(MarkdownIt("commonmark", {"html": False}).render(filled))
