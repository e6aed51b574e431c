"""Two or more servers, one bridge: leader election and fencing on the PostgreSQL ledger.

``lease`` holds the SQL of the lease row and the members' table, ``leadership`` the thread
that seeks, renews and loses the lease and the gates fed by it, ``commands`` the
``pmsbridge ha status`` command. ``pmsbridge.service`` decides what runs on the leader only.
"""
