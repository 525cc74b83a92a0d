"""The job's deadline counts from when the user's command started, and holds back a closing
margin so that the whole job, as its user sees it, ends within its budget."""

import time

import psutil

from perfedit.cli.main import command_started
from perfedit.job.pipeline import CLOSING_S, Deadline


def test_the_budget_counts_from_the_start_less_the_closing_margin():
    started = time.monotonic() - 10.0  # the command started 10 s ago
    left = Deadline(60.0, started).left()
    assert 60.0 - 10.0 - CLOSING_S - 1.0 < left <= 60.0 - 10.0 - CLOSING_S
    assert Deadline(60.0, time.monotonic() - 70.0).spent  # started long ago: spent at once


def test_a_short_budget_keeps_most_of_its_time():
    left = Deadline(0.4).left()  # the margin is at most 5% of a short budget
    assert 0.2 < left <= 0.38


def test_the_command_started_when_its_process_did():
    age_s = time.time() - psutil.Process().create_time()
    started = command_started()
    # within the process clock's 10 ms resolution and the time these lines take
    assert abs((time.monotonic() - started) - age_s) < 1.0
    assert started <= time.monotonic()
