"""The directory as a read-only HSDS 3.0 API, so a 211, a benefits screener or a city website can query it.

Endpoints follow the official OpenAPI document (`referrals/hsds/schema/openapi.json`): `/`, `/services`,
`/services/{id}`, `/organizations`, `/organizations/{id}`, `/service_at_locations`,
`/service_at_locations/{id}`, `/taxonomies`, `/taxonomies/{id}`, `/taxonomy_terms`, `/taxonomy_terms/{id}`,
with its paging (`page`, `per_page`; answers carry `total_items`, `total_pages`, `page_number`, `size`,
`first_page`, `last_page`, `empty`, `contents`) and filters. docs/directory.md lists what each filter does.

Why services are served exactly as loaded (extension fields such as `x_eligibility` included): another system
reading this API, or a second copy of this product, must get back the same services; the round-trip test
loads this API into an empty database and compares. Organizations, service_at_locations and taxonomy terms
have no tables of their own here: they are gathered from the services, each id once.

Read-only by construction: only GET routes exist (aiohttp answers HEAD for them, 405 for anything else).
Retired services are not served. Its own process and port (`python -m referrals directory serve`).
"""

from __future__ import annotations

import json
import logging
import math
from datetime import datetime, timezone
from typing import Any, Callable

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.engine import Engine

from referrals.config import Settings
from referrals.db import make_engine, make_sessionmaker
from referrals.models import Neighborhood, ProgramRow
from referrals.directory import EXTENSION, HERE

log = logging.getLogger("referrals.hsds_api")
OPENAPI = HERE / "hsds" / "schema" / "openapi.json"
ENGINE = web.AppKey("engine", Engine)
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 500
SERVICE_ARRAYS = {"phones", "schedules", "service_areas", "service_at_locations", "languages", "funding",
                  "cost_options", "required_documents", "contacts", "attributes", "metadata"}
ORG_ARRAYS = {"funding", "contacts", "phones", "locations", "programs", "organization_identifiers",
              "attributes", "metadata", "services"}
SAL_ARRAYS = {"contacts", "phones", "schedules", "attributes", "metadata"}


class BadRequest(web.HTTPBadRequest):
    def __init__(self, message: str):
        super().__init__(text=json.dumps({"error": message}), content_type="application/json")


def _not_found(what: str, ident: str) -> web.HTTPNotFound:
    return web.HTTPNotFound(text=json.dumps({"error": f"no {what} with id {ident[:100]!r}"}),
                            content_type="application/json")


# --- the data, gathered from the services ----------------------------------------------------------

class Snapshot:
    """The services that are not retired, and what is gathered from them, read in one query."""

    def __init__(self, engine: Engine):
        with make_sessionmaker(engine)() as session:
            rows = session.execute(select(ProgramRow.hsds, ProgramRow.eligibility)
                                   .where(ProgramRow.retired_at.is_(None)).order_by(ProgramRow.position)).all()
            self.city_zips = set(session.scalars(select(Neighborhood.zip_code)))
        self.services: list[dict[str, Any]] = [r.hsds for r in rows]
        self.zips: dict[str, list[str]] = {}
        for r in rows:
            elig = r.eligibility if r.eligibility is not None else (r.hsds.get(EXTENSION) or {})
            self.zips[r.hsds["id"]] = list(elig.get("zip_codes") or [])
        self.by_id = {s["id"]: s for s in self.services}

    def organizations(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for s in self.services:
            org = s.get("organization")
            if isinstance(org, dict) and org.get("id") and org["id"] not in out:
                out[org["id"]] = org
        return out

    def service_at_locations(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        out, seen = [], set()
        for s in self.services:
            for sal in s.get("service_at_locations") or []:
                if isinstance(sal, dict) and sal.get("id") and sal["id"] not in seen:
                    seen.add(sal["id"])
                    out.append((sal, s))
        return out

    def taxonomy_terms(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for s in self.services:
            for attr in s.get("attributes") or []:
                term = attr.get("taxonomy_term") if isinstance(attr, dict) else None
                if isinstance(term, dict) and term.get("id") and term["id"] not in out:
                    out[term["id"]] = term
        return out

    def taxonomies(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for term in self.taxonomy_terms().values():
            detail = term.get("taxonomy_detail")
            if isinstance(detail, dict) and detail.get("id") and detail["id"] not in out:
                out[detail["id"]] = detail
        return out


def _one_to_one(obj: dict[str, Any], arrays: set[str]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in arrays}


def _term_ids(service: dict[str, Any]) -> tuple[set[str], set[str]]:
    terms, taxonomies = set(), set()
    for attr in service.get("attributes") or []:
        if not isinstance(attr, dict):
            continue
        term = attr.get("taxonomy_term") if isinstance(attr.get("taxonomy_term"), dict) else {}
        for tid in (attr.get("taxonomy_term_id"), term.get("id")):
            if tid:
                terms.add(tid)
        detail = term.get("taxonomy_detail") if isinstance(term.get("taxonomy_detail"), dict) else {}
        for xid in (term.get("taxonomy_id"), detail.get("id")):
            if xid:
                taxonomies.add(xid)
    return terms, taxonomies


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


# --- query parameters ----------------------------------------------------------------------------

def _int_param(request: web.Request, name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name}: must be a whole number, not {raw[:40]!r}") from None
    if value < low or (high is not None and value > high):
        raise BadRequest(f"{name}: must be from {low} to {high}" if high else f"{name}: must be {low} or more")
    return value


def _bool_param(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "").strip().lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise BadRequest(f"{name}: must be true or false, not {raw[:40]!r}")


def _format(request: web.Request) -> None:
    fmt = request.query.get("format", "json")
    if fmt not in ("", "json"):
        raise BadRequest(f"format: only json is served, not {fmt[:40]!r}")


def _page(request: web.Request, items: list[Any]) -> web.Response:
    _format(request)
    page = _int_param(request, "page", 1, 1)
    per_page = _int_param(request, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    total = len(items)
    pages = max(1, math.ceil(total / per_page))
    contents = items[(page - 1) * per_page: page * per_page]
    return web.json_response({
        "total_items": total, "total_pages": pages, "page_number": page, "size": len(contents),
        "first_page": page == 1, "last_page": page >= pages, "empty": total == 0, "contents": contents,
    })


def _search_filter(request: web.Request, fields: Callable[[dict[str, Any]], list[Any]]):
    term = request.query.get("search", "").strip().lower()
    if not term:
        return lambda obj: True
    return lambda obj: any(isinstance(v, str) and term in v.lower() for v in fields(obj))


def _service_filter(request: web.Request, snap: Snapshot) -> Callable[[dict[str, Any]], bool]:
    search = _search_filter(request, lambda s: [s.get("name"), s.get("alternate_name"), s.get("description"),
                                                (s.get("organization") or {}).get("name")])
    term_id = request.query.get("taxonomy_term_id", "").strip()
    taxonomy_id = request.query.get("taxonomy_id", "").strip()
    org_id = request.query.get("organization_id", "").strip()
    postcode = request.query.get("postcode", "").strip()
    raw_after = request.query.get("modified_after", "").strip()
    after = _when(raw_after)
    if raw_after and after is None:
        raise BadRequest(f"modified_after: not a date or date-time (ISO 8601), {raw_after[:40]!r}")

    def keep(s: dict[str, Any]) -> bool:
        if not search(s):
            return False
        if term_id or taxonomy_id:
            terms, taxonomies = _term_ids(s)
            if term_id and term_id not in terms or taxonomy_id and taxonomy_id not in taxonomies:
                return False
        if org_id and org_id not in (s.get("organization_id"), (s.get("organization") or {}).get("id")):
            return False
        if postcode:
            zips = snap.zips.get(s["id"]) or []
            if zips and postcode[:5] not in zips:
                return False
            if not zips and snap.city_zips and postcode[:5] not in snap.city_zips:
                return False
        if after is not None:
            modified = _when(s.get("last_modified"))
            if modified is not None and modified < after:
                return False
        return True

    return keep


# --- handlers ------------------------------------------------------------------------------------

def _snapshot(request: web.Request) -> Snapshot:
    return Snapshot(request.app[ENGINE])


async def root(request: web.Request) -> web.Response:
    return web.json_response({"version": "3.0", "openapi_url": str(request.url.with_path("/openapi.json")
                                                                    .with_query(None))})


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=OPENAPI.read_bytes(), content_type="application/json")


async def services(request: web.Request) -> web.Response:
    snap = _snapshot(request)
    keep = _service_filter(request, snap)
    return _page(request, [_one_to_one(s, SERVICE_ARRAYS) for s in snap.services if keep(s)])


async def service(request: web.Request) -> web.Response:
    ident = request.match_info["id"]
    with make_sessionmaker(request.app[ENGINE])() as session:  # one row: readers call this once per service
        found = session.scalar(select(ProgramRow.hsds).where(ProgramRow.id == ident[:64],
                                                             ProgramRow.retired_at.is_(None)))
    if found is None or found.get("id") != ident:
        raise _not_found("service", ident)
    return web.json_response(found)


async def organizations(request: web.Request) -> web.Response:
    snap = _snapshot(request)
    search = _search_filter(request, lambda o: [o.get("name"), o.get("alternate_name"), o.get("description")])
    full, full_service = _bool_param(request, "full"), _bool_param(request, "full_service")
    items = []
    for org in snap.organizations().values():
        if search(org):
            item = dict(org) if full or full_service else _one_to_one(org, ORG_ARRAYS)
            if full_service:
                item["services"] = _org_services(snap, org["id"], full=True)
            items.append(item)
    return _page(request, items)


def _org_services(snap: Snapshot, org_id: str, full: bool) -> list[dict[str, Any]]:
    out = []
    for s in snap.services:
        if org_id in (s.get("organization_id"), (s.get("organization") or {}).get("id")):
            out.append(s if full else _one_to_one({k: v for k, v in s.items() if k != "organization"},
                                                  SERVICE_ARRAYS))
    return out


async def organization(request: web.Request) -> web.Response:
    ident = request.match_info["id"]
    snap = _snapshot(request)
    org = snap.organizations().get(ident)
    if org is None:
        raise _not_found("organization", ident)
    full_service = _bool_param(request, "full_service")
    return web.json_response({**org, "services": _org_services(snap, ident, full=full_service)})


def _sal_item(sal: dict[str, Any], svc: dict[str, Any], full: bool) -> dict[str, Any]:
    item = dict(sal) if full else _one_to_one(sal, SAL_ARRAYS)
    item.setdefault("service_id", svc["id"])
    loc = sal.get("location")
    if isinstance(loc, dict):
        item.setdefault("location_id", loc.get("id"))
        if not full:
            item["location"] = {k: v for k, v in loc.items() if not isinstance(v, list)}
    item["service"] = (_one_to_one(svc, SERVICE_ARRAYS) if not full else
                       {k: v for k, v in svc.items() if k != "service_at_locations"})
    return item


async def service_at_locations(request: web.Request) -> web.Response:
    snap = _snapshot(request)
    keep = _service_filter(request, snap)
    full = _bool_param(request, "full")
    return _page(request, [_sal_item(sal, svc, full) for sal, svc in snap.service_at_locations() if keep(svc)])


async def service_at_location(request: web.Request) -> web.Response:
    ident = request.match_info["id"]
    for sal, svc in _snapshot(request).service_at_locations():
        if sal["id"] == ident:
            return web.json_response(_sal_item(sal, svc, full=True))
    raise _not_found("service_at_location", ident)


async def taxonomies(request: web.Request) -> web.Response:
    search = _search_filter(request, lambda t: [t.get("name"), t.get("description")])
    return _page(request, [t for t in _snapshot(request).taxonomies().values() if search(t)])


async def taxonomy(request: web.Request) -> web.Response:
    ident = request.match_info["id"]
    found = _snapshot(request).taxonomies().get(ident)
    if found is None:
        raise _not_found("taxonomy", ident)
    return web.json_response(found)


async def taxonomy_terms(request: web.Request) -> web.Response:
    search = _search_filter(request, lambda t: [t.get("name"), t.get("code"), t.get("description")])
    taxonomy_id = request.query.get("taxonomy_id", "").strip()
    parent_id = request.query.get("parent_id", "").strip()
    top_only = _bool_param(request, "top_only")
    items = []
    for t in _snapshot(request).taxonomy_terms().values():
        detail = t.get("taxonomy_detail") if isinstance(t.get("taxonomy_detail"), dict) else {}
        if not search(t) or (top_only and t.get("parent_id")):
            continue
        if taxonomy_id and taxonomy_id not in (t.get("taxonomy_id"), detail.get("id")):
            continue
        if parent_id and t.get("parent_id") != parent_id:
            continue
        items.append(t)
    return _page(request, items)


async def taxonomy_term(request: web.Request) -> web.Response:
    ident = request.match_info["id"]
    found = _snapshot(request).taxonomy_terms().get(ident)
    if found is None:
        raise _not_found("taxonomy_term", ident)
    return web.json_response(found)


@web.middleware
async def headers(request: web.Request, handler):
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json":
            response = exc
        else:
            response = web.json_response({"error": exc.reason}, status=exc.status,
                                         headers={k: v for k, v in exc.headers.items() if k.lower() == "allow"})
    except Exception:  # never a stack trace to the caller; the log says where
        log.exception("HSDS API error on %s", request.path)
        response = web.json_response({"error": "internal error"}, status=500)
    response.headers["Access-Control-Allow-Origin"] = "*"  # public directory data, GET only
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response


def make_app(engine: Engine) -> web.Application:
    """The read-only HSDS 3.0 API over the directory in `engine`'s database."""
    app = web.Application(middlewares=[headers])
    app[ENGINE] = engine
    for path, handler in (("/", root), ("/openapi.json", openapi), ("/services", services),
                          ("/services/{id}", service), ("/organizations", organizations),
                          ("/organizations/{id}", organization), ("/service_at_locations", service_at_locations),
                          ("/service_at_locations/{id}", service_at_location), ("/taxonomies", taxonomies),
                          ("/taxonomies/{id}", taxonomy), ("/taxonomy_terms", taxonomy_terms),
                          ("/taxonomy_terms/{id}", taxonomy_term)):
        app.router.add_get(path, handler)
    return app


def run(settings: Settings, port: int | None = None) -> int:
    """`python -m referrals directory serve`: the API on HSDS_API_HOST:HSDS_API_PORT until stopped."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    engine = make_engine(settings.database_url)
    host, port = settings["HSDS_API_HOST"], port or int(settings["HSDS_API_PORT"])
    web.run_app(make_app(engine), host=host, port=port, access_log=None,
                print=lambda _: print(f"HSDS 3.0 API on http://{host}:{port}/ (read-only)", flush=True))
    engine.dispose()
    return 0
