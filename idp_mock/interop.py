"""Standards the providers follow for any relying party, as Authlib extensions and hooks:

- RFC 9207: the ``iss`` parameter in every authorization response (success and error);
- RFC 6749 2.3.1: HTTP Basic client credentials are form-urlencoded ("+" is a space);
- RFC 7636: PKCE with ``S256`` on every code flow, public and confidential clients alike;
- RFC 6750 3.1: a request to a protected resource with no bearer token gets a challenge
  without an error code;
- OIDC Core 6: request objects (``request``, ``request_uri``) are refused with
  ``request_not_supported`` / ``request_uri_not_supported`` rather than silently ignored.
"""
from __future__ import annotations

import base64
import binascii
import logging
from urllib.parse import parse_qs, unquote_plus, urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2.rfc6749.errors import MissingAuthorizationError
from authlib.oauth2.rfc6749.errors import UnsupportedTokenTypeError
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import g
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core.errors import RequestNotSupportedError
from authlib.oidc.core.errors import RequestURINotSupportedError

from .issuers import issuer_url

log = logging.getLogger(__name__)

#: The server hook the RFC 9207 extension registers (run by :func:`add_issuer`).
AUTHORIZATION_RESPONSE_HOOK = "after_create_authorization_response"


class IssuerResponseParameter(IssuerParameter):
    """Authlib's RFC 9207 extension, naming one issuer, that adds ``iss`` to an answer once:
    Authlib runs it after ``create_authorization_response``, and :func:`add_issuer` runs it
    again on whatever the authorization endpoint answers."""

    def __init__(self, issuer: str):
        self.issuer = issuer

    def get_issuer(self) -> str:
        return issuer_url(self.issuer)

    def add_issuer_parameter(self, authorization_server, response):
        # RFC 6749 3.1: a response parameter MUST NOT be included more than once.
        location = response.location
        if location and self.get_issuer() in parse_qs(urlsplit(location).query).get("iss", ()):
            return
        super().add_issuer_parameter(authorization_server, response)


def add_issuer(server, response):
    """Run the RFC 9207 hook on an authorize-endpoint answer. Authlib runs it only on the
    answers of ``create_authorization_response``; the endpoint's other answers (a request refused
    before a grant is chosen, ``prompt=none``, request objects) get it here. Only a redirect to the
    client (a ``Location``) is changed."""
    server.execute_hook(AUTHORIZATION_RESPONSE_HOOK, response)
    return response


def basic_credentials(headers) -> tuple[str | None, str | None]:
    """Client id and secret of an ``Authorization: Basic`` header, each form-urlencoded by the
    client (RFC 6749 2.3.1): "+" is a space and %XX an octet."""
    scheme, _sep, value = (headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None, None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None, None
    return unquote_plus(client_id), unquote_plus(secret)


def authenticate_client_secret_basic(query_client, request):
    """Authlib's ``client_secret_basic`` with the RFC's decoding (Authlib's own keeps "+")."""
    client_id, client_secret = basic_credentials(request.headers)
    if client_id and client_secret:
        client = query_client(client_id)
        if client is None:
            raise InvalidClientError(status_code=401,
                                     description="The client does not exist on this server.")
        if client.check_client_secret(client_secret):
            return client
    log.debug("client_secret_basic authentication failed")
    return None


#: What Authlib raises when a request sent no bearer token at all (none, or another scheme).
NO_BEARER_TOKEN = (MissingAuthorizationError, UnsupportedTokenTypeError)


class NoBearerTokenError(OAuth2Error):
    """A request with no bearer token is told how to authenticate and nothing more (RFC 6750
    3.1: it "SHOULD NOT include an error code"), not Authlib's ``missing_authorization``."""

    status_code = 401

    def get_body(self):
        return []

    def get_headers(self):
        return super().get_headers() + [
            ("WWW-Authenticate", f'Bearer realm="{issuer_url(g.issuer)}"')]


class IssuerResourceProtector(ResourceProtector):
    """Authlib's resource protector with the RFC 6750 3.1 answer to a request without token."""

    def raise_error_response(self, error):
        if isinstance(error, NO_BEARER_TOKEN):
            error = NoBearerTokenError()
        super().raise_error_response(error)


class RequestObjectsNotSupported:
    """Grant extension: a request carrying ``request`` or ``request_uri`` is answered with the
    OIDC error for it, at the client's redirect_uri (after its client and redirect_uri passed)."""

    def __call__(self, grant):
        grant.register_hook("after_validate_authorization_request_payload", self.refuse)

    @staticmethod
    def refuse(grant, redirect_uri):
        data = grant.request.payload.data
        if "request" in data:
            raise RequestNotSupportedError(
                "Request objects ('request') are not supported.", redirect_uri=redirect_uri)
        if "request_uri" in data:
            raise RequestURINotSupportedError(
                "Request objects by reference ('request_uri') are not supported.",
                redirect_uri=redirect_uri)


class S256CodeChallenge(CodeChallenge):
    """PKCE is mandatory and only ``S256`` is accepted."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": CodeChallenge.CODE_CHALLENGE_METHODS["S256"]}

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge' (PKCE is required).")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be 'S256'.")
        return super().validate_code_challenge(grant, redirect_uri)
