"""The PBX side of the bridge: the HTTPS API client, pmsapi documents and the error tree."""

from pmsbridge.pbx.client import BanRisk, PbxClient, PbxHealth
from pmsbridge.pbx.errors import (
    PbxApplyBlocked,
    PbxAuthError,
    PbxBusy,
    PbxConflict,
    PbxError,
    PbxProtocolError,
    PbxRequestRejected,
    PbxSessionError,
    PbxSystemError,
    PbxTlsError,
    PbxUnreachable,
    error_for_status,
)
from pmsbridge.pbx.names import NamePolicy
from pmsbridge.pbx.pmsapi import OPERATIONS, build_document, pms_token, pmsapi_request
from pmsbridge.pbx.tls import fetch_fingerprint

__all__ = [
    "OPERATIONS",
    "BanRisk",
    "NamePolicy",
    "PbxApplyBlocked",
    "PbxAuthError",
    "PbxBusy",
    "PbxClient",
    "PbxConflict",
    "PbxError",
    "PbxHealth",
    "PbxProtocolError",
    "PbxRequestRejected",
    "PbxSessionError",
    "PbxSystemError",
    "PbxTlsError",
    "PbxUnreachable",
    "build_document",
    "error_for_status",
    "fetch_fingerprint",
    "pms_token",
    "pmsapi_request",
]
