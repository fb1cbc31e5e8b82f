"""HostCoordinator: the workers of one host share the ban window and the minute's weight.

Real processes (fork) and threads contend for one file, as gunicorn's workers do.
"""
import logging
import multiprocessing
import threading

from binance_svc.upstream.coordination import HostCoordinator

MINUTE = 29_000_000


def _grab(path, attempts, weight, budget, start, queue):
    """In a child process: 4 threads try to reserve `attempts` times each; report the grants."""
    coordinator = HostCoordinator(path)
    granted = []
    start.wait(timeout=30)                     # every process starts at once

    def run():
        n = sum(coordinator.reserve_weight(MINUTE, weight, budget) for _ in range(attempts))
        granted.append(n)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put(sum(granted))


def test_processes_and_threads_together_never_reserve_more_than_the_budget(tmp_path):
    path = str(tmp_path / "state")
    ctx = multiprocessing.get_context("fork")
    queue, start = ctx.Queue(), ctx.Barrier(3)
    # 3 processes x 4 threads x 500 attempts of weight 1 = 6,000 asked for; budget 4,000.
    procs = [ctx.Process(target=_grab, args=(path, 500, 1, 4000, start, queue))
             for _ in range(3)]
    for p in procs:
        p.start()
    granted = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sum(granted) == 4000, granted      # not one more, not one fewer
    assert HostCoordinator(path).weight_used(MINUTE) == 4000


def test_a_coordinator_opened_before_fork_still_excludes_its_child(tmp_path):
    """An flock is held per open file: a descriptor inherited by fork must not be reused."""
    path = str(tmp_path / "state")
    parent = HostCoordinator(path)
    assert parent.reserve_weight(MINUTE, 1, 100)        # the parent opens the file
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=lambda: queue.put(parent._fileno() != parent_fd))
    parent_fd = parent._fileno()
    child.start()
    assert queue.get(timeout=30) is True
    child.join(timeout=30)


def test_a_ban_seen_by_one_process_stops_the_others(tmp_path):
    path = str(tmp_path / "state")
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=lambda: HostCoordinator(path).set_ban(2_000_000_000.5))
    child.start()
    child.join(timeout=30)
    other = HostCoordinator(path)
    assert other.ban_until() == 2_000_000_000.5
    other.set_ban(1_000.0)                               # an earlier end never shortens it
    assert other.ban_until() == 2_000_000_000.5


def test_binances_figure_counts_and_a_new_minute_starts_from_zero(tmp_path):
    coordinator = HostCoordinator(str(tmp_path / "state"))
    assert coordinator.reserve_weight(MINUTE, 20, 100)
    coordinator.observe_weight(MINUTE, 90)              # others on our IP used weight too
    assert coordinator.weight_used(MINUTE) == 90
    assert not coordinator.reserve_weight(MINUTE, 20, 100)
    assert coordinator.reserve_weight(MINUTE, 10, 100)  # 90 + 10 fits exactly
    coordinator.observe_weight(MINUTE - 1, 5_000)       # a late figure of the last minute
    assert coordinator.weight_used(MINUTE) == 90
    assert coordinator.reserve_weight(MINUTE + 1, 100, 100)
    assert coordinator.weight_used(MINUTE + 1) == 100
    assert coordinator.weight_used(MINUTE) == 0


def test_an_unusable_file_falls_back_to_the_process_state_with_a_warning(tmp_path, caplog):
    coordinator = HostCoordinator(str(tmp_path / "missing-dir" / "state"))
    with caplog.at_level(logging.WARNING, logger="binance_svc.upstream.coordination"):
        assert coordinator.reserve_weight(MINUTE, 10, 5) is True   # the client's own count rules
        assert coordinator.ban_until() == 0.0
    assert "unusable" in caplog.text
    status = coordinator.status()
    assert status["mode"] == "host" and "FileNotFoundError" in status["last_error"]


def test_while_redis_is_down_the_hosts_file_keeps_the_budget_and_the_ban(tmp_path):
    from binance_svc.upstream.coordination import RedisCoordinator

    host = HostCoordinator(str(tmp_path / "state"))
    # Nothing listens on port 1: every Redis call fails at once (connection refused).
    coordinator = RedisCoordinator("redis://127.0.0.1:1/0", timeout=0.2, fallback=host)
    assert coordinator.reserve_weight(MINUTE, 60, 100)
    assert not coordinator.available()                   # it noticed, and backs off
    assert not coordinator.reserve_weight(MINUTE, 60, 100)
    assert host.weight_used(MINUTE) == 60
    coordinator.set_ban(2_000_000_000.0)
    assert coordinator.ban_until() == 2_000_000_000.0    # from the file
    assert HostCoordinator(host.path).ban_until() == 2_000_000_000.0
