"""``pmsbridge sim fias``: run the FIAS PMS simulator until Ctrl-C or SIGTERM.

Prints every record it sends (``->``) and receives (``<-``). With ``--script`` it runs the
script, then stays up; with ``--random`` it checks guests in and out by itself; on a
terminal it reads commands from stdin (``help`` lists them).
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from pmsbridge.adapters.fias.protocol import Record
from pmsbridge.ports import is_address_in_use, port_in_use
from pmsbridge.sim.fias.options import SimulatorOptions
from pmsbridge.sim.fias.script import COMMANDS_HELP, ScriptError, parse_script, run_script
from pmsbridge.sim.fias.simulator import FiasSimulator

EXIT_OK, EXIT_USAGE = 0, 2
MAX_ROOMS = 10_000

_ROOM_RANGE = re.compile(r"(?P<first>[0-9]+)-(?P<last>[0-9]+)")


def parse_rooms(text: str) -> list[str]:
    """Room numbers from ``101-140`` ranges and single rooms, comma separated.

    A range starting with a zero keeps the width of its first room (``0101-0103``).
    Raises argparse.ArgumentTypeError with a sentence naming the bad part.
    """
    rooms: list[str] = []
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        match = _ROOM_RANGE.fullmatch(part)
        if match is None:
            rooms.append(part)
            continue
        first, last = int(match["first"]), int(match["last"])
        if first > last:
            raise argparse.ArgumentTypeError(f"room range {part} runs backwards")
        if last - first >= MAX_ROOMS:
            raise argparse.ArgumentTypeError(f"room range {part} has more than {MAX_ROOMS} rooms")
        width = len(match["first"]) if match["first"].startswith("0") else 0
        rooms += [str(number).zfill(width) for number in range(first, last + 1)]
    if not rooms:
        raise argparse.ArgumentTypeError("no rooms given")
    return rooms


def _posting_answer(text: str) -> str | None:
    return None if text.lower() == "none" else text.upper()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (server mode) or of the bridge (client mode)")
    parser.add_argument("--port", type=int, default=5010, help="TCP port (0: any free port; default 5010)")
    parser.add_argument("--encoding", default="cp1252", help="the site's code page: cp1252, cp850, utf-8...")
    parser.add_argument("--lrc", action="store_true", help="follow every ETX with a check byte")
    parser.add_argument("--rooms", type=parse_rooms, default=parse_rooms("101-140"),
                        help="room numbers, e.g. 101-140,201-220 (default 101-140)")
    parser.add_argument("--script", metavar="FILE", type=Path, help="run this scenario, then stay up")
    parser.add_argument("--random", nargs="?", type=float, const=2.0, metavar="INTERVAL",
                        help="random check-ins, check-outs, wake-ups... every INTERVAL seconds (default 2)")
    parser.add_argument("--posting-answer", type=_posting_answer, default="OK", metavar="STATUS",
                        help="AS of the PA answering each PS (OK, BY, UR...; 'none' never answers)")
    parser.add_argument("--mode", choices=["server", "client"], default="server",
                        help="server: the bridge connects here (IFC8's usual set-up); client: connect to it")


def _print_record(direction: str, record: Record) -> None:
    fields = "".join(f"{field_id}{value}|" for field_id, value in record.fields)
    print(f"{direction} {record.type}|{fields}", flush=True)


def run_simulator(args: argparse.Namespace) -> int:
    """Run the simulator as ``args`` say until Ctrl-C, SIGTERM or end of console input."""
    script = None
    try:
        options = SimulatorOptions(host=args.host, port=args.port, encoding=args.encoding, lrc=args.lrc,
                                   rooms=args.rooms, posting_answer=args.posting_answer, mode=args.mode,
                                   trace=_print_record)
        if args.script is not None:
            script = args.script.read_text(encoding="utf-8")
            parse_script(script)
        if args.random is not None and args.random <= 0:
            raise ValueError("--random needs a positive interval")
    except (OSError, ValueError) as err:
        print(f"pmsbridge sim fias: {err}", file=sys.stderr)
        return EXIT_USAGE

    stop = threading.Event()
    # Signals can only be handled in the main thread; elsewhere (a test) the caller stops us.
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        previous_handler = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    simulator = FiasSimulator(options)
    try:
        simulator.start()
        where = "listening on" if options.mode == "server" else "connecting to the bridge at"
        print(f"FIAS simulator {where} {options.host}:{simulator.port} ({options.encoding}, "
              f"{len(options.rooms)} rooms); Ctrl-C stops", flush=True)
        if script is not None:
            _background(_run_script_file, simulator, script, args.script, stop)
        if args.random is not None:
            simulator.start_random_activity(interval=args.random)
            print(f"random activity every {args.random:g} s", flush=True)
        if sys.stdin is not None and sys.stdin.isatty():
            _background(_console, simulator, stop)
        stop.wait()
    except OSError as err:
        message = (port_in_use(options.port, "the FIAS PMS simulator", "choose another with --port PORT")
                   if is_address_in_use(err) else str(err))
        print(f"pmsbridge sim fias: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
    return EXIT_OK


def _background(target: Callable[..., None], *args: object) -> None:
    threading.Thread(target=target, args=args, daemon=True).start()


def _run_script_file(simulator: FiasSimulator, script: str, path: Path, stop: threading.Event) -> None:
    try:
        run_script(simulator, script, stop)
    except ScriptError as err:
        print(f"{path}: {err}", file=sys.stderr, flush=True)
        return
    if not stop.is_set():
        print(f"{path}: done", flush=True)


def _console(simulator: FiasSimulator, stop: threading.Event) -> None:
    print("commands (help lists them):", flush=True)
    for line in sys.stdin:
        if stop.is_set():
            return
        if line.strip().lower() in ("help", "?"):
            print(COMMANDS_HELP, end="", flush=True)
            continue
        try:
            run_script(simulator, line)
        except ScriptError as err:
            print(f"error: {err.reason}", file=sys.stderr, flush=True)
    stop.set()
