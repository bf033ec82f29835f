"""``/scim/v2``: the SCIM 2.0 service provider (RFC 7644) identity providers push staff to;
each joiner, team or role change and leaver is stored as a ``staff.*`` event, then live
detection runs (:mod:`sentinelle.connectors.scim`, docs/connectors.md "Identity").

A thin wrapper: it reads the request (bodies of at most 1 MiB, ``application/scim+json`` or
``application/json``), calls :class:`~sentinelle.connectors.scim.ScimService` on the store,
and answers ``application/scim+json``. Every route needs a key whose role has
``staff:provision`` (role ``scim``, or admin); every error, the refusals of the key included,
is a SCIM ``Error`` body (RFC 7644 §3.12) with its ``status`` and, where one applies, its
``scimType``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Mapping
from typing import Annotated, Any, Final

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from sentinelle.access import Permission, Principal
from sentinelle.api.deps import GuardedRoute, State, StateDep, guarded, locked, reading
from sentinelle.connectors.scim import (
    ERROR,
    ListQuery,
    ScimError,
    ScimMapping,
    ScimService,
    Written,
    etag,
    project,
)
from sentinelle.errors import StoreBusyError

__all__ = ["MAX_BODY_BYTES", "MEDIA_TYPE", "router"]

MEDIA_TYPE: Final = "application/scim+json"
#: A SCIM body larger than this is refused (413): a user is a few KiB, a group of thousands
#: of members some hundreds.
MAX_BODY_BYTES: Final = 1024 * 1024
_SERVICE: Final = "sentinelle_scim"


class ScimResponse(JSONResponse):
    """JSON as ``application/scim+json``."""

    media_type = MEDIA_TYPE


def _error(exc: ScimError, headers: Mapping[str, str] | None = None) -> Response:
    return ScimResponse(exc.to_dict(), status_code=exc.status, headers=headers)


class ScimRoute(GuardedRoute):
    """A guarded route (401/403 before the body is read) whose every error, those of the
    guard and of the parameters included, is a SCIM ``Error`` body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def scim_errors(request: Request) -> Response:
            try:
                return await handle(request)
            except ScimError as exc:
                return _error(exc)
            except HTTPException as exc:
                return _error(ScimError(exc.status_code, str(exc.detail)), exc.headers)
            except RequestValidationError as exc:
                problem = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in problem.get("loc", ())[1:]) or "request"
                detail = f"{where}: {problem.get('msg', 'invalid')}"
                return _error(ScimError(400, detail, "invalidValue"))
            except StoreBusyError as exc:
                return _error(
                    ScimError(503, exc.diagnostics()), {"Retry-After": str(exc.retry_after)}
                )

        return scim_errors


router = APIRouter(
    prefix="/scim/v2", tags=["scim"], route_class=ScimRoute, default_response_class=ScimResponse
)

_OBJECT: Final[dict[str, Any]] = {"type": "object"}
_ERROR_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["schemas", "status", "detail"],
    "properties": {
        "schemas": {"type": "array", "items": {"const": ERROR}},
        "status": {"type": "string"},
        "scimType": {"type": "string"},
        "detail": {"type": "string"},
    },
}
_WHY: Final = {
    400: "Invalid body, filter, path or value (scimType invalidSyntax, invalidValue, "
    "invalidFilter, invalidPath, noTarget, mutability); detail names the attribute",
    401: "Missing or invalid API key (Authorization: Bearer <key>)",
    403: "The key's role does not grant staff:provision (role scim)",
    404: "No such resource",
    409: "userName, or the staff id it maps to, is already another user's (scimType uniqueness)",
    412: "If-Match does not match the resource's ETag",
    413: "Body larger than 1 MiB",
    503: "Another process holds the store's write lock: retry after Retry-After",
}


def _content(schema: dict[str, Any]) -> dict[str, Any]:
    return {MEDIA_TYPE: {"schema": schema}}


def _doc(*errors: int, body: bool = False) -> dict[str, Any]:
    """The route's arguments: its permission, its errors and, if it takes one, its body."""
    found = guarded(Permission.STAFF_PROVISION)
    found["responses"] = {
        code: {"description": _WHY[code], "content": _content(_ERROR_SCHEMA)}
        for code in (401, 403, 503, *errors)
    }
    if body:
        content = {MEDIA_TYPE: {"schema": _OBJECT}, "application/json": {"schema": _OBJECT}}
        found["openapi_extra"] = {
            **found["openapi_extra"],
            "requestBody": {"required": True, "content": content},
        }
    return found


def service(request: Request, state: State) -> ScimService:
    """The app's SCIM service, its mapping read from the settings on first use (tests may
    set ``app.state.sentinelle_scim`` first). Raises :class:`ConfigError`."""
    found = getattr(request.app.state, _SERVICE, None)
    if not isinstance(found, ScimService):
        found = ScimService(ScimMapping.from_file(state.settings.scim_map))
        setattr(request.app.state, _SERVICE, found)
    return found


def _base(request: Request, state: State) -> str:
    root = state.settings.public_url or str(request.base_url).rstrip("/")
    return f"{root}/scim/v2"


def _by(request: Request) -> str:
    principal: Principal = request.state.principal  # set by the guard before the route
    return f"scim:{principal.name}" if principal.kind == "key" else principal.label


async def _body(request: Request) -> Any:
    """The request's JSON body. Raises 413, 400 ``invalidSyntax``."""
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > MAX_BODY_BYTES:
            raise ScimError(413, f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(bytes(body), parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise ScimError(400, "the body is not valid JSON", "invalidSyntax") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _query(
    request: Request,
    text: str | None, start: int | None, count: int | None, attributes: str | None,
    excluded: str | None,
) -> ListQuery:  # fmt: skip
    for name in ("filter", "startIndex", "count", "attributes", "excludedAttributes"):
        if len(request.query_params.getlist(name)) > 1:
            raise ScimError(400, f"{name}: given more than once", "invalidValue")

    def names(text: str | None) -> tuple[str, ...]:
        return tuple(n.strip() for n in (text or "").split(",") if n.strip())

    return ListQuery(
        filter=text,
        start=1 if start is None else start,
        count=count,
        attributes=names(attributes),
        excluded=names(excluded),
    )


def _resource(
    written: Written | tuple[dict[str, Any], int], status: int = 200, *, request: Request
) -> Response:
    resource, version = (
        (written.resource, written.version) if isinstance(written, Written) else written
    )
    assert resource is not None and version is not None  # noqa: S101 - not a delete
    attributes = request.query_params.get("attributes", "")
    excluded = request.query_params.get("excludedAttributes", "")
    shown = project(
        resource,
        [a for a in attributes.split(",") if a.strip()],
        [a for a in excluded.split(",") if a.strip()],
    )
    headers = {"ETag": etag(version)}
    if status == 201:
        headers["Location"] = resource["meta"]["location"]
    return ScimResponse(shown, status_code=status, headers=headers)


async def _write(state: State, work: Callable[[], Written]) -> Written:
    """``work`` on the store (one request at a time), then what follows a committed batch
    (live detection) when it stored events."""

    def run() -> Written:
        written = work()
        if written.result is not None and written.result.stored:
            state.after_batch()  # committed: detection never loses events
        return written

    return await locked(state, run)


async def _create(
    request: Request, state: State, pick: Callable[[ScimService], Callable[..., Written]]
) -> Response:
    """A POST: the body read, the resource created by ``pick(service)``, 201."""
    body = await _body(request)
    create, base, by, now = (
        pick(service(request, state)),
        _base(request, state),
        _by(request),
        state.clock(),
    )
    written = await _write(
        state, lambda: create(state.store, state.ledger, body, by=by, now_us=now, base=base)
    )
    return _resource(written, 201, request=request)


async def _change(
    request: Request, state: State, rid: str, pick: Callable[[ScimService], Callable[..., Written]]
) -> Response:
    """A PUT or PATCH: the body read, ``pick(service)`` applied to ``rid`` with If-Match."""
    body = await _body(request)
    change, base, by, now = (
        pick(service(request, state)),
        _base(request, state),
        _by(request),
        state.clock(),
    )
    if_match = request.headers.get("if-match")
    written = await _write(
        state,
        lambda: change(
            state.store, state.ledger, rid, body, if_match=if_match, by=by, now_us=now, base=base
        ),
    )
    return _resource(written, request=request)


async def _delete(
    request: Request, state: State, rid: str, pick: Callable[[ScimService], Callable[..., Written]]
) -> Response:
    """A DELETE of ``rid`` by ``pick(service)`` with If-Match: 204."""
    delete, by, now = pick(service(request, state)), _by(request), state.clock()
    if_match = request.headers.get("if-match")
    await _write(
        state,
        lambda: delete(state.store, state.ledger, rid, if_match=if_match, by=by, now_us=now),
    )
    return Response(status_code=204)


Filter = Annotated[
    str | None, Query(description='A SCIM filter, e.g. userName eq "ana@shop.example"')
]
Start = Annotated[
    int | None, Query(alias="startIndex", description="1-based index of the first result")
]
Count = Annotated[int | None, Query(description="Results per page (at most 1000; default 100)")]
Attributes = Annotated[str | None, Query(description="Attributes to return, separated by commas")]
Excluded = Annotated[
    str | None,
    Query(alias="excludedAttributes", description="Attributes to leave out, e.g. members"),
]


# -- discovery ---------------------------------------------------------------------------------


@router.get("/ServiceProviderConfig", **_doc())
async def get_service_provider_config(request: Request, state: StateDep) -> Response:
    """What this provider supports (RFC 7643 §5): PATCH, filters, ETags; no bulk, no sort."""
    return ScimResponse(service(request, state).service_provider_config(_base(request, state)))


@router.get("/ResourceTypes", **_doc())
async def list_resource_types(request: Request, state: StateDep) -> Response:
    """The resource types: User (with the enterprise extension) and Group."""
    found = service(request, state).resource_types(_base(request, state))
    return ScimResponse(_list(found))


@router.get("/ResourceTypes/{name}", **_doc(404))
async def get_resource_type(name: str, request: Request, state: StateDep) -> Response:
    """One resource type, ``User`` or ``Group``."""
    for found in service(request, state).resource_types(_base(request, state)):
        if found["id"] == name:
            return ScimResponse(found)
    raise ScimError(404, f"no resource type {name}")


@router.get("/Schemas", **_doc())
async def list_schemas(request: Request, state: StateDep) -> Response:
    """The schemas, each attribute saying whether it is kept (``returned: never``: not)."""
    return ScimResponse(_list(service(request, state).schemas(_base(request, state))))


@router.get("/Schemas/{urn}", **_doc(404))
async def get_schema(urn: str, request: Request, state: StateDep) -> Response:
    """One schema by its URN."""
    for found in service(request, state).schemas(_base(request, state)):
        if found["id"] == urn:
            return ScimResponse(found)
    raise ScimError(404, f"no schema {urn}")


def _list(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": len(resources),
        "itemsPerPage": len(resources),
        "startIndex": 1,
        "Resources": resources,
    }


# -- users -------------------------------------------------------------------------------------


@router.get("/Users", **_doc(400))
async def list_users(
    request: Request,
    state: StateDep,
    filter: Filter = None,
    start: Start = None,
    count: Count = None,
    attributes: Attributes = None,
    excluded: Excluded = None,
) -> Response:
    """Users, filtered (``userName eq "…"``, ``externalId eq "…"``, any SCIM filter) and
    paged (``startIndex``, ``count``): a ``ListResponse``."""
    scim, base = service(request, state), _base(request, state)
    query = _query(request, filter, start, count, attributes, excluded)
    return ScimResponse(await reading(state, lambda r: scim.list_users(r.store, query, base)))


@router.post("/Users", status_code=201, **_doc(400, 409, 413, body=True))
async def create_user(request: Request, state: StateDep) -> Response:
    """Provision a user: a joiner (``staff.joined``) if active. 409 ``uniqueness`` if its
    userName (or the staff id it maps to) is another user's."""
    return await _create(request, state, lambda scim: scim.create_user)


@router.get("/Users/{user_id}", **_doc(404))
async def get_user(user_id: str, request: Request, state: StateDep) -> Response:
    """One user."""
    scim, base = service(request, state), _base(request, state)
    return _resource(
        await reading(state, lambda r: scim.get_user(r.store, user_id, base)), request=request
    )


@router.put("/Users/{user_id}", **_doc(400, 404, 409, 412, 413, body=True))
async def replace_user(user_id: str, request: Request, state: StateDep) -> Response:
    """Replace a user (Okta's profile updates): a team or role change, a leaver
    (``active: false``) or a return (``active: true``), as the attributes say."""
    return await _change(request, state, user_id, lambda scim: scim.replace_user)


@router.patch("/Users/{user_id}", **_doc(400, 404, 409, 412, 413, body=True))
async def patch_user(user_id: str, request: Request, state: StateDep) -> Response:
    """Change a user with a PatchOp: ``active: false`` is a leaver (``staff.left``), a
    mapped attribute's change a ``staff.role_changed``."""
    return await _change(request, state, user_id, lambda scim: scim.patch_user)


@router.delete("/Users/{user_id}", status_code=204, response_class=Response, **_doc(404, 412))
async def delete_user(user_id: str, request: Request, state: StateDep) -> Response:
    """Delete a user: a leaver (``staff.left``) if it was active. Its events stay."""
    return await _delete(request, state, user_id, lambda scim: scim.delete_user)


# -- groups ------------------------------------------------------------------------------------


@router.get("/Groups", **_doc(400))
async def list_groups(
    request: Request,
    state: StateDep,
    filter: Filter = None,
    start: Start = None,
    count: Count = None,
    attributes: Attributes = None,
    excluded: Excluded = None,
) -> Response:
    """Groups, filtered (``displayName eq "…"``) and paged: a ``ListResponse``."""
    scim, base = service(request, state), _base(request, state)
    query = _query(request, filter, start, count, attributes, excluded)
    return ScimResponse(await reading(state, lambda r: scim.list_groups(r.store, query, base)))


@router.post("/Groups", status_code=201, **_doc(400, 413, body=True))
async def create_group(request: Request, state: StateDep) -> Response:
    """Create a group (members: user ids). With a group mapping, its members' teams or roles
    change (``staff.role_changed``)."""
    return await _create(request, state, lambda scim: scim.create_group)


@router.get("/Groups/{group_id}", **_doc(404))
async def get_group(group_id: str, request: Request, state: StateDep) -> Response:
    """One group (``excludedAttributes=members`` leaves its members out)."""
    scim, base = service(request, state), _base(request, state)
    return _resource(
        await reading(state, lambda r: scim.get_group(r.store, group_id, base)), request=request
    )


@router.put("/Groups/{group_id}", **_doc(400, 404, 412, 413, body=True))
async def replace_group(group_id: str, request: Request, state: StateDep) -> Response:
    """Replace a group, its members included."""
    return await _change(request, state, group_id, lambda scim: scim.replace_group)


@router.patch("/Groups/{group_id}", **_doc(400, 404, 412, 413, body=True))
async def patch_group(group_id: str, request: Request, state: StateDep) -> Response:
    """Rename a group or add and remove members with a PatchOp."""
    return await _change(request, state, group_id, lambda scim: scim.patch_group)


@router.delete("/Groups/{group_id}", status_code=204, response_class=Response, **_doc(404, 412))
async def delete_group(group_id: str, request: Request, state: StateDep) -> Response:
    """Delete a group (with a group mapping, its members' teams or roles change)."""
    return await _delete(request, state, group_id, lambda scim: scim.delete_group)
