"""The warm pool: the kernels of the next jobs start, and run their set-up code, while
other jobs run.

A job *begins* when its thread starts its kernel (:func:`.kernel.run_job`) and *runs*
once it holds one of the ``workers`` run slots, for its cells. Up to ``prestart`` jobs
beyond the running ones may have begun: their kernels start and run the framework's
set-up code (``d2l_setup_code``, e.g. the imports) ahead, then wait for a run slot.
Slots go strictly in the order the jobs began (the scheduler's order: GPU jobs first,
then the longest): a slot that frees while the next job's kernel is still starting waits
for it, so a slot is never idle longer than without the pool, and no job overtakes an
earlier one. A pre-started kernel belongs to exactly one job: it starts in that job's
folder, with that job's environment, set-up code and GPU ids (``CUDA_VISIBLE_DEVICES``
is fixed at launch, so a GPU job holds its GPU slot from its kernel's start), and it is
killed when that job ends. No kernel ever serves two pages. A kernel whose job never
gets its turn (Ctrl-C, a callback that fails) is killed with its job (:class:`.Cancelled`
from :meth:`RunSlots.wait_turn`).

With ``prestart = 0``, a job holds a run slot from its beginning (no kernel starts ahead).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from .session import Cancelled

WAIT_POLL = 0.1
"""Seconds between checks of the cancel event while waiting for a run slot."""


@dataclass(eq=False)
class Ticket:
    """One begun job's place in the pool (compared by identity)."""

    number: int
    """Its rank among begun jobs (earlier first)."""
    holds: bool
    """It holds a run slot."""


class RunSlots:
    """The run slots of one scheduler run and the jobs begun ahead of them.

    Every method but :meth:`wait_turn` is called with ``cond`` held (the scheduler's
    condition, which guards this state too); :meth:`wait_turn` takes it.
    """

    def __init__(self, workers: int, prestart: int, cond: threading.Condition,
                 cancel: threading.Event) -> None:
        self.workers = max(1, workers)
        self.prestart = max(0, prestart)
        self.cond = cond
        self.cancel = cancel
        self.begun = 0
        """Jobs between their beginning and their end (running or not)."""
        self.running = 0
        """Jobs holding a run slot."""
        self._queue: deque[Ticket] = deque()
        """Begun jobs without a run slot, in the order they began."""
        self._numbers = 0

    def can_begin(self) -> bool:
        """Whether one more job may begin now (start its kernel)."""
        return self.begun < self.workers + self.prestart

    def begin(self) -> Ticket:
        """Count a job that begins; without prestart it holds a run slot at once."""
        self.begun += 1
        ticket = Ticket(self._numbers, holds=self.prestart == 0)
        self._numbers += 1
        if ticket.holds:
            self.running += 1
        else:
            self._queue.append(ticket)
        return ticket

    def end(self, ticket: Ticket) -> None:
        """The job of ``ticket`` ended (its kernel is gone): free its place and slot."""
        self.begun -= 1
        if ticket.holds:
            ticket.holds = False
            self.running -= 1
        elif ticket in self._queue:  # ended before its turn (its kernel did not start...)
            self._queue.remove(ticket)
        self.cond.notify_all()

    def wait_turn(self, ticket: Ticket) -> bool:
        """Block until ``ticket`` holds a run slot (when one is free and every job that
        began before it holds one or has ended); True if it took one now, False if it
        held one already. Raises :class:`.Cancelled` when the run is cancelled meanwhile
        (the ticket keeps its place until :meth:`end`)."""
        if ticket.holds:
            return False
        with self.cond:
            while True:
                if self.cancel.is_set():
                    raise Cancelled
                if self.running < self.workers and self._queue[0] is ticket:
                    break
                self.cond.wait(WAIT_POLL)
            self._queue.popleft()
            ticket.holds = True
            self.running += 1
            self.cond.notify_all()  # the next job in the queue may take a free slot too
        return True
