"""Checks of the authorization response itself, before the code is exchanged."""
from __future__ import annotations

from flask_babel import gettext as _

from ..traces.recorder import Trace
from .flow_errors import FlowError
from .oidc import client_for, expected_issuer, load_metadata
from .rules import provider_label


def check_response_issuer(provider: str, params: dict, trace: Trace) -> None:
    """RFC 9207: the authorization response names the issuer that sent it (mix-up defence).

    Compared whenever present; required when the provider's discovery advertises
    ``authorization_response_iss_parameter_supported``."""
    client = client_for(provider)
    metadata = client.server_metadata if "_loaded_at" in client.server_metadata \
        else load_metadata(provider, trace)
    advertised = metadata.get("authorization_response_iss_parameter_supported") is True
    iss = params.get("iss")
    if iss is None and not advertised:
        return
    expected = expected_issuer(provider)
    ok = iss == expected
    trace.add("check_response_iss", ok, iss=iss, expected_issuer=expected, advertised=advertised)
    if iss is None:
        raise FlowError("response_iss_missing", _(
            "%(provider)s's answer does not name its issuer, although %(provider)s says it always "
            "does (RFC 9207). It may come from another provider. Nothing was linked; please start "
            "again.", provider=provider_label(provider)))
    if not ok:
        raise FlowError("response_iss_mismatch", _(
            "This answer names a different issuer than %(provider)s (RFC 9207): it may come from "
            "another provider. Nothing was linked; please start again.",
            provider=provider_label(provider)))
