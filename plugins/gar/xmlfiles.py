"""GAR XML files: the official schemas, a streaming writer that splits at ``max_nodes``, and the validation.

Each root element (``GAR-ENT-Eleve``…) is a sequence of lists; the writer receives
records section by section in the schema's order and starts a new numbered file
every ``max_nodes`` children, each file a complete document of its own. Records
are streamed with lxml ``xmlfile`` one at a time into an in-memory file (at most one
establishment's, never the académie's), which is validated before it is written
anywhere. A record is a list of ``(name, text)`` leaves and ``(name, ((sub, text), …))``
complex children, filled into an element reused for every record of the same shape
(building elements costs more than writing them).

Before a value is written it is checked against the schema's own limits (the
``maxLength`` of its type, read from the XSD) and for emptiness, so a bad record
stops the export with its owner named. After writing, every file is validated
against the XSD (`validate`); the error names the element and the record's person.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from lxml import etree

from hub.errors import HubError

XSD_DIR = Path(__file__).with_name("xsd")
XS = "{http://www.w3.org/2001/XMLSchema}"
Leaf = tuple[str, str]
Item = tuple[str, "str | tuple[Leaf, ...]"]


class InvalidRecord(HubError):
    """A record GAR would refuse: nothing is sent; the message names the file, the record and the reason."""


@dataclass(frozen=True)
class Schema:
    """One of the two official schemas: its namespace, its limits per element name, the compiled XSD."""

    degree: str  # "2D" or "1D"
    namespace: str
    limits: dict[str, int]
    xsd: etree.XMLSchema
    templates: dict[tuple, tuple] = field(default_factory=dict)  # record shape -> element reused to write it

    def tag(self, name: str) -> str:
        return f"{{{self.namespace}}}{name}"


@cache
def schema(degree: str) -> Schema:
    path = XSD_DIR / ("GAR-ENT.xsd" if degree == "2D" else "GAR-ENT-1D.xsd")
    tree = etree.parse(str(path))
    lengths = {}
    for simple in tree.iter(f"{XS}simpleType"):
        facet = simple.find(f"{XS}restriction/{XS}maxLength")
        if facet is not None and simple.get("name"):
            lengths[simple.get("name")] = int(facet.get("value"))
    limits = {}
    for element in tree.iter(f"{XS}element"):
        kind = (element.get("type") or "").rpartition(":")[2]
        if element.get("name") and kind in lengths:
            limits[element.get("name")] = lengths[kind]
    return Schema(degree, tree.getroot().get("targetNamespace"), limits, etree.XMLSchema(tree))


class SplitWriter:
    """One kind of file (Eleve, Groupe…) of one establishment, as parts ``name(1)``, ``name(2)``… of at most
    ``max_nodes`` children each, kept in memory (one establishment's worth) until the caller validates them."""

    def __init__(self, schema_: Schema, root: str, name: Callable[[int], str], *, version: str, max_nodes: int):
        self.schema, self.root, self.name = schema_, root, name
        self.version, self.max_nodes = version, max_nodes
        self.parts: list[tuple[str, bytes]] = []  # (file name, content) of the parts completed
        self.counts: dict[str, int] = {}
        self._stack: ExitStack | None = None
        self._buffer: io.BytesIO | None = None
        self._xf = None
        self._children = 0

    def add(self, section: str, items: list[Item], owner: str) -> None:
        """Write one record; ``owner`` says whose it is ("person jnt:…") for the error a bad value raises."""
        if self._xf is None or self._children >= self.max_nodes:
            self._open()
        shape = (section, *[n if v.__class__ is str else (n, *[s for s, _ in v]) for n, v in items])
        element, leaves, limits = self.schema.templates.get(shape) or self._template(shape)
        texts = [t for _, v in items for t in ((v,) if v.__class__ is str else [t for _, t in v])]
        for leaf, limit, text in zip(leaves, limits, texts, strict=True):
            if not text or len(text) > limit:
                self._refuse(section, leaf, text, limit, owner)
            leaf.text = text
        self._xf.write(element)
        self._children += 1
        self.counts[section] = self.counts.get(section, 0) + 1

    def close(self) -> list[tuple[str, bytes]]:
        if self._xf is None and not self.parts:  # nothing of this kind: still one (empty) file
            self._open()
        self._finish()
        return self.parts

    def _open(self) -> None:
        self._finish()
        self._stack, self._buffer = ExitStack(), io.BytesIO()
        self._xf = self._stack.enter_context(etree.xmlfile(self._buffer, encoding="UTF-8"))
        self._xf.write_declaration()
        self._stack.enter_context(self._xf.element(self.schema.tag(self.root), {"Version": self.version},
                                                   nsmap={"men": self.schema.namespace}))
        self._children = 0

    def _finish(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self.parts.append((self.name(len(self.parts) + 1), self._buffer.getvalue()))
            self._stack = self._buffer = self._xf = None

    def _template(self, shape: tuple) -> tuple:
        tag, unlimited = self.schema.tag, 1 << 30
        element = etree.Element(tag(shape[0]), nsmap={"men": self.schema.namespace})
        leaves, limits = [], []
        for child in shape[1:]:
            if isinstance(child, str):
                leaves.append(etree.SubElement(element, tag(child)))
                limits.append(self.schema.limits.get(child, unlimited))
            else:
                parent = etree.SubElement(element, tag(child[0]))
                for sub in child[1:]:
                    leaves.append(etree.SubElement(parent, tag(sub)))
                    limits.append(self.schema.limits.get(sub, unlimited))
        self.schema.templates[shape] = element, leaves, limits
        return element, leaves, limits

    def _refuse(self, section: str, leaf, text: str, limit: int, owner: str) -> None:
        name = etree.QName(leaf).localname
        reason = (f"{name} is empty (the schema requires it)" if not text
                  else f"{name} is {len(text)} characters, the schema allows {limit}: {text[:40]!r}…")
        raise InvalidRecord(f"GAR {self.root} file of {self.schema.degree}: {section} of {owner}: {reason}; "
                            "fix the record in the source, nothing was sent")


def validate(name: str, content: bytes, schema_: Schema, owners: dict[str, str]) -> None:
    """Raise InvalidRecord unless file ``name`` is valid against the XSD; the error names the element and,
    through ``owners`` (GARPersonIdentifiant -> hub person key), the person."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    tree = etree.ElementTree(etree.fromstring(content, parser))
    if schema_.xsd.validate(tree):
        return
    error = schema_.xsd.error_log.filter_from_errors()[0]
    who = ""
    if error.path:
        found = tree.xpath(error.path, namespaces={"men": schema_.namespace})
        node = found[0] if found and isinstance(found, list) else None
        while node is not None and node.getparent() is not None and node.getparent().getparent() is not None:
            node = node.getparent()  # up to the record, a child of the root
        ident = node.findtext(schema_.tag("GARPersonIdentifiant")) if node is not None else None
        who = f" (record of {owners.get(ident, ident)})" if ident else ""
    raise InvalidRecord(f"{name} is not valid against {schema_.degree} GAR schema, nothing was sent: "
                        f"line {error.line}{who}: {error.message}")
