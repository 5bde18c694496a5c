"""Read and edit AAF files in tests, as an académie's feed would change (test files are small)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lxml import etree

from plugins.aaf.hookimpl import Settings, hub_read_directory

PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _files(aaf_dir: Path, category: str) -> list[Path]:
    return sorted(aaf_dir.glob(f"*_{category}_*.xml"))


def _attrs(request) -> dict[str, list[str]]:
    return {a.get("name"): [v.text or "" for v in a.findall("value")] for a in request.iter("attr")}


def records(aaf_dir: Path, category: str) -> list[tuple[str, dict[str, list[str]]]]:
    """(id, attributes) of every addRequest of a category."""
    found = []
    for path in _files(aaf_dir, category):
        for request in etree.parse(str(path), PARSER).getroot().iter("addRequest"):
            found.append((request.findtext("identifier/id"), _attrs(request)))
    return found


def rewrite(aaf_dir: Path, category: str, change: Callable[[str, dict, etree._Element], bool | None]) -> int:
    """Call ``change(id, attrs, request)`` on each record; a True answer removes the record."""
    removed = 0
    for path in _files(aaf_dir, category):
        tree = etree.parse(str(path), PARSER)
        for request in list(tree.getroot().iter("addRequest")):
            if change(request.findtext("identifier/id"), _attrs(request), request) is True:
                request.getparent().remove(request)
                removed += 1
        tree.write(str(path), encoding=tree.docinfo.encoding, xml_declaration=True, doctype=tree.docinfo.doctype)
    return removed


def set_attr(request, name: str, *values: str) -> None:
    """Replace (or add) one attribute of a request."""
    attributes = request.find("attributes")
    for attr in attributes.findall("attr"):
        if attr.get("name") == name:
            attributes.remove(attr)
    attr = etree.SubElement(attributes, "attr", name=name)
    for value in values:
        etree.SubElement(attr, "value").text = value


def drop(aaf_dir: Path, category: str, ids: set[str]) -> int:
    return rewrite(aaf_dir, category, lambda id_, attrs, request: id_ in ids)


def read(path: Path, since: str | None = None, **settings):
    """Call the source hook as the core does; return the feed with its items listed."""
    feed = hub_read_directory(settings=Settings(path=path, school_year=2026, **settings), since=since, uai=None)
    feed.items = list(feed.items)
    return feed
