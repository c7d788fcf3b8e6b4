"""Token values never stay in an admin page's URL."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from apitokens.secrets import replace_values


class NoTokenValuesInUrlsMiddleware:
    """A token value pasted into an admin page's search or filter would stay in the address
    bar, the history and every link the page builds. Such a request is redirected at once to
    the same URL with each value replaced by its token id (which finds the same token).

    The API is left alone: older clients filter by ``eq(token,'<value>')`` on purpose, and a
    value in the API's query string is refused there (RFC 6750 forbids it as a credential).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        if not query or request.path.startswith("/public/") or request.method != "GET":
            return self.get_response(request)
        params = request.GET.copy()
        changed = False
        for key, values in params.lists():
            cleaned = [replace_values(v) for v in values]
            if cleaned != values:
                params.setlist(key, cleaned)
                changed = True
        if not changed:
            return self.get_response(request)
        target = f"{request.path}?{params.urlencode()}"
        if request.headers.get("HX-Request") == "true":
            response = HttpResponse(status=200)
            response["HX-Redirect"] = target
            return response
        return HttpResponseRedirect(target)
