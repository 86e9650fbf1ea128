"""The trainer's demo stories, built from the demo data itself.

Accounts come from ``webapp.demo.seed`` (work users) and ``common.demo_accounts`` (personal
accounts at the providers): a story that names an account missing from the data fails loudly
instead of sending a trainer to an account that does not exist.

Each step says what to do (``text``, shown on the guide), what a trainer does, as data
(``action``), and what the page then shows (``shows``) or no longer shows (``hides``), with the
app's own sentences: tests/webapp/test_stories.py runs every story from this very data, step by
step, and checks every promise. Dates are counted from the day the story starts: a story that
moves the clock starts with the demo reset (the clock is then real time again).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import current_app, url_for
from flask_babel import format_date, gettext as _
from sqlalchemy import select

from common.demo_accounts import CATALOG, DEMO_ACCOUNTS

from .. import clock
from ..extensions import db
from ..linking import rules
from ..models import LEARN, PARTNER_UNIVERSITY, ROLE_GLOBAL_ADMIN, WorkUser
from ..reports.credit import skills_report_removal_date
from ..template_helpers import long_date
from ..traces.routes import step_label
from .seed import DEMO_LINKS, DEMO_ORGANIZATIONS, DEMO_WORK_USERS

# Pages of Partner Center the stories send the trainer to (a renamed page fails the tests).
CLOCK_PAGE = "admin.clock"
USERS_PAGE = "admin.users"
REPORTS_PAGE = "reports.index"  # where "Refresh data now" is
SKILLS_REPORT_PAGE = "reports.skills"
PROFILE_PAGE = "profile.profile"

# What a trainer does in a step (Action.kind).
RESET, SIGN_IN, LINK, REMOVE, OPEN = "reset", "sign_in", "link", "remove", "open"
MOVE_CLOCK, REFRESH, DELETE_USER = "move_clock", "refresh", "delete_user"
LATEST_TRACE = "latest_trace"  # "See what happened" on My Learn profile
COMPLETE, GENERATE_MCID, ATTACH_MSA = "complete", "generate_mcid", "attach_msa"  # at the provider


@dataclass
class Action:
    kind: str
    user: str = ""     # the Partner Center work user who acts (or the provider account, at the provider)
    account: str = ""  # the personal account at the provider
    value: str = ""    # a page's path, an ISO date, a catalog item, an email


@dataclass
class Step:
    text: str
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, url)
    action: Action | None = None
    shows: list[str] = field(default_factory=list)  # sentences the page then shows
    hides: list[str] = field(default_factory=list)  # and those it no longer shows


@dataclass
class Story:
    key: str
    title: str
    summary: str
    work_users: list[dict]
    provider_accounts: list[dict]
    steps: list[Step]
    reset_first: bool = False  # starts with the demo reset (the story moves the clock)


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


def _days_ago(email: str) -> int:
    return next(days for work_email, *_rest, days in DEMO_LINKS if work_email == email)


class _Steps:
    """The steps every story is made of, with their links and promises."""

    def __init__(self, admin: dict):
        self.admin = admin
        self.login = url_for("auth.login")
        self.profile = url_for(PROFILE_PAGE)

    def reset(self) -> Step:
        return Step(_("Sign in as %(admin)s (the installation operator), open Demo guide → Reset demo…, tick "
                      "the confirmation and reset: the story's dates count from today's real date.",
                      admin=self.admin["email"]),
                    [],  # the button is on this page, for the operator only
                    Action(RESET, self.admin["email"]),
                    [_("The demo was reset to its seeded state: links, traces, users and the clock. Sign in again.")])

    def sign_in(self, user: dict, text: str, shows: list[str]) -> Step:
        return Step(text, _links((_("Partner Center sign-in"), self.login)),
                    Action(SIGN_IN, user["email"]), shows)

    def link(self, user: dict, account: dict, shows: list[str] | None = None, text: str = "",
             sign_in_as: str = "") -> Step:
        button = (_("Associate Microsoft Learning Account") if account["provider"] == LEARN
                  else _("Get Partner University Access"))
        provider = rules.provider_label(account["provider"])
        email = sign_in_as or account["email"]
        text = text or _("Sign in to Partner Center as %(user)s. On My Learn profile select \"%(button)s\", "
                         "sign in at %(provider)s as %(account)s (select \"Use another account\" if "
                         "%(provider)s offers another one) and allow the access.",
                         user=user["email"], button=button, provider=provider, account=email)
        linked = _("Your %(provider)s account %(email)s is now linked to your work account.",
                   provider=provider, email=email)
        return Step(text, _links((_("Partner Center sign-in"), self.login),
                                 (provider, provider_url(account["issuer"], "/"))),
                    Action(LINK, user["email"], email, account["provider"]),
                    [linked] if shows is None else shows)

    def open(self, user: dict, endpoint: str, text: str, shows: list[str], hides=()) -> Step:
        label = {PROFILE_PAGE: _("My Learn profile"), SKILLS_REPORT_PAGE: _("Skills report")}[endpoint]
        return Step(text, _links((_("Partner Center sign-in"), self.login), (label, url_for(endpoint))),
                    Action(OPEN, user["email"], value=url_for(endpoint)), shows, list(hides))

    def move_clock(self, to_day: date) -> Step:
        return Step(_("Sign in as %(admin)s (the installation operator) and move the clock to %(date)s on the "
                      "clock page, or run: flask --app webapp clock set %(iso)s. The banner at the top shows the "
                      "simulated date; the providers date completions by it too.",
                      admin=self.admin["email"], date=long_date(to_day), iso=to_day.isoformat()),
                    _links((_("Clock"), url_for(CLOCK_PAGE))),
                    Action(MOVE_CLOCK, self.admin["email"], value=to_day.isoformat()),
                    [_("The simulated date is now %(date)s.", date=long_date(to_day))])

    def refresh(self) -> Step:
        return Step(_("Sign in as %(admin)s, open Reports and select \"Refresh data now\" (or run: flask --app "
                      "webapp refresh-data). The refresh worker runs it in the background: reload the "
                      "page until its progress says it is done.", admin=self.admin["email"]),
                    _links((_("Reports"), url_for(REPORTS_PAGE))),
                    Action(REFRESH, self.admin["email"]),
                    # The summary's first words (its counts depend on the data): English, for the tests.
                    ["Data refreshed from"])


def stories() -> list[Story]:
    contoso = DEMO_ORGANIZATIONS[0]["partner_id"]
    admin = global_admin_of(contoso)
    steps = _Steps(admin)
    profile = steps.profile
    cool_off_days = rules.COOL_OFF.days
    learn, university = rules.provider_label(LEARN), rules.provider_label(PARTNER_UNIVERSITY)
    certification = next(key for key, item in CATALOG.items() if item["kind"] == "certification")
    # The day a story starts: the clock stories start from the demo reset, which puts the clock
    # back to real time; the others do not depend on the date.
    start = clock.real_now().date()
    today = clock.today()  # the stories that do not move the clock happen on the day they are run

    alex, alex_learn = work_user("alex@contoso.com"), provider_account("alex.learner@outlook.com")
    mia_contoso, mia_fabrikam = work_user("mia@contoso.com"), work_user("mia@fabrikam.com")
    mia_learn = provider_account("mia.mover@outlook.com")
    nina, nina_learn = work_user("nina@contoso.com"), provider_account("nina.nomcid@outlook.com")
    walt, walt_learn = work_user("walt@contoso.com"), provider_account("walt.work@contoso.com")
    walt_msa = "walt.personal@outlook.com"
    carl, carl_learn = work_user("carl@contoso.com"), provider_account("carl.cooloff@outlook.com")
    priya, priya_learn = work_user("priya@contoso.com"), provider_account("priya.pending@outlook.com")
    pat, pat_pu = work_user("pat@contoso.com"), provider_account("pat.pu@outlook.com")
    pat_assessments = [i["code"] for i in pat_pu["transcript"] if i["kind"] == "assessment"]

    carl_opens = start - timedelta(days=_days_ago(carl["email"])) + rules.COOL_OFF
    priya_credit = start + timedelta(days=10)  # completed on the day the story starts
    pat_credit = start + timedelta(days=10)  # linked on the day the story starts
    pat_listed_until = skills_report_removal_date(pat_credit)  # deleted once credited

    return [
        Story("new-employee", _("A new employee links Microsoft Learn"),
              _("The whole OpenID Connect round trip, then the flow inspector showing every hop."),
              [alex], [alex_learn], [
                  steps.link(alex, alex_learn),
                  steps.open(alex, PROFILE_PAGE, _(
                      "Back on My Learn profile: the Learn account, the MCID %(mcid)s and the date of the "
                      "association are shown.", mcid=alex_learn["mcid"]),
                      [alex_learn["email"], alex_learn["mcid"], _("Linked on")]),
                  Step(_("Select \"See what happened\": the flow inspector lists the authorization request "
                         "(PKCE, state, nonce), the redirect back, the token exchange, the decoded ID token and "
                         "every check, with secrets shortened."), _links((_("Flow inspector"), url_for("traces.index"))),
                       Action(LATEST_TRACE, alex["email"]),
                       [step_label(step) for step in ("authorization_request", "redirect_back", "token_request",
                                                      "id_token_decoded", "check_signature", "check_nonce")]
                       + ["code_challenge_method", "S256", _("Linked")]),
              ]),
        Story("mcid-moves", _("An employee moves from %(old)s to %(new)s and the MCID follows",
                               old=mia_contoso["organization"], new=mia_fabrikam["organization"]),
              _("One MCID belongs to one organization at a time: linking it at the new employer ends the "
                "old link, which stays in the history."),
              [mia_contoso, mia_fabrikam], [mia_learn], [
                  steps.sign_in(mia_contoso, _(
                      "Sign in as %(user)s: MCID %(mcid)s is linked at %(old)s (the demo data linked it "
                      "%(days)s days ago).", user=mia_contoso["email"], mcid=mia_learn["mcid"],
                      old=mia_contoso["organization"], days=_days_ago(mia_contoso["email"])),
                      [mia_learn["email"], mia_learn["mcid"]]),
                  steps.link(mia_fabrikam, mia_learn, text=_(
                      "Sign in as %(new_user)s, select \"Associate Microsoft Learning Account\" and sign in at "
                      "Microsoft Learn as %(account)s: the MCID is linked at %(new)s, and the profile says its "
                      "link with %(old)s ended automatically.", new_user=mia_fabrikam["email"],
                      account=mia_learn["email"], new=mia_fabrikam["organization"],
                      old=mia_contoso["organization"]),
                      shows=[_("Your %(provider)s account %(email)s is now linked to your work account.",
                               provider=learn, email=mia_learn["email"]),
                             _("Your %(provider)s account %(email)s was moved here on %(date)s: its link with "
                               "%(org)s ended automatically.", provider=learn, email=mia_learn["email"],
                               date=long_date(today), org=mia_contoso["organization"])]),
                  steps.open(mia_fabrikam, PROFILE_PAGE, _(
                      "Every move counts as an association: the profile shows the next available date, "
                      "%(days)s days after the move.", days=cool_off_days),
                      [_("Next available association date: %(date)s",
                         date=long_date(today + rules.COOL_OFF))]),
                  steps.sign_in(mia_contoso, _(
                      "Sign in as %(old_user)s again: the profile says the account %(account)s was linked to "
                      "another organization and unlinked here automatically; the history shows the ended "
                      "association.", old_user=mia_contoso["email"], account=mia_learn["email"]),
                      [_("Your %(provider)s account %(email)s was linked to another organization or work "
                         "account on %(date)s, so it was unlinked here automatically.", provider=learn,
                         email=mia_learn["email"], date=long_date(today)),
                       _("No account is linked."), _("Association history")]),
              ]),
        Story("no-mcid", _("A Learn profile without MCID: generate it, then link"),
              _("Partner Center links a Learn profile only once its certification profile has an MCID."),
              [nina], [nina_learn], [
                  steps.link(nina, nina_learn, shows=[_(
                      "Your Learn profile has no MCID yet. Sign in to Microsoft Learn, complete your "
                      "certification profile so that an MCID is generated, then select Associate Microsoft "
                      "Learning Account again.")], text=_(
                      "Sign in as %(user)s, select \"Associate Microsoft Learning Account\" and sign in at "
                      "Microsoft Learn as %(account)s: Partner Center refuses, and says how to get an MCID.",
                      user=nina["email"], account=nina_learn["email"])),
                  Step(_("At Microsoft Learn, signed in as %(account)s, open the certification profile, enter a "
                         "legal name and a country and save: the MCID is generated.", account=nina_learn["email"]),
                       _links((_("Certification profile"), provider_url("learn", "/account/certification-profile"))),
                       Action(GENERATE_MCID, nina_learn["email"]),
                       [_("Your Microsoft Certification profile ID (MCID):")]),
                  steps.link(nina, nina_learn),
              ]),
        Story("work-account", _("A work account at Learn: attach a personal MSA, then link"),
              _("Partner Center links the personal Microsoft account (MSA) of a Learn profile, not a work "
                "account."),
              [walt], [walt_learn], [
                  steps.link(walt, walt_learn, shows=[_(
                      "You signed in to Microsoft Learn with a work (Microsoft Entra ID) account. Sign in to "
                      "your Learn profile, open Settings > Account management and associate your personal "
                      "Microsoft account (MSA); then select Associate Microsoft Learning Account again and "
                      "sign in with that personal account.")], text=_(
                      "Sign in as %(user)s, select \"Associate Microsoft Learning Account\" and sign in at "
                      "Microsoft Learn as %(account)s: Partner Center refuses the work account, with guidance.",
                      user=walt["email"], account=walt_learn["email"])),
                  Step(_("At Microsoft Learn, signed in as %(account)s, open Settings and add the personal "
                         "Microsoft account %(msa)s, with the demo password.", account=walt_learn["email"], msa=walt_msa),
                       _links((_("Learn settings"), provider_url("learn", "/account/settings"))),
                       Action(ATTACH_MSA, walt_learn["email"], value=walt_msa),
                       [_("Your personal Microsoft account was added to your Learn profile.")]),
                  steps.link(walt, walt_learn, sign_in_as=walt_msa),
                  steps.open(walt, PROFILE_PAGE, _("My Learn profile shows %(msa)s with the MCID %(mcid)s of the "
                                                   "Learn profile.", msa=walt_msa, mcid=walt_learn["mcid"]),
                             [walt_msa, walt_learn["mcid"]]),
              ]),
        Story("cool-off", _("The %(days)s-day cool-off refuses a second association", days=cool_off_days),
              _("Associations are limited per individual: %(days)s days between two, three a year.",
                days=cool_off_days),
              [carl], [carl_learn], [
                  steps.reset(),
                  steps.sign_in(carl, _(
                      "Sign in as %(user)s: %(account)s is linked (the demo data linked it %(days)s days ago), "
                      "and the profile shows the next available association date.", user=carl["email"],
                      account=carl_learn["email"], days=_days_ago(carl["email"])),
                      [carl_learn["email"], _("Next available association date: %(date)s",
                                              date=long_date(carl_opens))]),
                  Step(_("Select \"Remove access\"."), _links((_("My Learn profile"), profile)),
                       Action(REMOVE, carl["email"], value=LEARN),
                       [_("Access removed: %(email)s is no longer linked to your work account.",
                          email=carl_learn["email"])]),
                  steps.link(carl, carl_learn, text=_(
                      "Associate %(account)s again: Partner Center refuses and names the next available date.",
                      account=carl_learn["email"]), shows=[rules.limit_message("cool_off", carl_opens)]),
                  steps.move_clock(carl_opens),
                  steps.link(carl, carl_learn, text=_(
                      "Sign in as %(user)s and associate again: it is accepted on the date the message named.",
                      user=carl["email"])),
              ], reset_first=True),
        Story("credit-pending", _("A certification completed today is pending, then credited"),
              _("Certifications and assessments count for the organization ten days after the later of "
                "their completion and the link."),
              [priya], [priya_learn], [
                  steps.reset(),
                  steps.sign_in(priya, _("Sign in as %(user)s: %(account)s is already linked.", user=priya["email"],
                                         account=priya_learn["email"]), [priya_learn["email"]]),
                  Step(_("At Microsoft Learn, sign in as %(account)s, open the account page and complete %(item)s: "
                         "it is dated %(date)s, Partner Center's date.", account=priya_learn["email"],
                         item=certification, date=long_date(start)),
                       _links((_("Learn account page"), provider_url("learn", "/account"))),
                       Action(COMPLETE, priya_learn["email"], value=certification),
                       # The provider's transcript shows the day in its medium format.
                       [_("Completed: %(title)s", title=CATALOG[certification]["title"]),
                        format_date(start, "medium")]),
                  steps.refresh(),
                  steps.open(priya, PROFILE_PAGE, _(
                      "Sign in as %(user)s: My Learn profile shows %(item)s as \"%(status)s\".", user=priya["email"],
                      item=certification, status=_("Pending — expected %(date)s", date=long_date(priya_credit))),
                      [_("Pending — expected %(date)s", date=long_date(priya_credit))]),
                  steps.move_clock(priya_credit),
                  steps.refresh(),
                  steps.open(priya, PROFILE_PAGE, _(
                      "Sign in as %(user)s: %(item)s is now \"%(status)s\".", user=priya["email"], item=certification,
                      status=_("Credited on %(date)s", date=long_date(priya_credit))),
                      [_("Credited on %(date)s", date=long_date(priya_credit))]),
                  steps.open(admin, SKILLS_REPORT_PAGE, _(
                      "Sign in as %(admin)s: the Skills report lists %(item)s for %(user)s, credited to %(org)s.",
                      admin=admin["email"], item=certification, user=priya["name"], org=priya["organization"]),
                      [certification, _("completed %(completed)s, credited %(credited)s",
                                        completed=long_date(start), credited=long_date(priya_credit))]),
              ], reset_first=True),
        Story("deleted-user", _("A deleted user leaves the Skills report at the next refresh"),
              _("A deleted work account can no longer sign in; the Skills report keeps its exams until the "
                "data refresh date, the 10th of the following month."),
              [pat, admin], [pat_pu], [
                  steps.reset(),
                  steps.link(pat, pat_pu),
                  steps.refresh(),
                  steps.open(pat, PROFILE_PAGE, _(
                      "Sign in as %(user)s: My Learn profile shows the assessments \"%(status)s\": they count ten "
                      "days after the link.", user=pat["email"],
                      status=_("Pending — expected %(date)s", date=long_date(pat_credit))),
                      [_("Pending — expected %(date)s", date=long_date(pat_credit))]),
                  steps.move_clock(pat_credit),
                  steps.refresh(),
                  steps.open(admin, SKILLS_REPORT_PAGE, _(
                      "The Skills report lists %(user)s's assessments %(codes)s.", user=pat["name"],
                      codes=", ".join(pat_assessments)), [pat["email"], *pat_assessments]),
                  Step(_("On the users page delete the work user %(user)s. The Skills report still lists them "
                         "until %(date)s.", user=pat["email"], date=long_date(pat_listed_until)),
                       _links((_("Users"), url_for(USERS_PAGE))),
                       Action(DELETE_USER, admin["email"], value=pat["email"]),
                       [_("Work user %(email)s deleted. They can no longer sign in. Their exams leave the "
                          "Skills report at its next data refresh, around the 10th of next month.",
                          email=pat["email"])]),
                  steps.open(admin, SKILLS_REPORT_PAGE, _("The Skills report marks %(user)s as deleted, listed until "
                                                          "%(date)s.", user=pat["name"],
                                                          date=long_date(pat_listed_until)),
                             [_("Deleted on %(date)s — listed until %(until)s", date=long_date(pat_credit),
                                until=long_date(pat_listed_until))]),
                  steps.move_clock(pat_listed_until + timedelta(days=1)),
                  steps.refresh(),
                  steps.open(admin, SKILLS_REPORT_PAGE, _("%(user)s is no longer in the Skills report.",
                                                          user=pat["name"]), [], hides=[pat["email"]]),
              ], reset_first=True),
    ]
