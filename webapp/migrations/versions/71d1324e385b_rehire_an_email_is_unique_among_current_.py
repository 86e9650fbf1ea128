"""Rehire: an email is unique among current work users only

A deleted work user keeps its row (history, Skills report removal date); a new work user may be
created with the same email, as a new row.

Revision ID: 71d1324e385b
Revises: 5e7a1c0d2b94
Create Date: 2026-12-04 17:25:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '71d1324e385b'
down_revision = '5e7a1c0d2b94'
branch_labels = None
depends_on = None

CURRENT = sa.text("deleted_at IS NULL")
# The initial schema's UniqueConstraint('email') has no name: PostgreSQL calls it
# work_users_email_key; SQLite's batch copy needs a naming convention to find it.
NAMING = {"uq": "%(table_name)s_%(column_0_name)s_key"}


def upgrade():
    with op.batch_alter_table('work_users', schema=None, naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint('work_users_email_key', type_='unique')
        batch_op.create_index('ix_work_users_email', ['email'], unique=False)
        batch_op.create_index('uq_work_users_current_email', ['email'], unique=True,
                              sqlite_where=CURRENT, postgresql_where=CURRENT)


def downgrade():
    with op.batch_alter_table('work_users', schema=None, naming_convention=NAMING) as batch_op:
        batch_op.drop_index('uq_work_users_current_email', sqlite_where=CURRENT,
                            postgresql_where=CURRENT)
        batch_op.drop_index('ix_work_users_email')
        batch_op.create_unique_constraint('work_users_email_key', ['email'])
