"""API tokens list, row actions (Disable, Enable, Delete with confirmation) and logos.

The wizard is in ``views_wizard``, the edit dialog in ``views_edit``, the details page in ``views_details``.
Every view: check access with ``require_admin``, call one service, render. A URL answers a
fragment to htmx (``HX-Request``) and a whole page otherwise, so everything also works with
JavaScript off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, F, IntegerField, OrderBy, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from accounts.access import Access, require_admin
from apitokens import logos, services
from apitokens.models import ApiToken, TokenStatus
from apitokens.pages import after_change, get_token
from apitokens.selectors import expiring_soon, in_status, tokens_visible_to
from tokens_admin.errors import DomainError
from tokens_admin.requests import AppRequest, request_context
from tokens_admin.ui import query_with, safe_next, search_text

PER_PAGE_CHOICES: Final = (10, 25, 50)
SORTS: Final = {
    "name": "name",
    "id": "public_id",
    "modules": "module_count",
    "created_by": "created_by_name",
    "created": "created_at",
    "last_access": "last_access_at",
    "expires": "expires_at",
    "status": "status_now",
}
SORT_LABELS: Final = {
    "name": "API token",
    "modules": "Modules",
    "created_by": "Created by",
    "created": "Date created",
    "last_access": "Last access",
    "expires": "Expires",
    "status": "Status",
}
ACTIONS: Final = {
    "disable": ("Disable API token", "Disable", services.disable_token),
    "enable": ("Enable API token", "Enable", services.enable_token),
    "delete": ("Delete API token", "Delete", services.delete_token),
}
DONE: Final = {"disable": "disabled", "enable": "enabled", "delete": "deleted"}


def _module_count() -> Coalesce:
    """How many modules a token holds (0, not NULL, for none: it must sort like a count)."""
    links = ApiToken.modules.through.objects.filter(apitoken_id=OuterRef("pk"))
    count = Subquery(
        # (django-stubs cannot see an annotation made in the same chain.)
        links.order_by().values("apitoken_id").annotate(n=Count("pk")).values("n"),  # type: ignore[misc]
        output_field=IntegerField(),
    )
    return Coalesce(count, Value(0))


@dataclass(frozen=True)
class ListState:
    q: str
    status: str
    sort: str
    descending: bool
    per_page: int
    page: int

    @classmethod
    def from_query(cls, request: HttpRequest) -> ListState:
        sort = request.GET.get("sort", "-created")
        descending = sort.startswith("-")
        key = sort.lstrip("-")
        if key not in SORTS:
            key, descending = "created", True
        try:
            per_page = int(request.GET.get("per_page", "10"))
        except ValueError:
            per_page = 10
        if per_page not in PER_PAGE_CHOICES:
            per_page = 10
        status = request.GET.get("status", "")
        if status not in TokenStatus.values:
            status = ""
        try:
            page = max(1, int(request.GET.get("page", "1")))
        except ValueError:
            page = 1
        return cls(
            q=search_text(request, "q"),
            status=status,
            sort=key,
            descending=descending,
            per_page=per_page,
            page=page,
        )

    def ordering(self) -> list[str | OrderBy]:
        field = SORTS[self.sort]
        sign = "-" if self.descending else ""
        if field == "expires_at":  # "Never" is after every date
            column = F(field)
            first = (
                column.desc(nulls_first=True) if self.descending else column.asc(nulls_last=True)
            )
            return [first, f"{sign}pk"]
        return [f"{sign}{field}", f"{sign}pk"]


def _list_context(request: HttpRequest, access: Access) -> dict[str, Any]:
    state = ListState.from_query(request)
    tokens = tokens_visible_to(access).defer("ciphertext")
    if state.q:
        tokens = tokens.filter(Q(name__icontains=state.q) | Q(public_id__icontains=state.q))
    if state.status:
        tokens = in_status(tokens, state.status)  # Expired is derived from the expiry
    if state.sort == "modules":
        # A correlated COUNT per row, not a JOIN + GROUP BY: grouping 10,000 whole rows to
        # sort them took SQLite ~80 ms; the subquery is one index probe per row.
        tokens = tokens.annotate(module_count=_module_count())
    tokens = tokens.order_by(*state.ordering()).prefetch_related("modules")
    paginator = Paginator(tokens, state.per_page)
    page = paginator.get_page(state.page)
    headers = []
    for key, label in SORT_LABELS.items():
        active = state.sort == key
        next_sort = key if active and state.descending else f"-{key}"
        if not active:
            next_sort = key
        headers.append(
            {
                "key": key,
                "label": label,
                "active": active,
                "descending": active and state.descending,
                "url": query_with(request, sort=next_sort, page=None),
            }
        )
    return {
        "access": access,
        "state": state,
        "expiring": expiring_soon(access),
        "page": page,
        "tokens": list(page.object_list),
        "headers": headers,
        "statuses": [s for s in TokenStatus.values if access.sees_deleted or s != "Deleted"],
        "per_page_choices": PER_PAGE_CHOICES,
        "list_url": request.get_full_path(),
        "first_url": query_with(request, page=None),
        "prev_url": query_with(request, page=page.previous_page_number())
        if page.has_previous()
        else "",
        "next_url": query_with(request, page=page.next_page_number()) if page.has_next() else "",
        "last_url": query_with(request, page=paginator.num_pages),
    }


@login_required
@require_GET
@vary_on_headers("HX-Request")
def token_list(request: AppRequest) -> HttpResponse:
    access = require_admin(request)
    context = _list_context(request, access)
    # Search, filter, sort and paging swap only the table (the URL is pushed by htmx).
    template = "apitokens/list.html"
    if request.htmx and request.headers.get("HX-Target") == "token-table":
        template += "#table"
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def token_action(request: AppRequest, public_id: str, action: str) -> HttpResponse:
    """Disable, Enable or Delete: GET asks (a dialog or a page), POST does it."""
    if action not in ACTIONS:
        raise Http404("No such action.")
    access = require_admin(request)
    token = get_token(access, public_id)
    title, button, service = ACTIONS[action]
    origin = request.POST.get("origin") or request.GET.get("origin") or "list"
    list_url = reverse("ui:tokens")
    details_url = reverse("ui:token_details", args=[token.public_id])
    next_url = safe_next(request, details_url if origin == "details" else list_url)
    if request.method == "GET":
        template = "apitokens/confirm.html"
        if request.htmx:
            template += "#dialog"
        context = {
            "token": token,
            "action": action,
            "title": title,
            "button": button,
            "origin": origin,
            "next": next_url,
            "post_url": reverse("ui:token_action", args=[token.public_id, action]),
        }
        return render(request, template, context)
    try:
        service(token=token, actor=access.actor, request=request_context(request))
    except DomainError as exc:
        level, text = "error", exc.message
    else:
        level, text = "success", f"API token {token.name} has been {DONE[action]}."
    if action == "delete" and level == "success" and origin == "details":
        next_url = list_url if not access.sees_deleted else details_url
    return after_change(
        request, access, level=level, text=text, next_url=next_url, origin=origin, token=token
    )


@login_required
@require_GET
def logo(request: AppRequest, account_id: str, name: str) -> HttpResponseBase:
    """A stored logo of the current account, with its real content type; never sniffed, never
    run as anything else. Another account's logo answers 404, like its tokens."""
    access = require_admin(request)
    path = logos.path_for(account_id, name) if account_id == access.account.public_id else None
    if path is None:
        raise Http404("No such logo.")
    extension = name.rsplit(".", 1)[-1]
    response = FileResponse(path.open("rb"), content_type=logos.CONTENT_TYPES[extension])
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=86400"
    return response
