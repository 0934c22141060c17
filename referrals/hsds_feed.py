"""Read an HSDS 3.0 feed in whatever standard shape it comes, and hand back fully nested services.

Shapes (`read_feed`): our directory file (`{"services": [...]}`), one service, one organization with its
services, one service_at_location, a JSON array of any of those, one page or a series of pages of the HSDS
API (`total_items`, `contents`, ... as `GET /services` or `GET /organizations?full_service=true` answer), a
live HSDS API base URL (paged, each page with a timeout), and the tabular form HSDS defines (a folder or zip
of CSV files such as `services.csv`, or the same tables as one JSON object of `"services.csv": [rows]`).

Why everything becomes a list of nested services: validation, the need mapping and matching all work on one
nested service at a time, and a nested service is what `GET /services/{id}` serves back. A document that
holds no services (a taxonomy, a location, the API's root document) is refused with a message saying what it
is, so a city's IT person knows which file or URL to give instead.

Nothing here touches the database; `directory.read_directory` validates what this returns, all or nothing.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

HERE = Path(__file__).resolve().parent
TABLE_SCHEMAS = HERE / "hsds" / "schema"
MAX_BYTES = 20 * 1024 * 1024
DETAIL_CONCURRENCY = 4  # GET /services/{id} requests in flight at once: quick, and gentle on a 211's server
PAGE_KEYS = {"total_items", "total_pages", "page_number", "size", "first_page", "last_page", "empty"}
ORG_KEYS = {"website", "tax_status", "tax_id", "year_incorporated", "legal_status", "logo",
            "parent_organization_id", "organization_identifiers", "programs", "locations"}
TAXONOMY_KEYS = {"id", "name", "description", "uri", "version", "metadata"}
NESTED_KEYS = {"phones", "schedules", "service_areas", "service_at_locations", "languages", "funding",
               "cost_options", "required_documents", "contacts", "attributes"}
# Tabular file name -> table schema name (HSDS names its CSV files in the plural, mostly).
TABLES = {
    "organizations": "organization", "programs": "program", "services": "service", "attributes": "attribute",
    "service_at_location": "service_at_location", "service_at_locations": "service_at_location",
    "locations": "location", "phones": "phone", "contacts": "contact", "addresses": "address",
    "schedules": "schedule", "funding": "funding", "service_areas": "service_area",
    "required_documents": "required_document", "languages": "language", "accessibility": "accessibility",
    "taxonomy_terms": "taxonomy_term", "metadata": "metadata", "meta_table_descriptions": "meta_table_description",
    "cost_options": "cost_option", "organization_identifiers": "organization_identifier",
    "taxonomies": "taxonomy",
}

WHAT = {
    "api_root": "the root document of an HSDS API (GET /: version, profile, openapi_url), not a directory; "
                "give the API's base URL instead and its /services pages are read",
    "taxonomy": "one HSDS taxonomy (as GET /taxonomies/{id} answers): it names a classification and holds no "
                "services",
    "taxonomy_term": "one HSDS taxonomy term (as GET /taxonomy_terms/{id} answers): it holds no services",
    "location": "one HSDS location (as a location record): it holds no services",
}


def _error(problems: list[str]) -> Exception:
    from referrals.directory import DirectoryError

    return DirectoryError(problems)


@dataclass
class Feed:
    """Fully nested services read from a source, each with a label naming where it came from."""

    kind: str
    services: list[tuple[str, Any]] = field(default_factory=list)
    partial: bool = False
    notes: list[str] = field(default_factory=list)
    pages: int = 0
    # Records that are not services (a string, a taxonomy term in a services page): reported together with
    # the services' own problems, so one run lists everything to fix.
    problems: list[str] = field(default_factory=list)


def kind_of(obj: Any) -> str:
    """What an HSDS JSON object is, from its keys (HSDS documents carry no type tag)."""
    if isinstance(obj, list):
        return "array"
    if not isinstance(obj, dict):
        return "unknown"
    keys = set(obj)
    if isinstance(obj.get("contents"), list) and keys & PAGE_KEYS:
        return "page"
    if obj and all(isinstance(k, str) and k.endswith(".csv") for k in keys):
        return "tabular"
    if "services" in keys and "id" not in keys:
        return "directory"
    if "openapi_url" in keys or {"version", "profile"} <= keys:
        return "api_root"
    if keys <= TAXONOMY_KEYS and keys & {"uri", "version"} and "services" not in keys:
        return "taxonomy"
    if "services" in keys or keys & ORG_KEYS:
        return "organization"
    if isinstance(obj.get("service"), dict):
        return "service_at_location"
    if "status" in keys:
        return "service"
    if not keys & {"id", "name"}:
        return "unknown"
    if keys & {"location_type", "addresses", "latitude", "longitude", "transportation"}:
        return "location"
    if keys & {"code", "parent_id", "term_uri", "taxonomy_detail", "taxonomy_id"}:
        return "taxonomy_term"
    return "service"  # validation then names what a service lacks


def _org_summary(org: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in org.items() if k != "services"}


def _services_of(obj: Any, label: str, feed: Feed, problems: list[str]) -> None:
    """Append the services held by one object (service, organization, service_at_location)."""
    kind = kind_of(obj)
    if kind == "service":
        feed.services.append((label, obj))
    elif kind == "organization":
        services = obj.get("services")
        if services is None or services == []:
            feed.notes.append(f"{label}: organization {obj.get('id', '?')} ({str(obj.get('name', '?'))[:60]!r}) "
                              "lists no services")
            return
        if not isinstance(services, list):
            problems.append(f"{label}: field services: expected an array of services")
            return
        for j, svc in enumerate(services):
            if isinstance(svc, dict) and "organization" not in svc:
                svc = {**svc, "organization": _org_summary(obj)}
            feed.services.append((f"{label}.services[{j}]" if label else f"services[{j}]", svc))
    elif kind == "service_at_location":
        svc = dict(obj["service"])
        sal = {k: v for k, v in obj.items() if k != "service"}
        for _existing_label, existing in feed.services:
            if isinstance(existing, dict) and existing.get("id") == svc.get("id") and existing.get("_from_sal"):
                existing["service_at_locations"].append(sal)
                return
        svc["service_at_locations"] = list(svc.get("service_at_locations") or []) + [sal]
        svc["_from_sal"] = True
        feed.services.append((label, svc))
    elif kind in WHAT:
        problems.append(f"{label or 'top level'}: this is {WHAT[kind]}")
    else:
        problems.append(f"{label or 'top level'}: expected a service or an organization, found "
                        f"{'a ' + type(obj).__name__ if kind == 'unknown' else kind}")


def _page_kind(contents: list[Any]) -> str:
    kinds = {kind_of(x) for x in contents}
    return kinds.pop() if len(kinds) == 1 else "mixed"


def feed_from_document(doc: Any, name: str = "document") -> Feed:
    """The services of one parsed JSON document of any shape HSDS defines (see the module docstring)."""
    kind = kind_of(doc)
    feed = Feed(kind=kind)
    problems: list[str] = []
    if kind == "directory":
        services = doc.get("services")
        if not isinstance(services, list):
            raise _error(['top level: expected an object with a "services" array'])
        for i, raw in enumerate(services):
            feed.services.append((f"services[{i}]", raw))
    elif kind == "array":
        for i, item in enumerate(doc):
            _services_of(item, f"[{i}]", feed, problems)
    elif kind == "page":
        if _page_kind(doc["contents"]) in ("taxonomy", "taxonomy_term", "location"):
            raise _error([f"{name}: {_no_services(doc, kind, feed)}"])
        _page(doc, "", feed, problems)
    elif kind == "tabular":
        feed.services.extend(services_from_tables({k[:-4]: v for k, v in doc.items()}, json_rows=True,
                                                  problems=problems))
    elif kind in ("service", "organization", "service_at_location"):
        _services_of(doc, "", feed, problems)
        feed.services = [(lbl or "service", svc) for lbl, svc in feed.services]
    elif kind in WHAT:
        raise _error([f"{name}: this is {WHAT[kind]}"])
    else:
        raise _error(['top level: expected an object with a "services" array, or an HSDS service, organization, '
                      "array, API page or tabular package"])
    for _, svc in feed.services:
        if isinstance(svc, dict):
            svc.pop("_from_sal", None)
    feed.problems = problems
    if not feed.services and not problems:
        raise _error([f"{name}: {_no_services(doc, kind, feed)}"])
    return feed


def _no_services(doc: Any, kind: str, feed: Feed) -> str:
    if kind == "page":
        what = _page_kind(doc.get("contents") or [])
        if what == "organization":
            return (f"a page of the HSDS API's GET /organizations ({len(doc['contents'])} organization(s), none "
                    "with services): not a directory; read GET /services, or organizations with full_service=true")
        if what in ("taxonomy", "taxonomy_term"):
            return f"a page of the HSDS API's GET /{'taxonomies' if what == 'taxonomy' else 'taxonomy_terms'}: " \
                   "it lists classifications, not services; not a directory"
        if what == "location":
            return "a page of HSDS locations: it holds no services; not a directory"
        return "an API page with no services in its contents"
    if kind == "directory":
        return "services: the array is empty; a directory needs at least one service"
    if kind == "organization":
        return "an organization with no services: not a directory"
    return "no services found"


def _page(doc: dict[str, Any], prefix: str, feed: Feed, problems: list[str]) -> None:
    feed.pages += 1
    for i, item in enumerate(doc.get("contents") or []):
        _services_of(item, f"{prefix}contents[{i}]", feed, problems)


def _page_note(doc: dict[str, Any], name: str) -> str | None:
    if doc.get("last_page") is False:
        return (f"{name}: page {doc.get('page_number', '?')} of {doc.get('total_pages', '?')} read alone "
                "(last_page is false): a partial feed, so no service is retired")
    return None


# --- files ---------------------------------------------------------------------------------------

def _read_json(path: Path) -> Any:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise _error([f"{path}: cannot read ({exc.strerror})"]) from None
    if size > MAX_BYTES:
        raise _error([f"{path}: {size} bytes is larger than the {MAX_BYTES} byte limit"])
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _error([f"{path}: not UTF-8 text (byte {exc.start})"]) from None
    except json.JSONDecodeError as exc:
        raise _error([f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]) from None


def read_feed(sources: str | Path | list[str | Path], *, timeout: float = 10.0, per_page: int = 100) -> Feed:
    """Read one source, or several files that are consecutive pages of one API listing."""
    if not isinstance(sources, list):
        sources = [sources]
    if not sources:
        raise _error(["no source given"])
    if len(sources) == 1:
        src = str(sources[0])
        if src.startswith(("http://", "https://")):
            return read_api(src, timeout=timeout, per_page=per_page)
        path = Path(src)
        if path.is_dir() or path.suffix.lower() == ".zip":
            return read_tabular(path)
        doc = _read_json(path)
        feed = feed_from_document(doc, str(path))
        if feed.kind == "page":
            note = _page_note(doc, str(path))
            if note:
                feed.partial = True
                feed.notes.append(note)
        return feed
    return _read_pages([Path(s) for s in sources])


def _read_pages(paths: list[Path]) -> Feed:
    feed = Feed(kind="pages")
    problems: list[str] = []
    last: dict[str, Any] = {}
    for n, path in enumerate(paths, start=1):
        doc = _read_json(path)
        if kind_of(doc) != "page":
            raise _error([f"{path}: several files are read as consecutive pages of an HSDS API listing, "
                          f"and this is not a page (it is {kind_of(doc)})"])
        number = doc.get("page_number")
        if isinstance(number, int) and number != n:
            problems.append(f"{path}: page_number is {number}, expected {n} (give the pages in order)")
        _page(doc, f"{path.name} ", feed, problems)
        last = doc
    for _, svc in feed.services:
        if isinstance(svc, dict):
            svc.pop("_from_sal", None)
    feed.problems = problems
    note = _page_note(last, str(paths[-1]))
    if note:
        feed.partial = True
        feed.notes.append(note)
    if not feed.services and not problems:
        raise _error([f"{paths[0]}: {_no_services(last, 'page', feed)}"])
    return feed


# --- a live HSDS API -----------------------------------------------------------------------------

def read_api(base_url: str, *, timeout: float = 10.0, per_page: int = 100, max_pages: int = 10_000) -> Feed:
    """Every service of a live HSDS 3.0 API: GET /services pages until last_page, details where needed.

    `timeout` is the total seconds allowed for each request. Any failed page or detail stops the read with
    the page (or service) and the reason, and nothing is returned: a feed read halfway is not a directory.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _error([f"{base_url}: not an http(s) URL"])
    path = parts.path.rstrip("/")
    if path.endswith("/services"):
        path = path[: -len("/services")]
    # A query in the base URL (an API key some 211s ask for) is kept on every request.
    base = f"{parts.scheme}://{parts.netloc}{path}"
    return asyncio.run(_read_api(base, parts.query, timeout, per_page, max_pages))


async def _get_json(session: aiohttp.ClientSession, url: str, what: str, timeout: float) -> Any:
    try:
        async with session.get(url, headers={"Accept": "application/json"}) as resp:
            if resp.status != 200:
                raise _error([f"{what} ({url}): HTTP {resp.status} {resp.reason or ''}".rstrip()])
            body = await resp.content.read(MAX_BYTES + 1)
            if len(body) > MAX_BYTES:
                raise _error([f"{what} ({url}): larger than the {MAX_BYTES} byte limit"])
    except asyncio.TimeoutError:
        raise _error([f"{what} ({url}): no complete answer within {timeout:g} s"]) from None
    except aiohttp.ClientError as exc:
        raise _error([f"{what} ({url}): cannot connect ({type(exc).__name__}: {str(exc)[:120]})"]) from None
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _error([f"{what} ({url}): the answer is not JSON"]) from None


async def _read_api(base: str, query: str, timeout: float, per_page: int, max_pages: int) -> Feed:
    extra = f"&{query}" if query else ""
    feed = Feed(kind="api")
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    limit = asyncio.Semaphore(DETAIL_CONCURRENCY)
    async with aiohttp.ClientSession(timeout=client_timeout) as session:
        page = 1
        previous: list[Any] = []
        while True:
            url = f"{base}/services?page={page}&per_page={per_page}{extra}"
            doc = await _get_json(session, url, f"page {page}", timeout)
            if kind_of(doc) != "page":
                raise _error([f"page {page} ({url}): not an HSDS API page (no contents array with paging fields)"])
            contents = doc["contents"]
            listed = [x.get("id") if isinstance(x, dict) else x for x in contents]
            if contents and listed == previous:
                # an API that ignores ?page= would otherwise be read until max_pages
                raise _error([f"page {page} ({url}): lists the same services as page {page - 1}; the API "
                              "does not seem to page (last_page never came)"])
            previous = listed

            async def whole(item: Any) -> Any:
                if isinstance(item, dict) and isinstance(item.get("id"), str) and not (set(item) & NESTED_KEYS):
                    # GET /services lists one-to-one fields only; the nested service is at /services/{id}.
                    async with limit:
                        return await _get_json(session, f"{base}/services/{quote(item['id'], safe='')}"
                                                        + (f"?{query}" if query else ""),
                                               f"service {item['id']} (listed on page {page})", timeout)
                return item

            for i, item in enumerate(await asyncio.gather(*(whole(x) for x in contents))):
                feed.services.append((f"page {page} contents[{i}]", item))
            feed.pages = page
            total = doc.get("total_pages")
            if doc.get("last_page") is True or not contents or (isinstance(total, int) and page >= total):
                break
            page += 1
            if page > max_pages:
                raise _error([f"{base}: more than {max_pages} pages; stopped (last_page never came)"])
    if not feed.services:
        raise _error([f"{base}/services: the API lists no services"])
    return feed


# --- the tabular data package --------------------------------------------------------------------

def _table_types(table: str) -> dict[str, str]:
    path = TABLE_SCHEMAS / f"{table}.json"
    if not path.exists():
        return {}
    props = json.loads(path.read_text()).get("properties", {})
    return {k: v.get("type", "string") for k, v in props.items() if isinstance(v, dict)}


def _coerce(value: Any, kind: str) -> Any:
    """A CSV cell as the JSON type its table schema says; a cell that does not convert stays a string, so
    validation names it."""
    if kind == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # a CSV cell is text; a tabular JSON row may carry it as a number
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            number = float(text)
            return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
        if kind == "boolean":
            if text.lower() in ("true", "1", "yes"):
                return True
            if text.lower() in ("false", "0", "no"):
                return False
    except ValueError:
        pass
    return value


def read_tabular(path: Path) -> Feed:
    """A folder or a .zip of HSDS CSV files (services.csv, organizations.csv, ...)."""
    tables: dict[str, list[dict[str, Any]]] = {}
    problems: list[str] = []
    try:
        if path.is_dir():
            files = {p.name: p.read_bytes() for p in sorted(path.glob("*.csv"))}
        else:
            with zipfile.ZipFile(path) as zf:
                infos = [i for i in zf.infolist() if i.filename.lower().endswith(".csv")]
                if sum(i.file_size for i in infos) > MAX_BYTES:
                    raise _error([f"{path}: the CSV files are larger than the {MAX_BYTES} byte limit"])
                files = {Path(i.filename).name: zf.read(i) for i in infos}
    except (OSError, zipfile.BadZipFile) as exc:
        raise _error([f"{path}: cannot read the tabular package ({exc})"]) from None
    if sum(len(b) for b in files.values()) > MAX_BYTES:
        raise _error([f"{path}: the CSV files are larger than the {MAX_BYTES} byte limit"])
    for name, data in files.items():
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            problems.append(f"{name}: not UTF-8 text (byte {exc.start})")
            continue
        tables[name[:-4]] = list(csv.DictReader(io.StringIO(text)))
    if problems:
        raise _error(problems)
    if "services" not in tables:
        raise _error([f"{path}: a tabular HSDS package needs services.csv (found: "
                      f"{', '.join(sorted(files)) or 'no CSV files'})"])
    feed = Feed(kind="tabular")
    feed.services = services_from_tables(tables, json_rows=False, problems=problems)
    if problems:
        raise _error(problems)
    if not feed.services:
        raise _error([f"{path}: services.csv has no rows"])
    return feed


def services_from_tables(tables: dict[str, Any], *, json_rows: bool, problems: list[str]) -> list[tuple[str, Any]]:
    """Nest the HSDS tables into services: each child row joins its parent by the *_id columns."""
    clean: dict[str, list[dict[str, Any]]] = {}
    for name, rows in tables.items():
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            problems.append(f"{name}.csv: expected a list of rows")
            continue
        types = _table_types(TABLES.get(name, name))
        clean[name] = [{k: _coerce(v, types.get(k, "string")) for k, v in row.items()
                        if k and v is not None and v != ""} for row in rows]
    if problems or "services" not in clean:
        if "services" not in clean and not problems:
            problems.append("services.csv: missing; a tabular HSDS package needs it")
        return []

    def by(table: str, key: str, value: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in clean.get(table, []) if value is not None and r.get(key) == value]

    def one(table: str, value: Any) -> dict[str, Any] | None:
        found = by(table, "id", value)
        return found[0] if found else None

    def term(term_id: Any) -> dict[str, Any] | None:
        t = one("taxonomy_terms", term_id)
        if t is not None and t.get("taxonomy_id") is not None:
            detail = one("taxonomies", t["taxonomy_id"])
            if detail is not None:
                t["taxonomy_detail"] = detail
        return t

    out: list[tuple[str, Any]] = []
    for i, row in enumerate(clean["services"]):
        sid = row.get("id")
        svc = dict(row)
        org = one("organizations", row.get("organization_id"))
        if org is not None:
            svc["organization"] = org
        program = one("programs", row.get("program_id"))
        if program is not None:
            svc["program"] = program
        for key, table in (("phones", "phones"), ("schedules", "schedules"), ("service_areas", "service_areas"),
                           ("languages", "languages"), ("funding", "funding"), ("cost_options", "cost_options"),
                           ("required_documents", "required_documents"), ("contacts", "contacts")):
            children = by(table, "service_id", sid)
            if children:
                svc[key] = children
        attributes = []
        for attr in by("attributes", "link_id", sid):
            t = term(attr.get("taxonomy_term_id"))
            if t is not None:
                attr["taxonomy_term"] = t
            attributes.append(attr)
        if attributes:
            svc["attributes"] = attributes
        sals = []
        for sal in by("service_at_location", "service_id", sid) + by("service_at_locations", "service_id", sid):
            loc = one("locations", sal.get("location_id"))
            if loc is not None:
                for key, table in (("addresses", "addresses"), ("accessibility", "accessibility")):
                    children = by(table, "location_id", loc["id"])
                    if children:
                        loc[key] = children
                sal["location"] = loc
            sals.append(sal)
        if sals:
            svc["service_at_locations"] = sals
        label = f"services.csv[{i}]" if json_rows else f"services.csv line {i + 2}"
        out.append((label, svc))
    return out
