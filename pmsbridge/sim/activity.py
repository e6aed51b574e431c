"""The thread behind the simulators' random-activity modes (demo traffic)."""

from __future__ import annotations

import logging
import random
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable

log = logging.getLogger(__name__)


class RandomActivityLoop(ABC):
    """Calls ``step()`` every ``interval`` seconds on a daemon thread until stopped.

    ``step`` returns what it did, one line per action, for the log. A ``ValueError`` from
    it means something else (a script, a test) changed the state between look and act:
    the step is skipped, the loop goes on.
    """

    def __init__(self, interval: float, seed: int | None, thread_name: str) -> None:
        if interval <= 0:
            raise ValueError(f"the activity interval must be positive, not {interval}")
        self._interval = interval
        self._random = random.Random(seed)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    @abstractmethod
    def actions(self) -> Iterable[str]:
        """Do one random step; return a description of each thing done."""

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                for done in self.actions():
                    log.info("random activity: %s", done)
            except ValueError as err:
                log.info("random activity skipped a step: %s", err)
