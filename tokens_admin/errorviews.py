"""Error handlers: problem details under /public/, the normal pages everywhere else."""

from __future__ import annotations

import sys

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.views import defaults

from tokens_admin.problems import RETRY_AFTER_SECONDS, problem, unavailable

API_PREFIX = "/public/"


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return problem(request, 404, f"No API resource at {request.path}.")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this while handling the exception, so it is still in sys.exc_info(). A
    # database that went away (or turned read-only) wherever it happened — a view, a service,
    # a lazy query in a middleware — is a 503 "try again", not a 500 "we have a bug".
    if caused_by_database(sys.exc_info()[1]):
        return service_unavailable(request)
    if request.path.startswith(API_PREFIX):
        # Never a stack trace or an HTML page to an API client.
        return problem(request, 500, "The server could not complete the request.")
    return defaults.server_error(request)


def caused_by_database(exc: BaseException | None) -> bool:
    """Is ``exc`` a database error, or raised while handling one? (Django turns a session
    that cannot be saved into a 400 "session interrupted"; a read-only database is the cause
    then, not the user.)"""
    for _ in range(5):
        if exc is None:
            return False
        if isinstance(exc, DatabaseError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def service_unavailable(request: HttpRequest) -> HttpResponse:
    """503 with ``Retry-After``: a problem for the API, a page of ours (no request context,
    so it renders without the database) for the UI."""
    if request.path.startswith(API_PREFIX):
        return unavailable(request)
    response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = RETRY_AFTER_SECONDS
    return response


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return problem(request, 403, "Forbidden.")
    return defaults.permission_denied(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if caused_by_database(exception):
        return service_unavailable(request)
    if request.path.startswith(API_PREFIX):
        return problem(request, 400, "The request could not be understood.")
    return defaults.bad_request(request, exception)
