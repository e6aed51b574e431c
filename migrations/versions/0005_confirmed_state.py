"""confirmed state: what the PBX holds per room, refused fields, and how deliveries ended

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 08:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL in confirmed/expected means "as desired": rows written before this revision were
    # derived from the desired state and their deliveries were all queued.
    with op.batch_alter_table('room_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirmed', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('expected', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('refused', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('degraded', sa.Text(), nullable=True))
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('note', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_column('note')
    with op.batch_alter_table('room_state', schema=None) as batch_op:
        batch_op.drop_column('degraded')
        batch_op.drop_column('refused')
        batch_op.drop_column('expected')
        batch_op.drop_column('confirmed')
