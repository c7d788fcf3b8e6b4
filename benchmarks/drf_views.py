"""The same trivial view as DRF views: no authentication, DRF's TokenAuthentication,
django-rest-knox and djangorestframework-api-key, each configured as its documentation shows."""

from __future__ import annotations

from typing import Any

from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework.authentication import TokenAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_api_key.permissions import HasAPIKey


class _Ok(APIView):
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response({"ok": True})


class NoAuth(_Ok):
    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []


class DrfToken(_Ok):
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]


class Knox(_Ok):
    authentication_classes = [KnoxTokenAuthentication]
    permission_classes = [IsAuthenticated]


class ApiKey(_Ok):
    authentication_classes: list[Any] = []
    permission_classes = [HasAPIKey]
