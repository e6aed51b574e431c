"""staff users and the minibar catalog of the web interface

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:30:00.000000
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('staff_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('session_epoch', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_login_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('minibar_bar',
    sa.Column('barcode', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('barname', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('prompt', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('verifyskip', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('listgoods', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
    sa.Column('pushed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('pushed_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('barcode')
    )
    op.create_table('minibar_goods',
    sa.Column('goodscode', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('goodsname', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('pushed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('pushed_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('goodscode')
    )
    op.create_table('minibar_waiter',
    sa.Column('maidcode', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('pushed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('pushed_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('maidcode')
    )


def downgrade() -> None:
    op.drop_table('minibar_waiter')
    op.drop_table('minibar_goods')
    op.drop_table('minibar_bar')
    op.drop_table('staff_user')
