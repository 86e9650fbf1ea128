"""A provider's home page and account pages (transcript, personal account, certification
profile), and the list of issuers at ``/``."""
from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _

from common.demo_accounts import CATALOG

from .. import consents
from ..errors import provider_error
from ..config import ISSUERS
from ..models import db
from ..services import AccountError, add_transcript_item, create_account, generate_mcid
from ..sessions import current_account, require_account
from .blueprint import bp, root
from .forms import (AttachMsaForm, CertificationProfileForm, CompleteItemForm,
                    RevokeConsentForm, SignOutForm)


def learn_only():
    if g.issuer != "learn":
        abort(404)


@bp.get("/")
def home():
    return render_template("idp/home.html", account=current_account())


@bp.get("/account")
def account():
    acct = require_account()
    form = CompleteItemForm(formdata=None)
    form.item.choices = catalog_choices()
    return render_template(
        "idp/account.html",
        account=acct,
        profile=acct.profile,
        complete_form=form,
        signout_form=SignOutForm(formdata=None),
        consents=consents.of_account(g.issuer, acct.id),
        revoke_form=RevokeConsentForm(formdata=None),
    )


@bp.post("/account/consents/<int:consent_id>/revoke")
def revoke_consent(consent_id: int):
    """Forget what the account allowed one app: its next sign-in asks again."""
    acct = require_account()
    form = RevokeConsentForm()
    if not form.validate_on_submit():
        return provider_error(_("Your session expired"), _("Please try again."))
    if not consents.revoke(g.issuer, acct.id, consent_id):
        abort(404)
    flash(_("The app will ask for your permission next time."), "success")
    return redirect(url_for("pages.account"))


def catalog_choices():
    return [(key, f"{key} — {item['title']}") for key, item in CATALOG.items()]


@bp.post("/account/transcript")
def account_transcript():
    acct = require_account()
    form = CompleteItemForm()
    form.item.choices = catalog_choices()
    if form.validate_on_submit():
        entry = CATALOG[form.item.data]
        add_transcript_item(
            acct.profile,
            entry["kind"],
            entry["title"],
            code=entry["code"],
            level=entry["level"],
        )
        flash(_("Completed: %(title)s", title=entry["title"]), "success")
    else:
        flash(_("Please choose an item from the catalog."), "error")
    return redirect(url_for("pages.account"))


@bp.route("/account/settings", methods=["GET", "POST"])
def account_settings():
    learn_only()
    acct = require_account()
    profile = acct.profile
    form = AttachMsaForm()
    can_attach = acct.kind == "work" and not profile.has_personal_account
    if can_attach and form.validate_on_submit():
        try:
            create_account(
                g.issuer,
                form.email.data,
                form.password.data,
                profile.display_name,
                kind="personal",
                profile=profile,
            )
        except AccountError:
            form.email.errors.append(_("An account with this email already exists."))
        else:
            flash(_("Your personal Microsoft account was added to your Learn profile."),
                  "success")
            return redirect(url_for("pages.account_settings"))
    return render_template(
        "idp/settings.html",
        account=acct,
        profile=profile,
        form=form,
        can_attach=can_attach,
    )


@bp.route("/account/certification-profile", methods=["GET", "POST"])
def certification_profile():
    learn_only()
    acct = require_account()
    profile = acct.profile
    form = CertificationProfileForm(obj=profile)
    if form.validate_on_submit():
        profile.legal_name = form.legal_name.data.strip()
        profile.country = form.country.data.strip()
        created = profile.mcid is None
        if created:
            profile.mcid = generate_mcid(g.issuer)
        db.session.commit()
        if created:
            flash(_("Your certification profile is complete. Your MCID is %(mcid)s.",
                    mcid=profile.mcid), "success")
        else:
            flash(_("Your certification profile was updated."), "success")
        return redirect(url_for("pages.certification_profile"))
    return render_template(
        "idp/certification_profile.html", account=acct, profile=profile, form=form
    )


@root.get("/")
def index():
    base = current_app.config["IDP_PUBLIC_URL"].rstrip("/")
    issuers = [
        {
            "slug": slug,
            "name": info["name"],
            "issuer": f"{base}/{slug}",
            "discovery": f"{base}/{slug}/.well-known/openid-configuration",
        }
        for slug, info in ISSUERS.items()
    ]
    return render_template("idp/index.html", issuers=issuers)
