"""ledger tables

Revision ID: 0001
Revises:
Create Date: 2026-11-27 10:13:09.469365
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('room', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entry_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entry_room'), ['room'], unique=False)

    op.create_table('inbound_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('source_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('room', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.Column('parsed', sa.Text(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('problem', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'source_key', name='uq_inbound_source_key')
    )
    with op.batch_alter_table('inbound_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_event_received_at'), ['received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_event_room'), ['room'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_event_source'), ['source'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_event_status'), ['status'], unique=False)

    op.create_table('ledger_value',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('room_state',
    sa.Column('room', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('attention', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('room')
    )
    op.create_table('delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('operation', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('room', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('target_room', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('fields', sa.Text(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('claimed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('delivered_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('request', sa.Text(), nullable=True),
    sa.Column('uncertain', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['inbound_event.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_event_id'), ['event_id'], unique=False)
        batch_op.create_index('ix_delivery_room_state', ['room', 'state'], unique=False)
        batch_op.create_index('ix_delivery_state_due', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_delivery_state_id', ['state', 'id'], unique=False)
        batch_op.create_index('ix_delivery_target_state', ['target_room', 'state'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_target_state')
        batch_op.drop_index('ix_delivery_state_id')
        batch_op.drop_index('ix_delivery_state_due')
        batch_op.drop_index('ix_delivery_room_state')
        batch_op.drop_index(batch_op.f('ix_delivery_event_id'))

    op.drop_table('delivery')
    op.drop_table('room_state')
    op.drop_table('ledger_value')
    with op.batch_alter_table('inbound_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_event_status'))
        batch_op.drop_index(batch_op.f('ix_inbound_event_source'))
        batch_op.drop_index(batch_op.f('ix_inbound_event_room'))
        batch_op.drop_index(batch_op.f('ix_inbound_event_received_at'))

    op.drop_table('inbound_event')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entry_room'))
        batch_op.drop_index(batch_op.f('ix_audit_entry_at'))

    op.drop_table('audit_entry')
