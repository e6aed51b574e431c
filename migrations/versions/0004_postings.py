"""postings: call records read from the CDR, postings to the PMS, PBX event reports

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 11:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('call_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('seen_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('extension', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('room', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('dialled', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('disposition', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('billsec', sa.Integer(), nullable=False),
    sa.Column('verdict', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('call_key', name='uq_call_record_key')
    )
    with op.batch_alter_table('call_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_record_seen_at'), ['seen_at'], unique=False)
        batch_op.create_index('ix_call_record_verdict_room', ['verdict', 'room', 'started_at'], unique=False)

    op.create_table('pbx_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('extension', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('handled', sa.Boolean(), nullable=False),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('pbx_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pbx_report_received_at'), ['received_at'], unique=False)

    op.create_table('posting',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('queued_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('room', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('amount', sa.Integer(), nullable=True),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('dialled', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('duration', sa.Integer(), nullable=True),
    sa.Column('call_start', sa.DateTime(), nullable=False),
    sa.Column('tariff', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('reposts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('settled_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('answer', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('settled_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.ForeignKeyConstraint(['call_id'], ['call_record.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('call_id')
    )
    with op.batch_alter_table('posting', schema=None) as batch_op:
        batch_op.create_index('ix_posting_channel_state', ['channel', 'state', 'id'], unique=False)
        batch_op.create_index('ix_posting_room_state', ['room', 'state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('posting', schema=None) as batch_op:
        batch_op.drop_index('ix_posting_room_state')
        batch_op.drop_index('ix_posting_channel_state')

    op.drop_table('posting')
    with op.batch_alter_table('pbx_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pbx_report_received_at'))

    op.drop_table('pbx_report')
    with op.batch_alter_table('call_record', schema=None) as batch_op:
        batch_op.drop_index('ix_call_record_verdict_room')
        batch_op.drop_index(batch_op.f('ix_call_record_seen_at'))

    op.drop_table('call_record')
