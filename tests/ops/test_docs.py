"""The integrator's docs: every `pmsbridge ...` command they show is one the program accepts."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from pmsbridge.cli import build_parser

DOCS = Path(__file__).parents[2] / "docs"
SHELL_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)


def shown_commands(path: Path) -> list[str]:
    commands = []
    for block in SHELL_BLOCK.findall(path.read_text(encoding="utf-8")):
        for line in (line.strip() for line in block.splitlines()):
            if line.startswith("pmsbridge "):
                commands.append(line.split("  #", 1)[0].strip())
    return commands


@pytest.mark.parametrize("name", ["INSTALL.md", "OPERATIONS.md"])
def test_every_command_in_the_docs_parses(name):
    commands = shown_commands(DOCS / name)
    assert commands, f"{name} shows no pmsbridge command"
    parser = build_parser()
    for command in commands:
        arguments = shlex.split(command)[1:]
        try:
            parsed = parser.parse_args(arguments)
        except SystemExit:
            pytest.fail(f"{name}: `{command}` is not a valid command")
        assert parsed.handler is not None


@pytest.mark.parametrize("name", ["INSTALL.md", "OPERATIONS.md"])
def test_shell_blocks_use_no_variable_they_do_not_set(name):
    """An integrator pastes the blocks as they are: a $VARIABLE nobody set expands to nothing."""
    blocks = SHELL_BLOCK.findall((DOCS / name).read_text(encoding="utf-8"))
    assigned = {match for block in blocks for match in re.findall(r"^\s*(?:export\s+)?([A-Za-z_]\w*)=", block, re.M)}
    used = {match for block in blocks for match in re.findall(r"\$\{?([A-Za-z_]\w*)", block)}
    assert used - assigned == set()


def test_install_covers_ports_opera_python_and_hotel_time():
    text = (DOCS / "INSTALL.md").read_text(encoding="utf-8")
    for needed in ("## Ports and firewall", "## Python per distribution", "Ubuntu 22.04", "python3.11 -m venv",
                   "transaction code", "pmsbridge sim fias", "`bridge.timezone`", "/pbx/report", 'mode = "server"'):
        assert needed in text, needed
