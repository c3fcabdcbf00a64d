"""The business's (tenant's) pages: sign in with the tenant's API key, register an edge site and
get its site file and command, see the cameras found with their health, confirm, name, place,
share and revoke each, delete a site.

Every form posts, and on success redirects back (post/redirect/get). Each goes through the same
function as its JSON route (``api.routes.tenant``: ``register``, ``update``, ``revoke``,
``remove``), so audit records, read-your-writes and the refusal of another tenant's ids are the
API's. A form that does not validate is answered with the page again, saying which field is
wrong in the reader's language, and changes nothing. The key is kept in a cookie limited to
``/business`` (``api.pages.session``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from api.auth import Caller
from api.pages.session import KeySession, posted_form, render
from api.pages.words import BUSINESS_WORDS, language_of
from api.routes.tenant import (
    CameraIdPath,
    CameraPatch,
    Refused,
    SiteIdPath,
    SiteIn,
    cameras_listed,
    register,
    registered_site,
    remove,
    revoke,
    sites_listed,
    update,
)
from api.service import ApiService, service_of
from api.sitefile import file_name
from topics.gazetteer import KECAMATAN
from topics.models import ApiKeyKind, SharingLevel

router = APIRouter(prefix="/business", include_in_schema=False)

SESSION = KeySession("/business", ApiKeyKind.TENANT)
SESSION.add_routes(router, BUSINESS_WORDS)

Service = Annotated[ApiService, Depends(service_of)]
Language = Annotated[str | None, Query(max_length=2)]

#: the connectors a site's device can be reached with, offered in the registration form
DEVICE_KINDS = ("onvif", "hikvision", "dahua")
#: device rows in the registration form (a site with more registers over the API)
DEVICE_ROWS = 3
_DEVICE_FIELDS = ("kind", "address", "username", "credential", "sharing")
_PLACEMENT_FIELDS = ("kecamatan", "kelurahan", "rw", "rt")
#: a refused form is shown again without these: a password may have been pasted there
_NEVER_KEPT = "credential-"

_PROBLEMS = {
    "missing": "problem_missing",
    "string_too_long": "problem_too_long",
    "too_long": "problem_too_long",
    "enum": "problem_bad_choice",
    "literal_error": "problem_bad_choice",
    "string_pattern_mismatch": "problem_bad_format",
    "too_short": "problem_too_few",
}


def form_problem(error: ValidationError, words: Mapping[str, str]) -> str:
    """The first thing wrong with a form, in ``words``' language: the field and what is wrong
    with it (never the value given)."""
    first = error.errors()[0]
    location = first["loc"]
    field = next((str(part) for part in reversed(location) if isinstance(part, str)), None)
    if field is None:
        return words["nothing_to_change"]
    row = next((part for part in location if isinstance(part, int)), None)
    label = words.get(f"field_{field}", field)
    if row is not None:
        label = f"{words['device']} {row + 1}: {label}"
    if field == "kecamatan" and first["type"] == "value_error":
        problem = words["problem_unknown_kecamatan"]
    else:
        problem = words[_PROBLEMS.get(first["type"], "problem_invalid")]
    return f"{label} {problem}."


def site_from(form: Mapping[str, str]) -> SiteIn:
    """The registration form as the API's body: a device row counts once it has an address or
    a password name."""
    devices = []
    for row in range(DEVICE_ROWS):
        given = {name: form[f"{name}-{row}"] for name in _DEVICE_FIELDS if f"{name}-{row}" in form}
        if "address" in given or "credential" in given:
            devices.append(given)
    body: dict[str, Any] = {"site_id": form.get("site_id", ""), "devices": devices}
    if "name" in form:
        body["name"] = form["name"]
    return SiteIn.model_validate(body)


def patch_from(form: Mapping[str, str]) -> CameraPatch:
    """A camera's form as the API's body: only the fields given change."""
    body: dict[str, Any] = {name: form[name] for name in ("name", "sharing") if name in form}
    placement = {name: form[name] for name in _PLACEMENT_FIELDS if name in form}
    if placement:
        body["placement"] = placement
    return CameraPatch.model_validate(body)


def _render(
    request: Request, name: str, lang: str, code: int = 200, **context: object
) -> HTMLResponse:
    return render(request, name, lang, BUSINESS_WORDS, code, page=SESSION.path, **context)


async def _home(
    request: Request,
    service: ApiService,
    caller: Caller,
    lang: str,
    *,
    code: int = 200,
    error: str | None = None,
    form: Mapping[str, str] | None = None,
) -> HTMLResponse:
    return _render(
        request,
        "business.html",
        lang,
        code,
        tenant=caller.subject,
        sites=await sites_listed(service, caller),
        cameras=await cameras_listed(service, caller),
        kecamatan=KECAMATAN,
        levels=[level.value for level in SharingLevel],
        kinds=DEVICE_KINDS,
        rows=range(DEVICE_ROWS),
        error=error,
        form=form or {},
    )


async def _refused(
    request: Request,
    service: ApiService,
    caller: Caller,
    problem: ValidationError | Refused,
    form: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The page again, saying what was wrong; nothing was changed."""
    lang = language_of(request, None)
    words = BUSINESS_WORDS[lang]
    if isinstance(problem, Refused):
        code, said = problem.status_code, words[problem.reason]
    else:
        code, said = status.HTTP_422_UNPROCESSABLE_CONTENT, form_problem(problem, words)
    error = f"{said} {words['nothing_changed']}"
    return await _home(request, service, caller, lang, code=code, error=error, form=form)


async def _acted(
    request: Request,
    service: ApiService,
    act: Callable[[Caller, dict[str, str]], Awaitable[str]],
    *,
    max_fields: int = 10,
    keep_form: bool = False,
) -> Response:
    """A form posted: done by ``act`` (as the signed-in tenant, with the form's fields), then
    back to the page or the path below it ``act`` answers; or the page again with what was
    wrong (the form's values kept when ``keep_form``)."""
    form = await posted_form(request, max_fields)
    caller = await SESSION.caller(request, service)
    if caller is None:
        return SESSION.refused(request, BUSINESS_WORDS)
    try:
        below = await act(caller, form)
    except (ValidationError, Refused) as problem:
        kept = (
            {k: v for k, v in form.items() if not k.startswith(_NEVER_KEPT)} if keep_form else None
        )
        return await _refused(request, service, caller, problem, kept)
    return SESSION.back(below)


@router.get("", response_class=HTMLResponse)
async def business_page(request: Request, service: Service, lang: Language = None) -> Response:
    language = language_of(request, lang)
    caller = await SESSION.caller(request, service)
    if caller is None:
        return _render(request, "signin.html", language)
    return await _home(request, service, caller, language)


@router.get("/sites/{site_id}", response_class=HTMLResponse)
async def site_page(
    site_id: SiteIdPath, request: Request, service: Service, lang: Language = None
) -> Response:
    """The site's file and the command to run at the site, as ``POST /tenant/sites`` answers."""
    language = language_of(request, lang)
    caller = await SESSION.caller(request, service)
    if caller is None:
        return _render(request, "signin.html", language)
    try:
        registered = await registered_site(service, caller, site_id)
    except Refused as problem:
        return await _refused(request, service, caller, problem)
    return _render(request, "site.html", language, registered=registered, file=file_name(site_id))


@router.post("/sites", response_class=HTMLResponse)
async def register_page(request: Request, service: Service) -> Response:
    async def act(caller: Caller, form: dict[str, str]) -> str:
        registered = await register(service, caller, site_from(form))
        return f"/sites/{registered.site.site_id}"

    fields = 2 + DEVICE_ROWS * len(_DEVICE_FIELDS)
    return await _acted(request, service, act, max_fields=fields, keep_form=True)


@router.post("/sites/{site_id}/delete", response_class=HTMLResponse)
async def delete_site_page(site_id: SiteIdPath, request: Request, service: Service) -> Response:
    async def act(caller: Caller, form: dict[str, str]) -> str:
        await remove(service, caller, site_id)
        return ""

    return await _acted(request, service, act)


@router.post("/cameras/{camera_id}", response_class=HTMLResponse)
async def camera_page(camera_id: CameraIdPath, request: Request, service: Service) -> Response:
    """Name, place and share the camera (the fields given)."""

    async def act(caller: Caller, form: dict[str, str]) -> str:
        await update(service, caller, camera_id, patch_from(form))
        return ""

    return await _acted(request, service, act)


@router.post("/cameras/{camera_id}/confirm", response_class=HTMLResponse)
async def confirm_page(camera_id: CameraIdPath, request: Request, service: Service) -> Response:
    async def act(caller: Caller, form: dict[str, str]) -> str:
        await update(service, caller, camera_id, CameraPatch(confirmed=True))
        return ""

    return await _acted(request, service, act)


@router.post("/cameras/{camera_id}/revoke", response_class=HTMLResponse)
async def revoke_page(camera_id: CameraIdPath, request: Request, service: Service) -> Response:
    async def act(caller: Caller, form: dict[str, str]) -> str:
        await revoke(service, caller, camera_id)
        return ""

    return await _acted(request, service, act)
