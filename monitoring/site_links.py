"""Link check of a static report folder: every `href` and `src` of every HTML page under it must name a file that
exists, relative to the page, and none may reach the network or an absolute location.

The governance site (`monitoring.governance_site`) runs it on `HOME/reports/` after each build and the tests run it
on real and hand-built sites. Attributes are read with the standard HTML parser, so text inside inline scripts (the
Evidently reports embed their bundle) is not mistaken for a link; `#anchor` links and inline `data:` images need no
file; a query string or fragment is dropped before the file is looked up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["LinkCheck", "check_links", "page_links"]

logger = logging.getLogger(__name__)

_ATTRIBUTES = frozenset({"href", "src"})


@dataclass(frozen=True)
class LinkCheck:
    """What a walk found: pages parsed, links followed, and the links that fail, as `page -> link` strings."""

    pages: int
    links: int
    broken: tuple[str, ...] = field(default_factory=tuple)  # relative, but no such file
    external: tuple[str, ...] = field(default_factory=tuple)  # a URL scheme or `//host` (the network, `file:`)
    absolute: tuple[str, ...] = field(default_factory=tuple)  # a path from the file system root
    outside: tuple[str, ...] = field(default_factory=tuple)  # resolves, but to a file outside the checked folder

    @property
    def ok(self) -> bool:
        """True when no link is broken, external or absolute (links leaving the folder are reported apart)."""
        return not (self.broken or self.external or self.absolute)


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links.extend(value for name, value in attrs if name in _ATTRIBUTES and value is not None)


def page_links(page: Path) -> list[str]:
    """Every `href` and `src` value of an HTML page, in document order."""
    parser = _LinkParser()
    parser.feed(page.read_text(encoding="utf-8", errors="replace"))
    parser.close()
    return parser.links


def check_links(folder: Path) -> LinkCheck:
    """Walk every `*.html` under `folder` (hidden folders, such as a build in progress, skipped) and check each
    link; see `LinkCheck`."""
    root = folder.resolve()
    pages = sorted(
        p for p in root.rglob("*.html") if not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    found: dict[str, list[str]] = {"broken": [], "external": [], "absolute": [], "outside": []}
    followed = 0
    for page in pages:
        for link in page_links(page):
            kind = _classify(page, link, root)
            if kind is None:
                continue
            followed += 1
            if kind != "ok":
                found[kind].append(f"{page.relative_to(root).as_posix()} -> {link}")
    result = LinkCheck(pages=len(pages), links=followed, **{k: tuple(v) for k, v in found.items()})
    logger.debug("link check of %s: %d pages, %d links", root, result.pages, result.links)
    return result


def _classify(page: Path, link: str, root: Path) -> str | None:
    """`ok`, `broken`, `external`, `absolute` or `outside`; None for a link that names no file (`#x`, `data:`)."""
    parts = urlsplit(link.strip())
    if parts.scheme == "data" or (not parts.scheme and not parts.netloc and not parts.path):
        return None
    if parts.scheme or parts.netloc:
        return "external"
    path = unquote(parts.path)
    if path.startswith("/"):
        return "absolute"
    target = (page.parent / path).resolve()
    if not target.is_file():
        return "broken"
    return "ok" if target.is_relative_to(root) else "outside"
