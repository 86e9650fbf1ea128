"""`flask --app webapp ...` commands for administrators and trainers (top-level commands)."""
import re
import time
from datetime import timedelta

import click
from flask import Blueprint, current_app
from flask_migrate import upgrade
from sqlalchemy import select

from . import simulated_clock
from .clock import clock_offset, now, real_now
from .demo.reset import reset_demo_data, reset_providers
from .demo.seed import seed_demo
from .extensions import db
from .models import ROLES, Organization
from .provider_control import share_clock
from .reports.jobs import queue_due_refreshes, run_queued_jobs
from .reports.refresh import RefreshError, refresh_transcripts
from .reports.skilling_points import skilling_points_config
from .skilling_summary import sync_metrics
from .traces.recorder import purge_old_traces
from .users import create_organization, create_work_user
from .validation import ValidationError

bp = Blueprint("cli", __name__, cli_group=None)


@bp.cli.command("init-db")
def init_db_command():
    """Upgrade the database to the latest migration (same as `flask db upgrade`)."""
    upgrade()
    click.echo("Database ready.")


@bp.cli.command("seed-demo")
def seed_demo_command():
    """Create the demo organizations, work users and links (idempotent)."""
    created = seed_demo()
    click.echo(f"Demo data ready: {created['organizations']} organizations, "
               f"{created['work_users']} work users and {created['links']} links created.")


@bp.cli.command("skilling-points-sync")
def skilling_points_sync_command():
    """Keep the Skilling counts of the certification lists in webapp/data/skilling_points.json
    (run after editing those lists; thresholds and points need nothing)."""
    with db.engine.begin() as connection:
        sync_metrics(connection, skilling_points_config())
    click.echo("Skilling points counts ready.")


@bp.cli.command("purge-traces")
def purge_traces_command():
    """Delete link traces older than LINK_TRACE_RETENTION_DAYS."""
    deleted = purge_old_traces()
    click.echo(f"Deleted {deleted} link trace(s) older than "
               f"{current_app.config['LINK_TRACE_RETENTION_DAYS']} days.")


@bp.cli.command("reset-demo")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--providers", is_flag=True,
              help="Also reset the identity providers through their QA control API.")
def reset_demo_command(yes, providers):
    """Back to the seeded demo: empty every table (clock included) and seed again."""
    if not yes:
        click.confirm("Delete every link, trace and user you created, and reset the clock?", abort=True)
    created = reset_demo_data()
    click.echo(f"Partner Center reset: {created['organizations']} organizations and "
               f"{created['work_users']} work users seeded; the clock is real time.")
    if providers:
        result = reset_providers()
        if not result.done:
            raise click.ClickException(f"The providers were not reset ({result.detail}); "
                                       "run: flask --app idp_mock reset-demo")
        click.echo("Identity providers reset.")
    else:
        # Partner Center's clock is real time again: so is the date the providers give completions.
        shared = share_clock(timedelta(0))
        if not shared.done:
            click.echo(f"The providers were not told the clock is real time again ({shared.detail}).")


@bp.cli.command("refresh-data")
def refresh_data_command():
    """Pull every linked account's transcript from the providers now (the data refresh)."""
    try:
        result = refresh_transcripts()
    except RefreshError as exc:
        raise click.ClickException(exc.message)
    click.echo(result.summary())
    if result.errors:
        raise click.ClickException("\n".join(result.errors))


def _echo_jobs(jobs) -> None:
    for job in jobs:
        click.echo(f"Refresh {job.id} of organization {job.organization_id}: {job.status}, "
                   f"{job.users_done}/{job.users_total} users, {job.added} added, {job.updated} updated, "
                   f"{job.removed} removed, {job.errors} errors.")
        if job.message:
            click.echo(f"  {job.message}")


@bp.cli.command("refresh-due")
@click.option("--no-run", is_flag=True, help="Only queue the due refreshes (a worker runs them).")
def refresh_due_command(no_run):
    """Queue the refresh of every organization whose daily time (simulated clock) has passed since
    its last refresh, then run the queued refreshes. Meant for a cron job or systemd timer."""
    queued = queue_due_refreshes()
    click.echo(f"{len(queued)} organization refresh(es) queued.")
    if not no_run:
        _echo_jobs(run_queued_jobs())


@bp.cli.command("refresh-worker")
@click.option("--once", is_flag=True, help="Run what is queued, then stop.")
@click.option("--poll", default=5.0, show_default=True, help="Seconds between looks at the queue.")
@click.option("--schedule", is_flag=True, help="Also queue the daily refreshes that are due.")
def refresh_worker_command(once, poll, schedule):
    """Run queued data refreshes (those the Reports page asks for) as they come."""
    while True:
        if schedule:
            queue_due_refreshes()
        _echo_jobs(run_queued_jobs())
        db.session.remove()
        if once:
            return
        time.sleep(poll)


@bp.cli.command("set-refresh-time")
@click.option("--partner-id", required=True)
@click.option("--at", "at", default=None, help="HH:MM of the simulated clock; omit for REFRESH_DAILY_AT.")
def set_refresh_time_command(partner_id, at):
    """Set the daily time an organization's data is refreshed (`flask refresh-due`)."""
    if at is not None and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", at):
        raise click.BadParameter("use HH:MM, 00:00 to 23:59", param_hint="--at")
    organization = db.session.scalar(select(Organization).where(Organization.partner_id == partner_id))
    if organization is None:
        raise click.ClickException(f"No organization with partner ID {partner_id}.")
    organization.refresh_time = at
    db.session.commit()
    click.echo(f"{organization.name}: daily data refresh at "
               f"{at or current_app.config['REFRESH_DAILY_AT'] + ' (default)'} (simulated clock).")


@bp.cli.command("create-org")
@click.option("--name", required=True)
@click.option("--partner-id", required=True)
def create_org_command(name, partner_id):
    """Create a partner organization."""
    try:
        org = create_organization(name, partner_id)
    except ValidationError as exc:
        raise click.ClickException(str(exc))
    click.echo(f"Organization {org.name} (partner ID {org.partner_id}) created.")


@bp.cli.command("create-user")
@click.option("--partner-id", required=True, help="Partner ID of the user's organization.")
@click.option("--email", required=True)
@click.option("--name", "display_name", required=True)
@click.option("--password", required=True, prompt=True, hide_input=True)
@click.option("--role", "roles", multiple=True, type=click.Choice(ROLES),
              help="Repeat for several roles; none makes a plain user.")
def create_user_command(partner_id, email, display_name, password, roles):
    """Create a work user in an organization."""
    org = db.session.scalar(select(Organization).where(Organization.partner_id == partner_id))
    if org is None:
        raise click.ClickException(f"No organization with partner ID {partner_id}.")
    try:
        user = create_work_user(org, email, display_name, password, list(roles))
    except ValidationError as exc:
        raise click.ClickException(str(exc))
    click.echo(f"Work user {user.email} created in {org.name}.")


@bp.cli.group("clock")
def clock_group():
    """Show or move the simulated clock every date rule reads (demo mode)."""


def _require_demo_mode():
    if not current_app.config.get("DEMO_MODE"):
        raise click.ClickException("The simulated clock is only available in demo mode (DEMO_MODE=true).")


def _show(providers=None):
    offset_days = clock_offset().total_seconds() / 86400
    click.echo(f"Simulated now: {now():%Y-%m-%d %H:%M} UTC")
    click.echo(f"Real now:      {real_now():%Y-%m-%d %H:%M} UTC")
    click.echo(f"Offset:        {offset_days:g} days")
    if providers is not None:
        click.echo("Providers:     " + ("date completions by this clock" if providers.done else
                                       f"not told ({providers.detail}); they keep their own date"))


@clock_group.command("show")
def clock_show():
    """Print the simulated and the real date."""
    _show()


@clock_group.command("set")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="YYYY-MM-DD")
def clock_set(day):
    """Move the simulated clock to a date."""
    _require_demo_mode()
    try:
        providers = simulated_clock.set_clock(day.date())
    except ValidationError as exc:
        raise click.ClickException(exc.message)
    _show(providers)


@clock_group.command("advance")
@click.argument("days", type=click.IntRange(min=1))
def clock_advance(days):
    """Move the simulated clock forward by N days."""
    _require_demo_mode()
    try:
        providers = simulated_clock.advance_clock(days)
    except ValidationError as exc:
        raise click.ClickException(exc.message)
    _show(providers)


@clock_group.command("reset")
def clock_reset():
    """Back to real time."""
    providers = simulated_clock.reset_clock()
    _show(providers)
