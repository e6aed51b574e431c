"""The hotel's words for what the protocols call by code: PBX operations, delivery states,
event kinds, drift kinds, audit actions, PMS link states and counters, guests' languages,
and why a wake-up is at risk.

Each label is translated when a page is drawn (``lazy_gettext``); a code without a label is
shown as it is, so a new operation or counter is never hidden.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from babel import Locale, UnknownLocaleError
from flask import Flask
from flask_babel import get_locale, gettext, lazy_gettext, ngettext

from pmsbridge.wakeup_risk import WakeupAtRisk

# pmsapi operations (rooms.PbxOperation.operation).
OPERATIONS = {
    "checkin": lazy_gettext("check-in"),
    "update": lazy_gettext("guest details"),
    "mov": lazy_gettext("room move"),
    "checkout": lazy_gettext("checkout"),
    "wakeup": lazy_gettext("wake-up"),
    "dnd": lazy_gettext("do-not-disturb"),
    "cfu": lazy_gettext("call forward"),
}

DELIVERY_STATES = {
    "pending": lazy_gettext("waiting"),
    "in_flight": lazy_gettext("sending"),
    "retrying": lazy_gettext("trying again"),
    "delivered": lazy_gettext("delivered"),
    "dead": lazy_gettext("dead"),
    "skipped": lazy_gettext("not sent: the room is sent whole again"),
    "dismissed": lazy_gettext("dismissed"),
}

EVENT_STATUSES = {
    "applied": lazy_gettext("applied"),
    "duplicate": lazy_gettext("repeat"),
    "needs_attention": lazy_gettext("needs attention"),
    "rejected": lazy_gettext("refused"),
    "held": lazy_gettext("held back"),
}

EVENT_KINDS = {
    "check_in": lazy_gettext("check-in"),
    "check_out": lazy_gettext("checkout"),
    "guest_change": lazy_gettext("guest details"),
    "room_move": lazy_gettext("room move"),
    "wakeup_set": lazy_gettext("wake-up set"),
    "wakeup_clear": lazy_gettext("wake-up cancelled"),
    "dnd_set": lazy_gettext("do-not-disturb"),
    "cos_set": lazy_gettext("class of service"),
    "call_forward_set": lazy_gettext("call forward"),
    "call_forward_clear": lazy_gettext("call forward ended"),
    "message_waiting": lazy_gettext("message light"),
    "resync_start": lazy_gettext("database swap begins"),
    "resync_record": lazy_gettext("database swap guest"),
    "resync_end": lazy_gettext("database swap ends"),
}

POSTING_STATES = {
    "queued": lazy_gettext("queued"),
    "sent": lazy_gettext("sent, no answer yet"),
    "posted": lazy_gettext("posted"),
    "refused": lazy_gettext("refused"),
    "unknown": lazy_gettext("unknown"),
    "failed": lazy_gettext("failed"),
    "settled": lazy_gettext("settled by hand"),
}

# reconcile.models.DriftKind: what differs between the rooms here and the PBX.
DRIFT_KINDS = {
    "name": lazy_gettext("guest name"),
    "not_checked_in": lazy_gettext("checked in here, vacant on the PBX"),
    "not_checked_out": lazy_gettext("vacant here, checked in on the PBX"),
    "dnd": lazy_gettext("do-not-disturb"),
    "call_forward": lazy_gettext("call forward"),
    "extension": lazy_gettext("extension missing or out of service"),
}

DRIFT_STATES = {
    "open": lazy_gettext("open"),
    "repairing": lazy_gettext("repair on its way"),
    "repair_failed": lazy_gettext("repair failed"),
    "resolved": lazy_gettext("resolved"),
}

# The ledger page's history views.
LEDGER_VIEWS = {
    "deliveries": lazy_gettext("deliveries"),
    "events": lazy_gettext("events"),
    "audit": lazy_gettext("audit log"),
}

# The audit log's actions (``Ledger.audit``); a front-desk or minibar action is shown as written.
AUDIT_ACTIONS = {
    "login": lazy_gettext("logged in"),
    "logout": lazy_gettext("logged out"),
    "login failed": lazy_gettext("login failed"),
    "login throttled": lazy_gettext("logins slowed down"),
    "user added": lazy_gettext("account added"),
    "user enabled": lazy_gettext("account enabled"),
    "user disabled": lazy_gettext("account disabled"),
    "password set": lazy_gettext("password set"),
    "replay": lazy_gettext("delivery replayed"),
    "dismiss": lazy_gettext("dead delivery dismissed"),
    "resend": lazy_gettext("room sent again"),
    "remove room": lazy_gettext("room removed (not one of the hotel's)"),
    "corrected guest data": lazy_gettext("guest details corrected"),
    "reconcile after dismiss": lazy_gettext("compared with the PBX after a dismissal"),
    "drift repair": lazy_gettext("difference repaired"),
    "repair": lazy_gettext("repair queued"),
    "reconcile": lazy_gettext("checked and repaired"),
    "reconcile look": lazy_gettext("checked (look only)"),
    "resync requested": lazy_gettext("database swap requested"),
    "resync applied": lazy_gettext("database swap recorded"),
    "resync held": lazy_gettext("database swap held back"),
    "resync interrupted": lazy_gettext("database swap interrupted"),
    "resync confirmed": lazy_gettext("held database swap confirmed"),
    "resync discarded": lazy_gettext("held database swap discarded"),
    "snapshot held": lazy_gettext("PMS snapshot held back"),
    "webhook refused": lazy_gettext("webhook refused"),
    "pbx updateUser": lazy_gettext("phone user changed"),
}

LINK_STATES = {
    "down": lazy_gettext("down"),
    "connecting": lazy_gettext("connecting"),
    "up": lazy_gettext("up"),
    "swapping": lazy_gettext("receiving a database swap"),
    "failed": lazy_gettext("failed"),
}

# Unresolved drifts of one kind, as a sentence (the status page).
_DRIFT_COUNTS: dict[str, Callable[[int], str]] = {
    "name": lambda n: ngettext("%(num)d room shows another guest name on the phone.",
                               "%(num)d rooms show another guest name on the phone.", n),
    "not_checked_in": lambda n: ngettext("%(num)d room is checked in here but vacant on the PBX.",
                                         "%(num)d rooms are checked in here but vacant on the PBX.", n),
    "not_checked_out": lambda n: ngettext("%(num)d room is vacant here but checked in on the PBX.",
                                          "%(num)d rooms are vacant here but checked in on the PBX.", n),
    "dnd": lambda n: ngettext("%(num)d room has another do-not-disturb setting on the PBX.",
                              "%(num)d rooms have another do-not-disturb setting on the PBX.", n),
    "call_forward": lambda n: ngettext("%(num)d room has another call forward on the PBX.",
                                       "%(num)d rooms have another call forward on the PBX.", n),
    "extension": lambda n: ngettext("%(num)d room's extension is missing or out of service on the PBX.",
                                    "%(num)d rooms' extensions are missing or out of service on the PBX.", n),
}

# PMS adapters' counters (adapters.base.AdapterStatus.counters), as sentences.
_COUNTERS: dict[str, Callable[[int], str]] = {
    "link_ups": lambda n: ngettext("The link came up once.", "The link came up %(num)d times.", n),
    "link_downs": lambda n: ngettext("The link went down once.", "The link went down %(num)d times.", n),
    "faults": lambda n: ngettext("%(num)d garbled message arrived.", "%(num)d garbled messages arrived.", n),
    "faults_not_kept": lambda n: ngettext("%(num)d garbled message was not kept (too many at once).",
                                          "%(num)d garbled messages were not kept (too many at once).", n),
    "records": lambda n: ngettext("%(num)d record received.", "%(num)d records received.", n),
    "events": lambda n: ngettext("%(num)d guest event recorded.", "%(num)d guest events recorded.", n),
    "recorded": lambda n: ngettext("%(num)d guest event recorded.", "%(num)d guest events recorded.", n),
    "received": lambda n: ngettext("%(num)d request received.", "%(num)d requests received.", n),
    "rejected": lambda n: ngettext("%(num)d message refused (kept in the ledger).",
                                   "%(num)d messages refused (kept in the ledger).", n),
    "refused": lambda n: ngettext("%(num)d request refused at the door.", "%(num)d requests refused at the door.",
                                  n),
    "too_large": lambda n: ngettext("%(num)d request was too large.", "%(num)d requests were too large.", n),
    "ignored": lambda n: ngettext("%(num)d message needed nothing.", "%(num)d messages needed nothing.", n),
    "duplicate": lambda n: ngettext("%(num)d repeat ignored.", "%(num)d repeats ignored.", n),
    "needs_fetch": lambda n: ngettext("%(num)d notice to fetch the details.", "%(num)d notices to fetch the details.",
                                      n),
    "held": lambda n: ngettext("%(num)d file held back.", "%(num)d files held back.", n),
    "rejected_files": lambda n: ngettext("%(num)d file refused.", "%(num)d files refused.", n),
}

# What FIAS records the bridge sends are for ("sent_DR": DR records sent).
FIAS_RECORDS_SENT = {
    "RE": lazy_gettext("room status"),
    "WR": lazy_gettext("wake-up set"),
    "WC": lazy_gettext("wake-up cancelled"),
    "WA": lazy_gettext("wake-up result"),
    "PS": lazy_gettext("call charge"),
    "DR": lazy_gettext("database swap request"),
    "LS": lazy_gettext("link start"),
    "LD": lazy_gettext("link description"),
    "LR": lazy_gettext("link record list"),
    "LA": lazy_gettext("link alive"),
    "LE": lazy_gettext("link end"),
}

# Guest languages as PMSs send them (FIAS GL, OPERA) that are not ISO 639-1 codes, or mean
# another language there (CH is Chinese to a PMS, Chamorro to ISO).
PMS_LANGUAGES = {
    "EA": "en", "GE": "de", "SP": "es", "DU": "nl", "PO": "pt", "CH": "zh", "SE": "sv", "SW": "sv",
    "DK": "da", "GR": "el", "TU": "tr", "CZ": "cs", "JP": "ja",
}


def label(labels: Mapping[str, object], code: object) -> str:
    """The label of ``code`` in ``labels``, or the code itself when it has none."""
    value = getattr(code, "value", code)
    return str(labels.get(value, value)) if value is not None else ""


def language_name(code: str | None) -> str:
    """A guest's language by name, in the reader's language ("GE", "de", "de-DE" -> German);
    a code no table knows is shown as it came."""
    if not code:
        return ""
    tag = PMS_LANGUAGES.get(code.upper(), code).replace("-", "_")
    try:
        language = Locale.parse(tag).language
    except (ValueError, UnknownLocaleError):
        return code
    name = get_locale().languages.get(language)
    return name[:1].upper() + name[1:] if name else code


def wakeup_risk_reason(risk: WakeupAtRisk) -> str:
    """Why a wake-up is at risk, in the reader's language (``WakeupAtRisk.reason`` is the English)."""
    if risk.vacant_on_pbx:
        return gettext("not confirmed by the phone system (it has the room vacant)")
    return gettext("not confirmed by the phone system")


def drift_count_sentence(kind: object, count: int) -> str:
    value = getattr(kind, "value", kind)
    sentence = _DRIFT_COUNTS.get(value)
    return sentence(count) if sentence else f"{label(DRIFT_KINDS, value)}: {count}"


def counter_sentence(name: str, count: int) -> str:
    """An adapter counter as a sentence ("sent_DR" 2 -> "2 DR records sent to the PMS (database swap request).")."""
    if name.startswith("sent_"):
        record = name.removeprefix("sent_")
        what = FIAS_RECORDS_SENT.get(record)
        if what is not None:
            return ngettext("%(num)d %(record)s record sent to the PMS (%(what)s).",
                            "%(num)d %(record)s records sent to the PMS (%(what)s).", count, record=record,
                            what=what)
        return gettext("%(record)s records sent to the PMS: %(num)d.", record=record, num=count)
    sentence = _COUNTERS.get(name)
    return sentence(count) if sentence else f"{name.replace('_', ' ')}: {count}"


def install_labels(app: Flask) -> None:
    filters = app.jinja_env.filters
    filters["operation"] = lambda code: label(OPERATIONS, code)
    filters["delivery_state"] = lambda code: label(DELIVERY_STATES, code)
    filters["event_status"] = lambda code: label(EVENT_STATUSES, code)
    filters["event_kind"] = lambda code: label(EVENT_KINDS, code)
    filters["drift_kind"] = lambda code: label(DRIFT_KINDS, code)
    filters["drift_state"] = lambda code: label(DRIFT_STATES, code)
    filters["posting_state"] = lambda code: label(POSTING_STATES, code)
    filters["link_state"] = lambda code: label(LINK_STATES, code)
    filters["audit_action"] = lambda code: label(AUDIT_ACTIONS, code)
    filters["wakeup_risk_reason"] = wakeup_risk_reason
    filters["language_name"] = language_name
    filters["counter_sentence"] = counter_sentence
    filters["drift_count_sentence"] = drift_count_sentence
