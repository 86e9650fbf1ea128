"""The latest sign-in of a work user

Revision ID: 2ec174d4efcf
Revises: 71d1324e385b
Create Date: 2026-12-04 17:27:12.193278

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2ec174d4efcf'
down_revision = '71d1324e385b'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('work_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_signed_in_at', sa.DateTime(), nullable=True))



def downgrade():
    with op.batch_alter_table('work_users', schema=None) as batch_op:
        batch_op.drop_column('last_signed_in_at')

