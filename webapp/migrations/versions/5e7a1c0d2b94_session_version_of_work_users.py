"""Session version of work users (sign-out ends every session server-side)

Revision ID: 5e7a1c0d2b94
Revises: 149d75faa8c2
Create Date: 2026-12-04 14:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e7a1c0d2b94'
down_revision = '149d75faa8c2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('work_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('work_users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
