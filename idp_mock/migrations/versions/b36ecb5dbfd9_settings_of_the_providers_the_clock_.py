"""Settings of the providers: the clock offset Partner Center shares

Revision ID: b36ecb5dbfd9
Revises: 7b1dda5df2b8
Create Date: 2026-12-04 17:10:43.448079

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b36ecb5dbfd9'
down_revision = '7b1dda5df2b8'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('idp_settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade():
    op.drop_table('idp_settings')
