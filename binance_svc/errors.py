"""Errors the service answers with, as data: status, code, message, param.

Nothing here knows Flask; `web/` turns an ApiError into a response in the negotiated format.
The codes are the ones of docs/api.md ("Errors").
"""
from __future__ import annotations


class ApiError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, param: str | None = None, status: int | None = None,
                 retry_after: int | None = None, allowed: list | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if status is not None:
            self.status = status
        self.retry_after = retry_after
        self.allowed = allowed

    def to_dict(self) -> dict:
        body = {"status": self.status, "code": self.code, "message": self.message,
                "param": self.param}
        if self.allowed is not None:
            body["allowed"] = self.allowed
        return {"error": body}


class InvalidParameter(ApiError):
    status = 400
    code = "invalid_parameter"


class UnknownFormat(ApiError):
    status = 400
    code = "unknown_format"


class NotAcceptable(ApiError):
    status = 406
    code = "not_acceptable"


class UnknownSymbol(ApiError):
    status = 404
    code = "unknown_symbol"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ApiError):
    status = 405
    code = "method_not_allowed"


class UpstreamError(ApiError):
    """Base of the upstream failures: Binance, not the client, is at fault."""


class UpstreamRateLimited(UpstreamError):
    status = 503
    code = "upstream_rate_limited"


class UpstreamUnavailable(UpstreamError):
    status = 502
    code = "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class InternalError(ApiError):
    status = 500
    code = "internal_error"


# Every code a client can meet (the OpenAPI document's enum).
CODES = [cls.code for cls in (InvalidParameter, UnknownFormat, NotAcceptable, UnknownSymbol,
                              NotFound, MethodNotAllowed, UpstreamRateLimited,
                              UpstreamUnavailable, UpstreamTimeout, InternalError)]
