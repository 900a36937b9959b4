"""Open311 GeoReport v2, as FixMyStreet speaks it to councils: a complaint becomes a service
request (POST requests.json), and status changes come back from GET requests.json (`open`,
`closed`) or FixMyStreet's servicerequestupdates.json (extended states such as
IN_PROGRESS or NOT_COUNCILS_RESPONSIBILITY). Pure: the app makes the calls.

A reporter's name, email and phone go only with a complaint whose privacy allows the agency
to know them; an anonymous complaint's topic carries no reporter to begin with, and nothing
here adds one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from schemas import AgencyComplaint, AgencyStatus, Privacy
from schemas.bridge import Open311Request
from services.bridge.config import Open311Agency
from services.domain.ids import deterministic_id

DESCRIPTION_MAX = 4000  # GeoReport v2's description limit
NOTE_MAX = 5000  # the contract's status note limit


class Open311Error(ValueError):
    """A server's answer that is not GeoReport v2."""


def query_params(agency: Open311Agency, api_key: str, **more: str) -> dict[str, str]:
    """A GET's query: the api_key, the agency's jurisdiction_id if it has one, and `more`."""
    params = {"api_key": api_key, **more}
    if agency.jurisdiction_id:
        params["jurisdiction_id"] = agency.jurisdiction_id
    return params


def marker(complaint_id: str) -> str:
    """How a service request's description starts: the LAPOR! id, found again by a lookup."""
    return f"[LAPOR! {complaint_id}] "


def find_filed(data: object, complaint_id: str) -> str | None:
    """Among GET requests.json's answer (the agency's recent requests), the id of the one
    filed for `complaint_id` (its description starts with the marker), if any."""
    if not isinstance(data, list):
        raise Open311Error("requests.json did not answer a list")
    head = marker(complaint_id)
    for item in data:
        if isinstance(item, dict) and str(item.get("description") or "").startswith(head):
            found = item.get("service_request_id")
            if found not in (None, ""):
                return str(found)
    return None


def service_request_form(complaint: AgencyComplaint, agency: Open311Agency,
                         api_key: str) -> list[tuple[str, str]]:
    """The form fields of POST requests.json for one complaint."""
    head = marker(complaint.complaint_id)
    text = f"{complaint.title}\n\n{complaint.body}" if complaint.title else complaint.body
    form = [("api_key", api_key), ("service_code", agency.service_code(complaint.category)),
            ("description", (head + text)[:DESCRIPTION_MAX])]
    if agency.jurisdiction_id:
        form.append(("jurisdiction_id", agency.jurisdiction_id))
    place = complaint.location
    if place is not None and place.lat is not None and place.lon is not None:
        form += [("lat", repr(place.lat)), ("long", repr(place.lon))]
    address = (place.address if place else None) or agency.default_address
    if address:
        form.append(("address_string", address))
    if complaint.attachments:
        form.append(("media_url", complaint.attachments[0].url))
    reporter = complaint.reporter
    if reporter is not None and complaint.privacy is not Privacy.anonymous:
        if reporter.email:
            form.append(("email", reporter.email))
        if reporter.phone:
            form.append(("phone", reporter.phone))
        if reporter.name:
            first, _, last = reporter.name.partition(" ")
            form += [("first_name", first), ("last_name", last or first)]
    return form


@dataclass(frozen=True)
class Filed:
    service_request_id: str | None
    token: str | None


def parse_filed(data: object) -> Filed:
    """POST requests.json's answer: a service_request_id, or a token to resolve later."""
    first = data[0] if isinstance(data, list) and data else None
    if not isinstance(first, dict):
        raise Open311Error("answer is not a list of service requests")
    request_id, token = first.get("service_request_id"), first.get("token")
    if request_id in (None, "") and token in (None, ""):
        raise Open311Error("answer has neither service_request_id nor token")
    return Filed(str(request_id) if request_id not in (None, "") else None,
                 str(token) if token not in (None, "") else None)


def parse_token(data: object) -> str | None:
    """GET tokens/<token>.json: the service_request_id once the server has made it."""
    first = data[0] if isinstance(data, list) and data else None
    if not isinstance(first, dict):
        raise Open311Error("token answer is not a list")
    value = first.get("service_request_id")
    return str(value) if value not in (None, "") else None


@dataclass(frozen=True)
class ServerUpdate:
    service_request_id: str
    status: str
    notes: str | None
    updated: str  # updated_datetime as the server wrote it
    key: str  # what identifies this update (update_id, else the time and status)


def parse_requests(data: object) -> list[ServerUpdate]:
    """GET requests.json: each request's current status."""
    if not isinstance(data, list):
        raise Open311Error("requests answer is not a list")
    out = []
    for item in data:
        if not isinstance(item, dict) or "service_request_id" not in item or "status" not in item:
            raise Open311Error("a request lacks service_request_id or status")
        updated = str(item.get("updated_datetime") or item.get("requested_datetime") or "")
        out.append(ServerUpdate(str(item["service_request_id"]), str(item["status"]),
                                item.get("status_notes"), updated, f"{updated}|{item['status']}"))
    return out


def parse_updates(data: object) -> list[ServerUpdate]:
    """GET servicerequestupdates.json (FixMyStreet's extension): updates in time order."""
    items = data.get("service_request_updates") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise Open311Error("updates answer has no service_request_updates list")
    out = []
    for item in items:
        if not isinstance(item, dict) or not {"update_id", "service_request_id", "status"} <= set(item):
            raise Open311Error("an update lacks update_id, service_request_id or status")
        out.append(ServerUpdate(str(item["service_request_id"]), str(item["status"]),
                                item.get("description"), str(item.get("updated_datetime") or ""),
                                str(item["update_id"])))
    return sorted(out, key=lambda u: u.updated)


def _time(text: str, fallback: datetime | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return fallback
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Applied:
    state: Open311Request  # the request with this update recorded
    status: AgencyStatus | None  # what it means in the contract, if anything


def apply_update(agency: Open311Agency, state: Open311Request, update: ServerUpdate,
                 now: datetime) -> Applied | None:
    """An update's effect, or None when it was applied already (a poll sees it again). The
    status id is deterministic, so an update applied twice around a crash is one status."""
    at = _time(update.updated, None)
    if update.key == state.last_update or (
            at is not None and state.last_update_at is not None and at < state.last_update_at):
        return None  # applied already, or older than what was (updates come again each poll)
    if update.status == state.last_status:
        status = None  # the same state seen again under a new time: nothing changed
    else:
        meaning = agency.contract_status(update.status)
        status = None if meaning is None else AgencyStatus(
            event_id=deterministic_id("bridge-status", state.agency_id, state.complaint_id,
                                      update.service_request_id, update.key),
            complaint_id=state.complaint_id, status=meaning, agency_id=state.agency_id,
            at=at or now,
            note=(update.notes or None) and str(update.notes)[:NOTE_MAX])
    kept = state.model_copy(update={"last_update": update.key, "last_status": update.status,
                                    "last_update_at": at or state.last_update_at})
    return Applied(kept, status)


def state_key(agency_id: str, complaint_id: str) -> str:
    return f"{agency_id}|{complaint_id}"
