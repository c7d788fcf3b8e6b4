"""Error handlers: problem details under /public/, the normal pages everywhere else."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views import defaults

from tokens_admin.problems import problem

API_PREFIX = "/public/"


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return problem(request, 404, f"No API resource at {request.path}.")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        # Never a stack trace or an HTML page to an API client.
        return problem(request, 500, "The server could not complete the request.")
    return defaults.server_error(request)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return problem(request, 403, "Forbidden.")
    return defaults.permission_denied(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return problem(request, 400, "The request could not be understood.")
    return defaults.bad_request(request, exception)
