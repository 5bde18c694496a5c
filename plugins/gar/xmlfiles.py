"""GAR XML files: the official schemas, records written as text, files split at ``max_nodes``, the validation.

A record (one ``GAREleve``, one ``GARPersonGroupe``…) is written straight as XML text,
``<men:GARPersonGroupe><men:GARStructureUAI>…</men:GARStructureUAI>…</men:GARPersonGroupe>``,
its values passed through `Leaves`: checked against the schema's own limits (the
``maxLength`` of each element's type, read from the XSD), refused when empty or when
XML cannot carry them, and escaped. Writing text costs a fraction of building lxml
elements, and a file is then nothing but its records joined between the root's tags
(`documents`): one record is one child of the root, so splitting every ``max_nodes``
children is slicing a list. Every file is then parsed and validated against the XSD
(`validate`) before it goes anywhere; the error names the element and the person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from xml.sax.saxutils import quoteattr

from lxml import etree

from hub.errors import HubError

XSD_DIR = Path(__file__).with_name("xsd")
XS = "{http://www.w3.org/2001/XMLSchema}"
# What a value cannot hold as is: the characters XML escapes, and those XML 1.0 cannot carry at all
_SPECIAL = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class InvalidRecord(HubError):
    """A record GAR would refuse: nothing is sent; the message names the file, the record and the reason."""


@dataclass(frozen=True)
class Schema:
    """One of the two official schemas: its namespace, its limits per element name, the compiled XSD."""

    degree: str  # "2D" or "1D"
    namespace: str
    limits: dict[str, int]
    xsd: etree.XMLSchema

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


def escape(value: str) -> str:
    """Text as lxml writes it: ``&``, ``<``, ``>`` and carriage returns escaped (quotes need not be in text)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


class Leaves:
    """The text elements of one schema: ``leaf("GARPersonNom", "Dupont", owner)`` is
    ``<men:GARPersonNom>Dupont</men:GARPersonNom>``, once the value is checked and escaped.
    ``owner`` ("person jnt:…") is only used to name who holds a value GAR would refuse."""

    def __init__(self, schema_: Schema):
        self.schema = schema_
        self.limits = schema_.limits
        self._codes: dict[tuple[str, str], str] = {}

    def leaf(self, name: str, value: str, owner: str) -> str:
        return f"<men:{name}>{self.text(name, value, owner)}</men:{name}>"

    def text(self, name: str, value: str, owner: str) -> str:
        """``value`` as element ``name`` may hold it: checked, escaped."""
        if not value or len(value) > self.limits.get(name, 1 << 30) or _SPECIAL.search(value):
            return self._checked(name, value, owner)
        return value

    def code(self, name: str, value: str, owner: str) -> str:
        """`leaf` for values many records repeat (UAIs, codes, profiles): checked and written once."""
        found = self._codes.get((name, value))
        if found is None:
            found = self._codes[name, value] = self.leaf(name, value, owner)
        return found

    def _checked(self, name: str, value: str, owner: str) -> str:
        limit = self.limits.get(name, 1 << 30)
        if not value:
            reason = f"{name} is empty (the schema requires it)"
        elif len(value) > limit:
            reason = f"{name} is {len(value)} characters, the schema allows {limit}: {value[:40]!r}…"
        elif _FORBIDDEN.search(value):
            reason = f"{name} holds a character XML cannot carry: {value[:40]!r}"
        else:
            return escape(value)
        raise InvalidRecord(
            f"GAR {self.schema.degree} record of {owner}: {reason}; fix the record in the source, nothing was sent"
        )


def documents(schema_: Schema, root: str, records: list[str], *, version: str, max_nodes: int) -> list[bytes]:
    """The files of one kind (root ``GAR-ENT-Eleve``…): ``records`` in order, at most ``max_nodes`` per file,
    each file a whole document; no records still make one (empty) file."""
    head = (
        f"<?xml version='1.0' encoding='UTF-8'?>\n"
        f'<men:{root} xmlns:men="{schema_.namespace}" Version={quoteattr(version)}>'
    )
    tail = f"</men:{root}>"
    parts = [records[start : start + max_nodes] for start in range(0, len(records), max_nodes)] or [[]]
    return [f"{head}{''.join(part)}{tail}".encode() for part in parts]


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
    raise InvalidRecord(
        f"{name} is not valid against {schema_.degree} GAR schema, nothing was sent: "
        f"line {error.line}{who}: {error.message}"
    )
