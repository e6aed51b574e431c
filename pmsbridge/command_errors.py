"""How a ``pmsbridge`` command fails: the exception it raises for an expected failure, and the exit codes.

The command line (``pmsbridge.cli``) sits above the modules that carry out its commands
(``*/commands.py``, the simulators' ``cli.py``): they raise :class:`CommandError` from here,
and the command line prints its message as one sentence on stderr. Nothing here imports
the rest of the package, so no command module has to import the command line back.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


class CommandError(Exception):
    """Raised by a command for an expected failure; the message is shown to the operator.

    The command ends with EXIT_FAILURE; the message is a sentence without the program name.
    """
