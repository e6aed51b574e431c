"""Reading pmsapi's ``data``: one operation and its fields, from XML or JSON.

XML (the default format) is ``<pms_data_request><OPERATION><field>value</field>...
</OPERATION></pms_data_request>``; JSON is ``{"OPERATION": {"field": "value", ...}}``,
given as a string or as an object. Exactly one operation per request. A document with a
DOCTYPE (and so any entity declaration) is refused, as is malformed XML: the parser never
resolves entities or touches the network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lxml import etree

from pmsbridge.sim.pbx.errors import INVALID_PARAMETERS, ApiError

ROOT_ELEMENT = "pms_data_request"
MAX_DATA_CHARS = 64 * 1024


@dataclass(frozen=True)
class PmsRequest:
    """One pmsapi operation (``checkin``, ``wakeup``...) with its fields as stripped strings."""

    operation: str
    fields: dict[str, str]
    json_format: bool


def parse_pms_data(data: Any, data_format: str) -> PmsRequest:
    """Parse ``data`` in ``data_format`` ("xml" or "json"); ApiError(-1) with a reason otherwise."""
    if data_format == "xml":
        return parse_xml(data)
    if data_format == "json":
        return parse_json(data)
    raise ApiError(INVALID_PARAMETERS, f"unsupported format {data_format!r}; use xml or json")


def parse_xml(data: Any) -> PmsRequest:
    if not isinstance(data, str) or not data.strip():
        raise ApiError(INVALID_PARAMETERS, "data must be an XML document")
    if len(data) > MAX_DATA_CHARS:
        raise ApiError(INVALID_PARAMETERS, "data is too long")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data.strip().encode("utf-8"), parser)
    except etree.XMLSyntaxError as err:
        raise ApiError(INVALID_PARAMETERS, f"malformed XML: {err}") from err
    if root.getroottree().docinfo.doctype:
        raise ApiError(INVALID_PARAMETERS, "a DOCTYPE or entity declaration is not allowed")
    if root.tag != ROOT_ELEMENT:
        raise ApiError(INVALID_PARAMETERS, f"the root element must be <{ROOT_ELEMENT}>")
    operations = elements(root)
    if len(operations) != 1:
        raise ApiError(INVALID_PARAMETERS, f"<{ROOT_ELEMENT}> must hold exactly one operation")
    operation = operations[0]
    fields: dict[str, str] = {}
    for element in elements(operation):
        if element.tag in fields:
            raise ApiError(INVALID_PARAMETERS, f"<{element.tag}> is repeated")
        fields[element.tag] = "".join(element.itertext()).strip()
    return PmsRequest(operation.tag, fields, json_format=False)


def elements(parent: Any) -> list[Any]:
    # Comments and processing instructions have a non-string tag; they carry no data.
    return [child for child in parent if isinstance(child.tag, str)]


def parse_json(data: Any) -> PmsRequest:
    if isinstance(data, str):
        if len(data) > MAX_DATA_CHARS:
            raise ApiError(INVALID_PARAMETERS, "data is too long")
        try:
            data = json.loads(data)
        except json.JSONDecodeError as err:
            raise ApiError(INVALID_PARAMETERS, f"malformed JSON: {err}") from err
    if not isinstance(data, dict) or len(data) != 1:
        raise ApiError(INVALID_PARAMETERS, "data must be an object holding exactly one operation")
    ((operation, values),) = data.items()
    if not isinstance(values, dict):
        raise ApiError(INVALID_PARAMETERS, f"{operation} must be an object of fields")
    fields: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            fields[name] = ""
        elif isinstance(value, str):
            fields[name] = value.strip()
        elif isinstance(value, int | float) and not isinstance(value, bool):
            fields[name] = str(value)
        else:
            raise ApiError(INVALID_PARAMETERS, f"{operation}.{name} must be a string or a number")
    return PmsRequest(operation, fields, json_format=True)
