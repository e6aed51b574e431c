"""ha lease: the leader's lease row and the members seen, for two servers on one ledger

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ha_lease',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('holder', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('member_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('token', sa.Integer(), nullable=False),
    sa.Column('since', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('renewed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('ha_member',
    sa.Column('member', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('member_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('seen_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('member')
    )
    with op.batch_alter_table('ha_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ha_member_seen_at'), ['seen_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ha_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ha_member_seen_at'))
    op.drop_table('ha_member')
    op.drop_table('ha_lease')
