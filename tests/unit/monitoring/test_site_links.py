"""The link check of a report folder, on hand-built pages: links that resolve, and each way a link can fail."""

from __future__ import annotations

from pathlib import Path

from monitoring.site_links import check_links, page_links


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _site(root: Path) -> Path:
    """A small site whose every link resolves: relative links up and down, an anchor, a query, an inline image, a
    file name with a space, and an inline script whose text only looks like links."""
    reports = root / "reports"
    _write(reports / "data_quality" / "latest.html", '<a href="../index.html">back</a>')
    _write(reports / "site" / "months" / "2025-03.html", '<a href="../../index.html#replay">index</a>')
    _write(reports / "site" / "plot one.png", "png")
    _write(
        reports / "index.html",
        '<html><body><a href="site/months/2025-03.html">March</a> <a href="#top">top</a>'
        '<a href="data_quality/latest.html?x=1">dq</a> <img src="site/plot%20one.png">'
        '<img src="data:image/png;base64,AAAA"><script>var a = \'<a href="https://cdn.example/x.js">\';</script>'
        "</body></html>",
    )
    return reports


def test_a_site_whose_links_all_resolve_passes(tmp_path: Path) -> None:
    reports = _site(tmp_path)
    # when every page under the folder is walked
    result = check_links(reports)
    # then three pages and five file links were checked (anchors and data: images need no file) and none fails
    assert (result.pages, result.links) == (3, 5)
    assert result.ok and result.broken == result.external == result.absolute == result.outside == ()


def test_each_kind_of_failing_link_is_named_with_its_page(tmp_path: Path) -> None:
    reports = _site(tmp_path)
    _write(tmp_path / "elsewhere.json", "{}")
    _write(
        reports / "site" / "bad.html",
        '<a href="../data_quality/latest.html">ok</a> <a href="missing.html">gone</a>'
        '<link rel="stylesheet" href="https://cdn.example/style.css"> <a href="//cdn.example/x">proto</a>'
        '<a href="file:///etc/hosts">file</a> <img src="/abs/plot.png"> <a href="../../elsewhere.json">out</a>',
    )
    # when walked
    result = check_links(reports)
    # then each failing link is reported once, by kind, as "page -> link"
    assert not result.ok
    assert result.broken == ("site/bad.html -> missing.html",)
    assert result.external == (
        "site/bad.html -> https://cdn.example/style.css",
        "site/bad.html -> //cdn.example/x",
        "site/bad.html -> file:///etc/hosts",
    )
    assert result.absolute == ("site/bad.html -> /abs/plot.png",)
    assert result.outside == ("site/bad.html -> ../../elsewhere.json",)


def test_a_build_in_progress_is_not_walked(tmp_path: Path) -> None:
    reports = _site(tmp_path)
    _write(reports / ".site.abc.tmp" / "page.html", '<a href="nowhere.html">x</a>')
    assert check_links(reports).ok and check_links(reports).pages == 3


def test_page_links_reads_attributes_not_script_text(tmp_path: Path) -> None:
    page = _write(tmp_path / "p.html", '<a href="a.html">a</a><script>x = "<img src=b.png>"</script><img src="c.png">')
    assert page_links(page) == ["a.html", "c.png"]
