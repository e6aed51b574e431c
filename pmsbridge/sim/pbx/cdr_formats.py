"""cdrapi's answer in the formats the guide allows besides JSON: csv (its default) and xml.

The guide says only "consistent with the former cdrapi interface"; the emulator answers:

- csv: a header line of field names, then one line per record; a group's summary
  (``main_cdr``) comes before its legs, each a line of its own. The columns are the former
  interface's, in its order, then any further field of the records, by name.
- xml: ``<root>`` holding one ``<cdr>`` per entry, a field per element; a group's
  ``main_cdr`` and ``sub_cdr_N`` are elements holding their fields.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

FORMATS = ("csv", "xml", "json")
# The former cdrapi's CSV columns, in its order.
CSV_COLUMNS = ("AcctId", "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp",
               "lastdata", "start", "answer", "end", "duration", "billsec", "disposition", "amaflags", "uniqueid",
               "userfield", "channel_ext", "dstchannel_ext", "service", "caller_name", "recordfiles", "dstanswer",
               "chanext", "dstchanext", "session", "action_owner", "action_type", "src_trunk_name",
               "dst_trunk_name")


@dataclass(frozen=True)
class TextAnswer:
    """An answer that is not the API's JSON: the body and its content type."""

    text: str
    content_type: str


def records_of(entry: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The records of one entry: itself, or a group's summary followed by its legs in order."""
    if not isinstance(entry.get("main_cdr"), Mapping):
        return [entry]
    legs = sorted((name for name in entry if name.startswith("sub_cdr")), key=lambda name: (len(name), name))
    return [entry["main_cdr"], *(entry[name] for name in legs)]


def as_csv(entries: list[dict[str, Any]]) -> TextAnswer:
    records = [record for entry in entries for record in records_of(entry)]
    seen = {name for record in records for name in record}
    columns = [*CSV_COLUMNS, *sorted(seen - set(CSV_COLUMNS))]
    output = io.StringIO()
    writer = csv.DictWriter(output, fieldnames=columns, restval="", extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return TextAnswer(output.getvalue(), "text/csv; charset=UTF-8")


def as_xml(entries: list[dict[str, Any]]) -> TextAnswer:
    root = ElementTree.Element("root")

    def add(parent: ElementTree.Element, fields: Mapping[str, Any]) -> None:
        for name, value in fields.items():
            element = ElementTree.SubElement(parent, name)
            if isinstance(value, Mapping):
                add(element, value)
            else:
                element.text = "" if value is None else str(value)

    for entry in entries:
        add(ElementTree.SubElement(root, "cdr"), entry)
    text = ElementTree.tostring(root, encoding="unicode", xml_declaration=True)
    return TextAnswer(text, "application/xml; charset=UTF-8")
