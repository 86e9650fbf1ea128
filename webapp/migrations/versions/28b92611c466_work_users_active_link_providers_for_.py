"""Work users' active link providers and items, for the report pages

link_flags: 1 for an active Microsoft Learn link, 2 for an active Partner University link;
active_items: the achievements on the active links; last_credit_on: their latest credit date
(webapp/user_summary.py keeps the three equal to the links and achievements); filled here.

Revision ID: 28b92611c466
Revises: d7c9e40b1225
Create Date: 2026-12-04 18:11:10.804098

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '28b92611c466'
down_revision = 'd7c9e40b1225'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('work_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('link_flags', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('active_items', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('last_credit_on', sa.Date(), nullable=True))
    op.execute(
        "UPDATE work_users SET link_flags = COALESCE((SELECT SUM(CASE linked_accounts.provider"
        " WHEN 'learn' THEN 1 WHEN 'partner-university' THEN 2 ELSE 0 END) FROM linked_accounts"
        " WHERE linked_accounts.work_user_id = work_users.id AND linked_accounts.ended_at IS NULL), 0),"
        " active_items = (SELECT COUNT(*) FROM achievements JOIN linked_accounts"
        " ON linked_accounts.id = achievements.link_id WHERE achievements.work_user_id = work_users.id"
        " AND linked_accounts.ended_at IS NULL),"
        " last_credit_on = (SELECT MAX(achievements.credit_on) FROM achievements JOIN linked_accounts"
        " ON linked_accounts.id = achievements.link_id WHERE achievements.work_user_id = work_users.id"
        " AND linked_accounts.ended_at IS NULL)")
    with op.batch_alter_table('work_users', schema=None) as batch_op:
        batch_op.create_index('ix_work_users_org_deleted_links', ['organization_id', 'deleted_at', 'link_flags', 'active_items'], unique=False)
        batch_op.create_index('ix_work_users_org_deleted_credit', ['organization_id', 'deleted_at', 'last_credit_on'], unique=False)
        batch_op.create_index('ix_work_users_org_email_links', ['organization_id', 'email', 'deleted_at', 'link_flags'], unique=False)


def downgrade():
    with op.batch_alter_table('work_users', schema=None) as batch_op:
        batch_op.drop_index('ix_work_users_org_email_links')
        batch_op.drop_index('ix_work_users_org_deleted_links')
        batch_op.drop_index('ix_work_users_org_deleted_credit')
        batch_op.drop_column('last_credit_on')
        batch_op.drop_column('active_items')
        batch_op.drop_column('link_flags')
