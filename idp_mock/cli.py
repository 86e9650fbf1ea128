"""Flask CLI commands: ``flask --app idp_mock <command>``."""

from __future__ import annotations

import datetime as dt

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade

from .clients import register_configured_clients
from .config import ISSUERS
from .demo import DEMO_ACCOUNTS
from .demo import DEMO_PASSWORD
from .demo import reset_demo
from .demo import seed_demo
from .keys import rotate_signing_key
from .models import db
from .services import AccountError
from .services import add_transcript_item
from .services import create_account
from .services import find_account
from .services import generate_mcid
from .services import QA_CLIENT_SCOPE
from .services import register_qa_client

ISSUER_CHOICE = click.Choice(list(ISSUERS))


def _discovery_url(issuer: str) -> str:
    base = current_app.config["IDP_PUBLIC_URL"].rstrip("/")
    return f"{base}/{issuer}/.well-known/openid-configuration"


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Upgrade the database to the latest migration (same as `flask db upgrade`)."""
    upgrade()
    register_configured_clients(current_app)
    click.echo("Initialized the identity provider database.")


@click.command("seed-demo")
@with_appcontext
def seed_demo_command():
    """Create the demo accounts (idempotent)."""
    created = seed_demo()
    click.echo(f"Created {len(created)} demo account(s); "
               f"{len(DEMO_ACCOUNTS) - len(created)} already existed.")
    for entry in DEMO_ACCOUNTS:
        click.echo(f"  {entry['issuer']:<19} {entry['email']:<28} {entry['kind']:<8} "
                   f"MCID {entry['mcid'] or '-'}")
    click.echo(f"Password for all demo accounts: {DEMO_PASSWORD}")


@click.command("reset-demo")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def reset_demo_command(yes):
    """Delete every account, code and token, then re-create the demo accounts."""
    if not yes:
        click.confirm("Delete every account (demo accounts are re-created), code and token?",
                      abort=True)
    created = reset_demo()
    click.echo(f"Providers reset: {len(created)} demo account(s) re-created; "
               "other accounts, codes and tokens deleted.")


@click.command("create-account")
@click.option("--issuer", type=ISSUER_CHOICE, required=True)
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--name", required=True, help="Display name.")
@click.option("--work", is_flag=True, help="Create a work account (Learn only).")
@click.option("--mcid", default=None, help="Give the profile this MCID.")
@click.option("--generate-mcid", "gen_mcid", is_flag=True, help="Generate an MCID.")
@click.option("--no-msa", is_flag=True,
              help="Learn: the profile has no personal MSA (implied by --work).")
@with_appcontext
def create_account_command(issuer, email, password, name, work, mcid, gen_mcid, no_msa):
    """Create a sign-in account with its own profile."""
    if mcid and gen_mcid:
        raise click.UsageError("Use either --mcid or --generate-mcid.")
    if issuer != "learn" and (work or mcid or gen_mcid):
        raise click.UsageError("--work and MCIDs are only available on Learn.")
    if no_msa and not work:
        raise click.UsageError(
            "--no-msa needs --work: a profile without a personal MSA is one "
            "whose only account is a work account."
        )
    if gen_mcid:
        mcid = generate_mcid(issuer)
    try:
        account = create_account(
            issuer, email, password, name, kind="work" if work else "personal", mcid=mcid
        )
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Created {account.kind} account {account.email} on {issuer} "
               f"(sub {account.subject}, MCID {account.profile.mcid or '-'}).")


@click.command("add-transcript-item")
@click.option("--issuer", type=ISSUER_CHOICE, required=True)
@click.option("--email", required=True)
@click.option("--kind", type=click.Choice(["certification", "assessment", "training"]),
              required=True)
@click.option("--code", default=None)
@click.option("--title", required=True)
@click.option("--level", type=click.Choice(["intermediate", "advanced"]), default=None)
@click.option("--completed", default=None, help="YYYY-MM-DD (default: today).")
@with_appcontext
def add_transcript_item_command(issuer, email, kind, code, title, level, completed):
    """Add a completed item to an account's transcript."""
    account = find_account(issuer, email)
    if account is None:
        raise click.ClickException(f"No {issuer} account {email}.")
    try:
        completed_at = dt.date.fromisoformat(completed) if completed else None
    except ValueError as exc:
        raise click.BadParameter("use YYYY-MM-DD", param_hint="--completed") from exc
    item = add_transcript_item(account.profile, kind, title, code=code, level=level,
                               completed_at=completed_at)
    click.echo(f"Added {item.kind} {item.code or item.title} ({item.public_id}) "
               f"completed {item.completed_at.isoformat()} for {account.email}.")


@click.command("add-client")
@click.option("--issuer", type=ISSUER_CHOICE, required=True)
@click.option("--client-id", required=True)
@click.option("--client-secret", default=None,
              help="The secret of a confidential client (not with --public).")
@click.option("--public", is_flag=True,
              help="A public client (SPA, native app): no secret, PKCE only, "
                   "no client credentials grant.")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
@click.option("--post-logout-redirect-uri", "post_logout_uris", multiple=True)
@click.option("--name", required=True, help="Client name shown on the consent page.")
@click.option("--scope", default=QA_CLIENT_SCOPE, show_default=True)
@click.option("--require-nonce", is_flag=True,
              help="Refuse authorization requests without a nonce.")
@click.option("--always-ask-consent", is_flag=True,
              help="Show the consent page on every flow (never remember consent).")
@with_appcontext
def add_client_command(issuer, client_id, client_secret, public, redirect_uris,
                       post_logout_uris, name, scope, require_nonce, always_ask_consent):
    """Register (or update) a relying party client."""
    try:
        register_qa_client(
            issuer, client_id, list(redirect_uris), client_name=name,
            client_secret=client_secret, public=public,
            post_logout_redirect_uris=list(post_logout_uris), scope=scope,
            require_nonce=require_nonce, always_ask_consent=always_ask_consent)
    except AccountError as exc:
        raise click.UsageError(f"{exc} Use --client-secret, or --public alone.") from exc
    db.session.commit()
    click.echo(f"Client {client_id} registered on {ISSUERS[issuer]['name']}"
               f" ({'public' if public else 'confidential'}).")
    click.echo(f"Discovery: {_discovery_url(issuer)}")
    click.echo(f"Client ID: {client_id}")


@click.command("rotate-signing-key")
@click.option("--issuer", type=ISSUER_CHOICE, required=True)
@click.option("--retire-previous", is_flag=True,
              help="Also remove previous keys from the JWKS now.")
@click.option("--grace-seconds", type=click.IntRange(min=0), default=None,
              help="Seconds previous keys stay in the JWKS "
                   "(default IDP_KEY_ROTATION_GRACE_SECONDS).")
@with_appcontext
def rotate_signing_key_command(issuer, retire_previous, grace_seconds):
    """Create a new active signing key for an issuer."""
    key = rotate_signing_key(issuer, retire_previous=retire_previous,
                             grace_seconds=grace_seconds)
    click.echo(f"New signing key for {issuer}: kid {key.kid}")


def register_cli(app) -> None:
    for command in (
        init_db_command,
        seed_demo_command,
        reset_demo_command,
        create_account_command,
        add_transcript_item_command,
        add_client_command,
        rotate_signing_key_command,
    ):
        app.cli.add_command(command)
