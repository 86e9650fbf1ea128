"""The trainer's demo stories, built from the demo data itself.

Accounts come from ``webapp.demo.seed`` (work users) and ``common.demo_accounts`` (personal
accounts at the providers): a story that names an account missing from the data fails loudly
instead of sending a trainer to an account that does not exist.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import current_app, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from common.demo_accounts import CATALOG, DEMO_ACCOUNTS

from .. import clock
from ..extensions import db
from ..linking import rules
from ..models import LEARN, PARTNER_UNIVERSITY, ROLE_GLOBAL_ADMIN, WorkUser
from ..profile import service as profile_service
from ..reports.credit import credit_date, skills_report_removal_date
from ..template_helpers import long_date
from .seed import DEMO_LINKS, DEMO_ORGANIZATIONS, DEMO_WORK_USERS

# Pages of Partner Center the stories send the trainer to (a renamed page fails the tests).
CLOCK_PAGE = "admin.clock"
USERS_PAGE = "admin.users"
REPORTS_PAGE = "reports.index"  # where "Refresh data now" is
SKILLS_REPORT_PAGE = "reports.skills"


@dataclass
class Step:
    text: str
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, url)


@dataclass
class Story:
    key: str
    title: str
    summary: str
    work_users: list[dict]
    provider_accounts: list[dict]
    steps: list[Step]


def work_user(email: str) -> dict:
    orgs = {o["partner_id"]: o for o in DEMO_ORGANIZATIONS}
    for partner_id, user_email, name, roles, purpose in DEMO_WORK_USERS:
        if user_email == email:
            return {"email": user_email, "name": name, "roles": list(roles), "purpose": purpose,
                    "organization": orgs[partner_id]["name"], "partner_id": partner_id}
    raise KeyError(f"{email} is not a demo work user")


def global_admin_of(partner_id: str) -> dict:
    return next(work_user(email) for pid, email, _n, roles, _p in DEMO_WORK_USERS
                if pid == partner_id and ROLE_GLOBAL_ADMIN in roles)


def provider_account(email: str) -> dict:
    for entry in DEMO_ACCOUNTS:
        if entry["email"] == email:
            return {**entry, "provider": LEARN if entry["issuer"] == "learn" else PARTNER_UNIVERSITY}
    raise KeyError(f"{email} is not a demo provider account")


def provider_url(issuer: str, path: str = "/") -> str:
    return f"{current_app.config['IDP_PUBLIC_URL'].rstrip('/')}/{issuer}{path}"


def _links(*pairs) -> list[tuple[str, str]]:
    return [(label, url) for label, url in pairs if url]


def _demo_user(email: str) -> WorkUser | None:
    return db.session.scalar(select(WorkUser).where(WorkUser.email == email, WorkUser.deleted_at.is_(None)))


def _move_clock_step(to_day: date, admin: dict) -> Step:
    """Move the one clock to a day, from the clock page or the command line."""
    return Step(_("Sign in as %(admin)s (the installation operator) and move the clock to %(date)s on the clock "
                  "page, or run: flask --app webapp clock set %(iso)s. The banner at the top shows the "
                  "simulated date.", admin=admin["email"], date=long_date(to_day), iso=to_day.isoformat()),
                _links((_("Clock"), url_for(CLOCK_PAGE))))


def _refresh_step(admin: dict, outcome: str) -> Step:
    return Step(_("Sign in as %(admin)s, open Reports and select \"Refresh data now\" (or run: flask --app "
                  "webapp refresh-data). %(outcome)s", admin=admin["email"], outcome=outcome),
                _links((_("Reports"), url_for(REPORTS_PAGE)), (_("Skills report"), url_for(SKILLS_REPORT_PAGE))))


def stories() -> list[Story]:
    contoso = DEMO_ORGANIZATIONS[0]["partner_id"]
    admin = global_admin_of(contoso)
    login = url_for("auth.login")
    profile = url_for("profile.profile")
    traces = url_for("traces.index")
    learn_account = provider_url("learn", "/account")
    cool_off_days = rules.COOL_OFF.days
    certification = next(key for key, item in CATALOG.items() if item["kind"] == "certification")
    today = clock.today()

    alex, alex_learn = work_user("alex@contoso.com"), provider_account("alex.learner@outlook.com")
    mia_contoso, mia_fabrikam = work_user("mia@contoso.com"), work_user("mia@fabrikam.com")
    mia_learn = provider_account("mia.mover@outlook.com")
    carl, carl_learn = work_user("carl@contoso.com"), provider_account("carl.cooloff@outlook.com")
    priya, priya_learn = work_user("priya@contoso.com"), provider_account("priya.pending@outlook.com")
    pat, pat_pu = work_user("pat@contoso.com"), provider_account("pat.pu@outlook.com")

    # Dates from the data as it is now, so the guide names the days a trainer moves the clock to.
    carl_days_ago = next((days for email, *_rest, days in DEMO_LINKS if email == carl["email"]), 0)
    carl_user = _demo_user(carl["email"])
    carl_opens = profile_service.profile_section(carl_user, LEARN).next_date if carl_user else today
    if carl_opens <= today:  # no association yet (or the cool-off is over): one from today
        carl_opens = today + rules.COOL_OFF
    priya_credit = credit_date(today, today)
    pat_listed_until = skills_report_removal_date(today)

    def link_step(user: dict, account: dict) -> Step:
        button = (_("Associate Microsoft Learning Account") if account["provider"] == LEARN
                  else _("Get Partner University Access"))
        return Step(_("Sign in to Partner Center as %(user)s. On My Learn profile select \"%(button)s\", "
                      "sign in at %(provider)s as %(account)s and allow the access.",
                      user=user["email"], button=button,
                      provider=rules.provider_label(account["provider"]), account=account["email"]),
                    _links((_("Partner Center sign-in"), login),
                           (rules.provider_label(account["provider"]),
                            provider_url(account["issuer"], "/"))))

    return [
        Story("new-employee", _("A new employee links Microsoft Learn"),
              _("The whole OpenID Connect round trip, then the flow inspector showing every hop."),
              [alex], [alex_learn], [
                  link_step(alex, alex_learn),
                  Step(_("Back on My Learn profile: the Learn account, the MCID %(mcid)s and the date "
                         "of the association are shown.", mcid=alex_learn["mcid"]), _links((_("My Learn profile"), profile))),
                  Step(_("Select \"See what happened\": the flow inspector lists the authorization request "
                         "(PKCE, state, nonce), the redirect back, the token exchange, the decoded ID token "
                         "and every check, with secrets shortened."), _links((_("Flow inspector"), traces))),
              ]),
        Story("mcid-moves", _("An employee moves from %(old)s to %(new)s and the MCID follows",
                               old=mia_contoso["organization"], new=mia_fabrikam["organization"]),
              _("One MCID belongs to one organization at a time: linking it at the new employer ends the "
                "old link, which stays in the history."),
              [mia_contoso, mia_fabrikam], [mia_learn], [
                  # The demo data already holds this story: linked at Contoso 40 days ago, at
                  # Fabrikam 5 days ago (webapp.demo.DEMO_LINKS).
                  Step(_("Sign in as %(old_user)s: the profile says the account %(account)s was linked to "
                         "another organization and unlinked here automatically; the history shows the "
                         "ended association.", old_user=mia_contoso["email"], account=mia_learn["email"]),
                       _links((_("Partner Center sign-in"), login))),
                  Step(_("Sign in as %(new_user)s: MCID %(mcid)s is linked at %(new)s, and the profile says "
                         "it was moved from %(old)s.", new_user=mia_fabrikam["email"], mcid=mia_learn["mcid"],
                         new=mia_fabrikam["organization"], old=mia_contoso["organization"]),
                       _links((_("My Learn profile"), profile))),
                  Step(_("Every move counts as an association: the profile shows the next available date, "
                         "%(days)s days after the move.", days=cool_off_days),
                       _links((_("My Learn profile"), profile))),
              ]),
        Story("cool-off", _("The %(days)s-day cool-off refuses a second association", days=cool_off_days),
              _("Associations are limited per individual: %(days)s days between two, three a year.",
                days=cool_off_days),
              [carl], [carl_learn], [
                  Step(_("Sign in as %(user)s: %(account)s is linked (the demo data linked it %(days)s days "
                         "ago), and the profile shows the next available association date.",
                         user=carl["email"], account=carl_learn["email"], days=carl_days_ago),
                       _links((_("Partner Center sign-in"), login))),
                  Step(_("Select \"Remove access\", then associate %(account)s again: Partner Center refuses "
                         "and names the next available date.", account=carl_learn["email"]),
                       _links((_("My Learn profile"), profile))),
                  _move_clock_step(carl_opens, admin),
                  Step(_("Sign in as %(user)s and associate again: it is accepted on the date the message "
                         "named.", user=carl["email"]), _links((_("My Learn profile"), profile))),
              ]),
        Story("credit-pending", _("A certification completed today is pending, then credited"),
              _("Certifications and assessments count for the organization ten days after the later of "
                "their completion and the link."),
              [priya], [priya_learn], [
                  Step(_("Sign in as %(user)s: %(account)s is already linked.", user=priya["email"],
                         account=priya_learn["email"]), _links((_("Partner Center sign-in"), login))),
                  Step(_("At Microsoft Learn, signed in as %(account)s, open the account page and complete "
                         "%(item)s: it is dated today.", account=priya_learn["email"], item=certification),
                       _links((_("Learn account page"), learn_account))),
                  _refresh_step(admin, _("%(user)s's My Learn profile and the Skills report show %(item)s as "
                                         "pending, credited on %(date)s.", user=priya["name"], item=certification,
                                         date=long_date(priya_credit))),
                  _move_clock_step(priya_credit, admin),
                  _refresh_step(admin, _("%(item)s is now credited to %(org)s.", item=certification,
                                         org=priya["organization"])),
              ]),
        Story("deleted-user", _("A deleted user leaves the Skills report at the next refresh"),
              _("A deleted work account can no longer sign in; the Skills report keeps its exams until the "
                "data refresh date, the 10th of the following month."),
              [pat, admin], [pat_pu], [
                  link_step(pat, pat_pu),
                  _refresh_step(admin, _("The Skills report lists %(user)s's assessments.", user=pat["name"])),
                  Step(_("On the users page delete the work user %(user)s. The Skills report still lists "
                         "them until %(date)s.", user=pat["email"], date=long_date(pat_listed_until)),
                       _links((_("Users"), url_for(USERS_PAGE)))),
                  _move_clock_step(pat_listed_until + timedelta(days=1), admin),
                  _refresh_step(admin, _("%(user)s is no longer in the Skills report.", user=pat["name"])),
              ]),
    ]
