"""The live loop (runner.Runner) on its own: a fake writer instead of PostgreSQL, a fake clock
instead of time, the real planner, pacer and counters. Each test runs in milliseconds."""
import signal

import psycopg2
import pytest
from thelook_datagen.sim.pools import UserEntry

from thelook_datagen.db.statements import ArchiveResult, TickResult
from thelook_datagen.db.writer import UserVanished
from thelook_datagen.errors import UserError
from thelook_datagen.pacing import Pacer
from thelook_datagen.runner import MAX_FAILED_IN_A_ROW, TICK_INTERVAL, TICK_LIMIT, WAIT_STEP, Runner, StopFlag
from thelook_datagen.sim.archive import ARCHIVE_BACKLOG_INTERVAL, ARCHIVE_INTERVAL, ARCHIVE_LIMIT, Horizon
from thelook_datagen.sim.lifecycle import Delays
from thelook_datagen.sim.visits import PURCHASE
from thelook_datagen.stats import Stats

WALL = 1_800_000_000.0
NO_CHANGES = TickResult(0, 0, 0, 0, 0, 0, 0, 0, 0, [], [], 0, 0)
NOTHING_ARCHIVED = ArchiveResult(0, 0, 0, 0, 0, 0, 0)


class FakeClock:
    """Monotonic and wall clock moving together, only when the loop sleeps or a write takes time."""

    def __init__(self):
        self.t = 100.0

    def monotonic(self):
        return self.t

    def time(self):
        return WALL + self.t - 100.0

    def sleep(self, seconds):
        assert 0 < seconds <= WAIT_STEP
        self.t += seconds
        for hook in self.on_sleep:
            hook()

    on_sleep = ()


class FakeWriter:
    """What the loop needs of db.writer.PgWriter. Every call is recorded in `calls` with the clock's
    time; a visit takes `write_s` seconds of the fake clock. `visit_hook(n, visit)` runs inside the
    n-th call of apply_visit (1-based) and may raise; `tick_hook(now, limit)` returns the tick's result,
    `archive_hook(cutoff, limit)` the archive step's."""

    def __init__(self, clock, write_s=0.01, visit_hook=None, tick_hook=None, archive_hook=None):
        self.clock = clock
        self.write_s = write_s
        self.visit_hook = visit_hook
        self.tick_hook = tick_hook
        self.archive_hook = archive_hook
        self.calls = []
        self.next_id = 1
        self.closed = False

    def apply_visit(self, visit):
        self.clock.t += self.write_s
        self.calls.append(("visit", self.clock.t, visit))
        if self.visit_hook:
            self.visit_hook(sum(c[0] == "visit" for c in self.calls), visit)
        user_id = visit.user_id
        if visit.new_user is not None:
            user_id, self.next_id = self.next_id, self.next_id + 1
        return user_id, (1 if visit.kind == PURCHASE else None), 0

    def apply_tick(self, now, delays, limit, restock_ids, moves):
        self.calls.append(("tick", now, limit))
        return self.tick_hook(now, limit) if self.tick_hook else NO_CHANGES

    def apply_archive(self, cutoff, limit, closing_since):
        self.calls.append(("archive", cutoff, limit, closing_since))
        return self.archive_hook(cutoff, limit) if self.archive_hook else NOTHING_ARCHIVED

    def close(self):
        self.closed = True

    def visits(self):
        return [c for c in self.calls if c[0] == "visit"]

    def ticks(self):
        return [c for c in self.calls if c[0] == "tick"]

    def archives(self):
        return [c for c in self.calls if c[0] == "archive"]


class FakeLog:
    def __init__(self, clock):
        self.clock = clock
        self.statuses = []      # (time, snapshot)
        self.warnings = []

    def status(self, snap):
        self.statuses.append((self.clock.t, snap))

    def warn(self, message, **_):
        self.warnings.append((self.clock.t, message))

    def info(self, message, **_):
        pass


@pytest.fixture
def loop(make_planner):
    """loop(qps=..., writer=..., **runner options) -> (runner, clock, writer, log)."""
    def make(qps=0.0, write_s=0.01, visit_hook=None, tick_hook=None, archive_hook=None, seed=3, **kw):
        clock = FakeClock()
        writer = FakeWriter(clock, write_s, visit_hook, tick_hook, archive_hook)
        log = FakeLog(clock)
        stats = Stats(qps, clock=clock.monotonic)
        pacer = Pacer(qps, seed=seed, clock=clock.monotonic, wall=clock.time)
        kw.setdefault("max_iter", 20)
        runner = Runner(make_planner(seed=seed, ghost_ratio=0.1), writer, pacer, stats, log, StopFlag(),
                        Delays.for_scale(8640), clock=clock.monotonic, sleep=clock.sleep, timer=clock.monotonic, **kw)
        return runner, clock, writer, log
    return make


# -- lifecycle catch-up ------------------------------------------------------------------------
def test_ticks_run_every_interval_of_the_schedule_before_the_visit_due_after_them(loop):
    runner, clock, writer, _ = loop(qps=10.0, max_iter=50)
    runner.run()
    ticks = [now for _, now, _ in writer.ticks()]
    assert len(ticks) >= 8
    assert ticks == [WALL + TICK_INTERVAL * k for k in range(1, len(ticks) + 1)]
    assert {limit for _, _, limit in writer.ticks()} == {TICK_LIMIT}
    # in schedule order: each tick before the first visit scheduled at or after it, none skipped
    schedule = [c[1] if c[0] == "tick" else c[2].ev_ts[-1] for c in writer.calls]
    assert schedule == sorted(schedule)
    last_visit = writer.visits()[-1][2].ev_ts[-1]
    assert ticks[-1] <= last_visit < ticks[-1] + TICK_INTERVAL


def test_a_jump_of_the_schedule_is_caught_up_tick_by_tick_each_capped(loop):
    """Flat out, the 5th write stalls 3.2 s (e.g. a reconnect): before the 6th visit the loop applies
    one tick per TICK_INTERVAL passed, each at its own instant, each with the TICK_LIMIT cap, so a
    backlog of 2,500 orders that came due at once is worked off 1,000 per tick in due order."""
    backlog = [2500]

    def stall(n, _visit):
        if n == 5:
            writer.clock.t += 3.2

    def tick(now, limit):
        shipped = min(limit, backlog[0])
        backlog[0] -= shipped
        return NO_CHANGES._replace(shipped=shipped, shipped_items=2 * shipped)

    runner, clock, writer, _ = loop(qps=0.0, write_s=0.01, visit_hook=stall, tick_hook=tick, max_iter=8)
    summary = runner.run()
    kinds = [c[0] for c in writer.calls]
    sixth = [i for i, k in enumerate(kinds) if k == "visit"][5]
    burst = writer.calls[kinds.index("tick"):sixth]
    assert [c[0] for c in burst] == ["tick"] * 6             # 3.25 s passed: ticks at +0.5 ... +3.0
    assert [c[1] for c in burst] == [WALL + TICK_INTERVAL * k for k in range(1, 7)]
    assert {c[2] for c in burst} == {TICK_LIMIT}                # every catch-up tick carries the cap
    assert backlog == [0]
    assert summary["tables"]["orders"]["update"] == 2500 and summary["tables"]["order_items"]["update"] == 5000
    assert summary["visits"] == 8 and summary["errors"] == 0


def test_a_tick_put_off_is_counted_and_its_restock_kept_for_the_next(loop):
    results = [None, NO_CHANGES]
    seen = []

    def tick(now, limit):
        return results.pop(0) if results else NO_CHANGES

    runner, clock, writer, _ = loop(qps=20.0, tick_hook=tick, max_iter=40)
    real = writer.apply_tick
    moved = []

    def apply_tick(now, delays, limit, restock_ids, moves):
        seen.append(list(restock_ids))
        moved.append([m.user_id for m in moves])
        return real(now, delays, limit, restock_ids, moves)
    writer.apply_tick = apply_tick
    # a user moves before the first tick: the deferred tick carries the move, the next one again
    mover = UserEntry(777, "F", "Paris", "Ile-de-France", "75001", 0.0)
    runner.planner.users.add(mover, runner.planner.rng)
    runner.planner._plan_address_change(mover)
    summary = runner.run()
    assert summary["ticks_deferred"] == 1 and summary["retries"] == 1 and summary["errors"] == 0
    # ticks run = committed + deferred + failed
    assert summary["ticks"] + summary["ticks_deferred"] + summary["failed_ticks"] == len(writer.ticks()) > 1
    assert seen[0] and set(seen[0]) <= set(seen[1])                        # what the deferred tick had is offered again
    assert 777 in moved[0] and 777 in moved[1], "an address change is not lost with a deferred tick"


# -- the shop horizon (--horizon) ---------------------------------------------------------------------
def test_without_a_horizon_nothing_is_archived(loop):
    runner, clock, writer, _ = loop(qps=10.0, max_iter=50)
    summary = runner.run()
    assert writer.archives() == [] and summary["archive_steps"] == 0 and summary["archived"] == {}


def test_archive_steps_run_every_interval_of_the_schedule_with_the_cutoff_of_their_instant(loop):
    """10 visits/s for 5 s with a 60 s horizon: a step every ARCHIVE_INTERVAL of schedule time, before
    the visit due after it, at its own cutoff, with the limit; what it deletes is counted as archived
    and as deletes of each table."""
    def archive(cutoff, limit):
        return ArchiveResult(old_events=12, sessions=3, old_orders=1, events=14, orders=1, order_items=2,
                             inventory_items=2)
    runner, clock, writer, _ = loop(qps=10.0, max_iter=50, horizon=Horizon(60.0), archive_hook=archive)
    summary = runner.run()
    steps = writer.archives()
    assert len(steps) >= 4
    assert [cutoff for _, cutoff, _, _ in steps] == [WALL + ARCHIVE_INTERVAL * k - 60.0
                                                     for k in range(1, len(steps) + 1)]
    assert {limit for _, _, limit, _ in steps} == {ARCHIVE_LIMIT}
    # orders of users who may still be closed wait: those who signed up within close_max (80 s here)
    assert [since for _, _, _, since in steps] == [cutoff + 60.0 - Delays.for_scale(8640).close_max
                                                   for _, cutoff, _, _ in steps]
    schedule = [c[1] + 60.0 if c[0] == "archive" else c[1] if c[0] == "tick" else c[2].ev_ts[-1]
                for c in writer.calls]
    assert schedule == sorted(schedule)
    n = len(steps)
    assert summary["archive_steps"] == n
    assert summary["archived"] == {"events": 14 * n, "orders": n, "order_items": 2 * n, "inventory_items": 2 * n}
    assert summary["tables"]["events"]["delete"] == 14 * n and summary["tables"]["orders"]["delete"] == n


def test_a_backlog_is_worked_off_in_small_steps_between_visits(loop):
    """A step that hits its limit (an earlier run's history) is followed after ARCHIVE_BACKLOG_INTERVAL,
    with visits in between, until a step finds less than the limit; then every ARCHIVE_INTERVAL again."""
    backlog = [3 * ARCHIVE_LIMIT + 17]

    def archive(cutoff, limit):
        n = min(limit, backlog[0])
        backlog[0] -= n
        return NOTHING_ARCHIVED._replace(old_orders=n, orders=n, order_items=n, inventory_items=n)
    runner, clock, writer, _ = loop(qps=50.0, max_iter=300, horizon=Horizon(3600.0), archive_hook=archive)
    summary = runner.run()
    cutoffs = [c[1] + 3600.0 for c in writer.archives()]
    gaps = [round(b - a, 6) for a, b in zip(cutoffs, cutoffs[1:])]
    assert backlog == [0] and summary["archived"]["orders"] == 3 * ARCHIVE_LIMIT + 17
    # three full steps, each followed soon (the first visit due at or after the backlog interval)
    assert all(ARCHIVE_BACKLOG_INTERVAL <= g < ARCHIVE_BACKLOG_INTERVAL + 0.2 for g in gaps[:3]), gaps
    assert all(ARCHIVE_INTERVAL <= g < ARCHIVE_INTERVAL + 0.2 for g in gaps[4:]), gaps
    kinds = [c[0] for c in writer.calls]
    first, fourth = [i for i, k in enumerate(kinds) if k == "archive"][:4:3]
    assert "visit" in kinds[first:fourth], "visits go on between the steps of a backlog"


def test_after_a_stall_one_archive_step_catches_up_with_no_burst(loop):
    """The 5th write stalls 4.2 s: before the 6th visit one step runs (the one due first; its successor
    archives all that came due meanwhile), not one per interval missed as for lifecycle ticks."""
    def stall(n, _visit):
        if n == 5:
            writer.clock.t += 4.2
    runner, clock, writer, _ = loop(qps=0.0, write_s=0.01, visit_hook=stall, max_iter=8, horizon=Horizon(60.0))
    runner.run()
    kinds = [c[0] for c in writer.calls]
    sixth = [i for i, k in enumerate(kinds) if k == "visit"][5]
    assert kinds[kinds.index("visit", 0) + 4:sixth].count("archive") == 1
    assert len(writer.archives()) == 1 and len(writer.ticks()) == 8


def test_a_failed_or_deferred_archive_step_is_counted_and_the_run_goes_on(loop):
    results = [psycopg2.errors.UndefinedTable("relation \"demo.orders\" does not exist"), None]

    def archive(cutoff, limit):
        r = results.pop(0) if results else NOTHING_ARCHIVED
        if isinstance(r, Exception):
            raise r
        return r
    runner, clock, writer, log = loop(qps=20.0, max_iter=100, horizon=Horizon(10.0), archive_hook=archive)
    summary = runner.run()
    assert summary["visits"] == 100
    assert summary["failed_archives"] == 1 and summary["errors"] == 1
    assert summary["archives_deferred"] == 1 and summary["retries"] == 1
    # steps run = committed + failed + deferred
    assert summary["archive_steps"] + 2 == len(writer.archives())
    assert [m for _, m in log.warnings] == ['an archive step failed and was skipped: relation "demo.orders" does '
                                            'not exist']


# -- giving up -----------------------------------------------------------------------------------
def failing(reason="relation \"demo.events\" does not exist", when=lambda n: True):
    def hook(n, _visit):
        if when(n):
            raise psycopg2.ProgrammingError(reason)
    return hook


def test_gives_up_after_50_failed_writes_in_a_row_naming_the_reason(loop):
    runner, clock, writer, log = loop(qps=0.0, visit_hook=failing(), max_iter=-1)
    with pytest.raises(UserError) as e:
        runner.run()
    assert str(e.value) == (f"giving up after {MAX_FAILED_IN_A_ROW} failed writes in a row: "
                            f"relation \"demo.events\" does not exist")
    assert len(writer.visits()) == MAX_FAILED_IN_A_ROW and writer.closed
    assert runner.stats.failed_visits == MAX_FAILED_IN_A_ROW and runner.stats.visits == 0
    assert len(log.warnings) == 1                               # warned once, not 49 times


def test_a_committed_visit_resets_the_count_of_failures(loop):
    # 49 failures, a success, 49 failures, a success: never 50 in a row
    runner, clock, writer, _ = loop(qps=0.0, visit_hook=failing(when=lambda n: n % 50 != 0), max_iter=2)
    summary = runner.run()
    assert summary["visits"] == 2 and summary["failed_visits"] == 98 and summary["errors"] == 98
    assert len(writer.visits()) == 100 and writer.closed


def test_failed_ticks_count_towards_giving_up(loop):
    def tick(now, limit):
        raise psycopg2.errors.UndefinedTable("relation \"demo.orders\" does not exist")
    # visits fail too, after the first: the ticks between them add to the failures in a row
    runner, clock, writer, _ = loop(qps=0.0, write_s=0.2, tick_hook=tick, visit_hook=failing(when=lambda n: n > 1),
                                    max_iter=-1)
    with pytest.raises(UserError, match="giving up after 50 failed writes in a row: relation "):
        runner.run()
    s = runner.stats
    assert s.visits == 1 and 0 < s.failed_ticks and s.failed_visits < MAX_FAILED_IN_A_ROW
    assert s.errors == s.failed_visits + s.failed_ticks == MAX_FAILED_IN_A_ROW
    assert s.ticks == 0 and s.failed_ticks == len(writer.ticks())


def test_a_returning_user_gone_becomes_a_sign_up_and_counts_once(loop):
    gone = []

    def vanish(n, visit):
        if visit.user_id is not None and not gone:
            gone.append(visit.user_id)
            raise UserVanished()

    runner, clock, writer, _ = loop(qps=0.0, visit_hook=vanish, max_iter=60)
    summary = runner.run()
    assert gone and summary["returning_user_gone"] == 1 and summary["retries"] == 1
    assert summary["visits"] == 60 and len(writer.visits()) == 61    # the same visit written twice
    assert gone[0] not in runner.planner.users
    assert sum(summary["visit_kinds"].values()) == summary["visits"]


# -- status lines ------------------------------------------------------------------------------
def test_status_lines_every_interval_also_while_waiting_for_the_next_visit(loop):
    # 0.2 visits/s: about 5 s between visits, a status line every second of the clock in between
    runner, clock, writer, log = loop(qps=0.2, status_interval=1.0, max_iter=6)
    start = clock.t
    runner.run()
    times = [t - start for t, _ in log.statuses]
    assert len(times) >= int(clock.t - start) - 1 and len(times) <= int(clock.t - start)
    for k, t in enumerate(times, 1):        # due at k s, shown within one wait step (+ a write) after
        assert k <= t <= k + WAIT_STEP + writer.write_s + 1e-9, (k, t)
    visit_times = [t - start for _, t, _ in writer.visits()]
    gap, after = max((b - a, a) for a, b in zip(visit_times, visit_times[1:]))
    assert gap > 3.0
    assert len([t for t in times if after < t < after + gap]) >= int(gap) - 1
    assert all(s["event"] == "status" for _, s in log.statuses)
    assert [s["elapsed_s"] for _, s in log.statuses] == sorted(s["elapsed_s"] for _, s in log.statuses)


def test_status_lines_flat_out_and_no_burst_after_a_stall(loop):
    def stall(n, _visit):
        if n == 30:
            writer.clock.t += 5.0
    # flat out, each write 0.125 s: a line after the visit that ends at or past each second. The
    # 30th write stalls 5 s (ends at 8.75 s): no line for each second it missed, but one when it
    # ends, and as the next is then due at once, one more after the next visit (8.875 s); from
    # there every second again.
    runner, clock, writer, log = loop(qps=0.0, write_s=0.125, visit_hook=stall, status_interval=1.0, max_iter=50)
    start = clock.t
    runner.run()
    assert [t - start for t, _ in log.statuses] == [1.0, 2.0, 3.0, 8.75, 8.875, 9.75, 10.75]
    assert [s["visits"] for _, s in log.statuses] == [8, 16, 24, 30, 31, 38, 46]


# -- stopping ------------------------------------------------------------------------------------
def test_sigterm_during_a_visit_lets_it_complete_and_starts_no_other(loop):
    def sigterm(n, _visit):
        if n == 3:
            runner.stop.stop, runner.stop.signal = True, signal.SIGTERM
    runner, clock, writer, log = loop(qps=0.0, visit_hook=sigterm, max_iter=-1)
    summary = runner.run()
    assert len(writer.visits()) == 3 and writer.calls[-1][0] == "visit"
    assert summary["event"] == "summary" and summary["visits"] == 3
    assert writer.closed


def test_sigterm_while_waiting_ends_without_another_visit(loop):
    runner, clock, writer, log = loop(qps=0.2, max_iter=-1)

    def stop_after_first():
        if writer.visits() and clock.t > writer.visits()[0][1] + 1.0:
            runner.stop.stop = True
    clock.on_sleep = (stop_after_first,)
    summary = runner.run()
    assert len(writer.visits()) == 1 and summary["visits"] == 1 and writer.closed


def test_max_iter_counts_committed_visits(loop):
    runner, clock, writer, _ = loop(qps=0.0, max_iter=25, visit_hook=failing(when=lambda n: n in (3, 7)))
    summary = runner.run()
    assert summary["visits"] == 25 and len(writer.visits()) == 27 and summary["failed_visits"] == 2


# -- rate changes (--control) ----------------------------------------------------------------------
def test_a_new_rate_is_taken_while_waiting_and_paced_from_that_moment(loop):
    """0.2 visits/s (a visit every 5 s or so); 1.3 s into the run the control endpoint asks for 40/s:
    the loop takes it within one wait step, the next visits come at 40/s from that moment (no
    burst of visits owed to the time before), the status line's target follows, then flat out."""
    from thelook_datagen.control import RateControl
    runner, clock, writer, log = loop(qps=0.2, max_iter=-1, status_interval=0.5)
    control = RateControl(runner.stats)
    runner.control = control
    start = clock.t
    asked = {}

    def ask():
        if "fast" not in asked and clock.t - start >= 1.3:
            asked["fast"] = clock.t
            control.request(40.0, "127.0.0.1")
        if "flat" not in asked and clock.t - start >= 4.0:
            asked["flat"] = clock.t
            control.request(0.0, "127.0.0.1")
    clock.on_sleep = (ask,)

    def stop_at_visits(n, _visit):
        if n == 200:
            runner.stop.stop = True
    writer.visit_hook = stop_at_visits
    summary = runner.run()
    fast, flat = asked["fast"], asked["flat"]
    times = [t for _, t, _ in writer.visits()]
    slow = [t for t in times if t < fast]
    at_40 = [t for t in times if fast <= t < flat]
    assert len(slow) <= 1
    assert at_40 and at_40[0] - fast < 0.25, "the next visit comes at the new rate, not after the old 5 s gap"
    assert len([t for t in at_40 if t < fast + 0.2]) <= 15, "no burst after the change"
    assert 100 <= len(at_40) <= 115, len(at_40)        # 2.7 s at 40/s (exact per 1 s window)
    assert len(times) == 200 and times[-1] - flat < 200 * writer.write_s + 1e-6, "then flat out"
    assert runner.stats.target_qps == 0.0 and summary["rate_changes"] == 2
    targets = [s["target_visits_per_s"] for _, s in log.statuses]
    assert targets[0] == 0.2 and 40.0 in targets


def test_without_a_request_the_loop_never_changes_its_rate(loop):
    from thelook_datagen.control import RateControl
    runner, clock, writer, _ = loop(qps=10.0, max_iter=30)
    runner.control = RateControl(runner.stats)
    summary = runner.run()
    assert summary["visits"] == 30 and summary["rate_changes"] == 0 and summary["target_visits_per_s"] == 10.0
