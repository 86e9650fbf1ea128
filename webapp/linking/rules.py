"""Partner Center's linking rules, as plain functions of dates and accounts (no database).

- Learn prerequisites: a personal Microsoft account on the Learn profile, and an MCID.
- The 30-day cool-off between two associations of one individual.
- The yearly cap: at most three associations in 365 days.

Each rule's constant stands next to the function that applies it, and its message next to both.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import format_date, gettext as _

from ..models import LEARN


@dataclass
class PersonalAccount:
    """What the provider told us about the personal account that signed in."""

    provider: str
    issuer: str
    subject: str
    email: str
    display_name: str
    account_type: str | None = "personal"  # None: the provider did not say
    mcid: str | None = None


class LinkRefused(Exception):
    """A link the rules do not allow; ``message`` is shown to the user as is."""

    def __init__(self, code: str, message: str, next_date: date | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.next_date = next_date


def provider_label(provider: str) -> str:
    return _("Microsoft Learn") if provider == LEARN else _("Partner University")


def identity_key_for(account: PersonalAccount) -> str:
    # Limits are per individual: per MCID at Learn, per account at Partner University.
    if account.provider == LEARN:
        return account.mcid or ""
    return f"{account.issuer}|{account.subject}"


# --------------------------------------------------------------------------- Learn prerequisites

def check_learn_prerequisites(account: PersonalAccount) -> None:
    """The seeds' prerequisites: a personal MSA on the Learn profile, and a generated MCID."""
    if account.provider != LEARN:
        return
    if account.account_type is None:
        # LEARN_ACCOUNT_TYPE_WHEN_ABSENT=refuse: a provider that does not say is not taken for
        # a personal Microsoft account.
        raise LinkRefused("account_type_missing", _(
            "Microsoft Learn did not say which kind of account signed in (no account_type claim), "
            "so Partner Center cannot tell that it is a personal Microsoft account (MSA). Nothing "
            "was linked; contact your administrator."))
    if account.account_type != "personal":
        # Seeds: "Sign in to the Learn profile with the Microsoft Entra account. In Settings >
        # Account management, associate the personal Microsoft account (MSA)."
        raise LinkRefused("work_account", _(
            "You signed in to Microsoft Learn with a work (Microsoft Entra ID) account. Sign in to "
            "your Learn profile, open Settings > Account management and associate your personal "
            "Microsoft account (MSA); then select Associate Microsoft Learning Account again and "
            "sign in with that personal account."))
    if not account.mcid:
        # Seeds: "Ensure that certification profile is complete and MCID is generated."
        raise LinkRefused("no_mcid", _(
            "Your Learn profile has no MCID yet. Sign in to Microsoft Learn, complete your "
            "certification profile so that an MCID is generated, then select Associate Microsoft "
            "Learning Account again."))


# --------------------------------------------------------------------------- cool-off and yearly cap

# The 30-day cool-off: an association started on day D allows the next one on D + 30.
COOL_OFF = timedelta(days=30)
# The yearly cap: at most ASSOCIATIONS_PER_WINDOW associations started in ASSOCIATION_WINDOW.
ASSOCIATION_WINDOW = timedelta(days=365)
ASSOCIATIONS_PER_WINDOW = 3


def next_association_date(starts: list[datetime], on: date) -> tuple[date | None, str | None]:
    """First day a new association is allowed, and which limit sets it.

    ``starts`` are the start dates of the individual's newest associations, newest first (only
    the newest ASSOCIATIONS_PER_WINDOW can matter: those in the window are the newest ones).
    Days are whole UTC calendar days: an association started on day D allows the next one
    on D + 30; the yearly cap counts associations started in the 365 days up to ``on``.
    Returns (None, None) when a new association is allowed on ``on``.
    """
    candidates: list[tuple[date, str]] = []
    if starts:
        candidates.append((starts[0].date() + COOL_OFF, "cool_off"))
    in_window = [s.date() for s in starts if s.date() > on - ASSOCIATION_WINDOW]
    if len(in_window) >= ASSOCIATIONS_PER_WINDOW:
        # The window frees up when the oldest of the last three leaves it.
        candidates.append((in_window[ASSOCIATIONS_PER_WINDOW - 1] + ASSOCIATION_WINDOW, "yearly_cap"))
    blocking = [c for c in candidates if c[0] > on]
    if not blocking:
        return None, None
    return max(blocking)


def limit_message(reason: str, next_date: date) -> str:
    """The seeds' wording for a refusal by the cool-off (``cool_off``) or the cap (``yearly_cap``)."""
    when = format_date(next_date, format="long")
    if reason == "yearly_cap":
        return _("You've attempted to associate with a partner organization. However, an individual "
                 "is limited to three associations a year. Your next available date for a subsequent "
                 "association is %(date)s.", date=when)
    return _("You've attempted to associate with a partner organization. However, we require a "
             "period of 30 days between associations. Your next available date for a subsequent "
             "association is %(date)s.", date=when)
