"""drift: differences between the PBX and the desired room state, found by reconciliation

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 10:40:00.000000
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('drift',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('room', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('extension', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('expected', sa.Text(), nullable=False),
    sa.Column('actual', sa.Text(), nullable=False),
    sa.Column('first_seen', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_seen', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('repair_attempts', sa.Integer(), nullable=False),
    sa.Column('last_repair_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('resolved_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('drift', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_drift_room'), ['room'], unique=False)
        batch_op.create_index('ix_drift_state_room', ['state', 'room'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('drift', schema=None) as batch_op:
        batch_op.drop_index('ix_drift_state_room')
        batch_op.drop_index(batch_op.f('ix_drift_room'))

    op.drop_table('drift')
