"""`flask --app webapp ...` commands for administrators and trainers."""
import click
from sqlalchemy import select

from . import services
from .demo import seed_demo
from .extensions import db
from .models import ROLES, Organization


def register_cli(app) -> None:
    @app.cli.command("init-db")
    def init_db_command():
        """Create the tables (idempotent)."""
        db.create_all()
        click.echo("Database ready.")

    @app.cli.command("seed-demo")
    def seed_demo_command():
        """Create the demo organizations and work users (idempotent)."""
        created = seed_demo()
        click.echo(f"Demo data ready: {created['organizations']} organizations and "
                   f"{created['work_users']} work users created.")

    @app.cli.command("create-org")
    @click.option("--name", required=True)
    @click.option("--partner-id", required=True)
    def create_org_command(name, partner_id):
        """Create a partner organization."""
        try:
            org = services.create_organization(name, partner_id)
        except services.ValidationError as exc:
            raise click.ClickException(str(exc))
        click.echo(f"Organization {org.name} (partner ID {org.partner_id}) created.")

    @app.cli.command("create-user")
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
            user = services.create_work_user(org, email, display_name, password, list(roles))
        except services.ValidationError as exc:
            raise click.ClickException(str(exc))
        click.echo(f"Work user {user.email} created in {org.name}.")
