"""How a failed hop of the linking flow is told: FlowError (the user's message and the failed
check, for QA) and the messages shared by several hops."""
from __future__ import annotations

from flask_babel import gettext as _, ngettext

from .backchannel import BackChannelLimit, ResponseTooLarge
from .rules import provider_label


class FlowError(Exception):
    """A failed hop. ``message`` is for the user; ``check`` names what failed, for QA."""

    def __init__(self, check: str, message: str, transient: bool = False, outcome: str = "failed"):
        super().__init__(message)
        self.check = check
        self.message = message
        self.transient = transient
        self.outcome = outcome


def could_not_load(provider: str, what: str) -> str:
    """A transient failure to fetch a provider document, naming which one."""
    if what == "discovery":
        return _("%(provider)s's discovery document could not be loaded. Nothing was linked; "
                 "please try again in a moment.", provider=provider_label(provider))
    return _("%(provider)s's signing keys (JWKS) could not be loaded. Nothing was linked; "
             "please try again in a moment.", provider=provider_label(provider))


def limit_problem(exc: BackChannelLimit) -> str:
    """How a limit shows in the trace."""
    return "too_large" if isinstance(exc, ResponseTooLarge) else "timeout"


def limit_error(provider: str, what: str, exc: BackChannelLimit) -> FlowError:
    """A back-channel call past its deadline or size cap: the same clear message for every
    call, the check named after the call (``token_timeout``, ``jwks_too_large``...)."""
    label = provider_label(provider)
    if isinstance(exc, ResponseTooLarge):
        return FlowError(f"{what}_too_large", _(
            "%(provider)s sent an answer too large (%(what)s, over %(size)s KiB). Nothing was "
            "linked; please try again later or contact your administrator.", provider=label,
            what=what, size=exc.max_bytes // 1024), transient=True)
    return FlowError(f"{what}_timeout", ngettext(
        "%(provider)s did not answer in time (%(what)s, %(seconds)s second). Nothing was "
        "linked; please try again in a moment.",
        "%(provider)s did not answer in time (%(what)s, %(seconds)s seconds). Nothing was "
        "linked; please try again in a moment.", exc.seconds, provider=label, what=what,
        seconds=f"{exc.seconds:g}"), transient=True)


def token_endpoint_failed(provider: str, problem: str) -> str:
    """A transient token endpoint failure, naming what went wrong."""
    return _("%(provider)s's token endpoint failed (%(problem)s). Nothing was linked; "
             "please try again in a moment.", provider=provider_label(provider), problem=problem)


def describe_provider_error(provider: str, error: str, description: str | None) -> FlowError:
    label = provider_label(provider)
    if error == "access_denied":
        return FlowError("access_denied", _("You cancelled the sign-in at %(provider)s; nothing was linked.",
                                            provider=label), outcome="cancelled")
    if error == "login_required":
        return FlowError("authorize_login_required", _(
            "%(provider)s asked you to sign in again (login_required). Nothing was linked; start "
            "again and sign in at %(provider)s.", provider=label))
    if error == "consent_required":
        return FlowError("authorize_consent_required", _(
            "%(provider)s needs your consent to share your profile (consent_required). Nothing was "
            "linked; start again and choose Allow at %(provider)s.", provider=label))
    if error in {"temporarily_unavailable", "server_error"}:
        return FlowError(f"authorize_{error}", _(
            "%(provider)s could not complete the sign-in (%(error)s). Nothing was linked; "
            "please try again in a moment.", provider=label, error=error), transient=True)
    return FlowError(f"authorize_{error}", _(
        "%(provider)s refused the sign-in (%(error)s). Nothing was linked; start again and "
        "complete the sign-in at %(provider)s.", provider=label, error=error))
