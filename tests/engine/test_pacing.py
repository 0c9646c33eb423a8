"""Pacing math and the retry policy, on a fake clock."""

import random

from khz_tui.engine.cloud.pacing import Pacer, PollInterval, backoff_delay, error_hint, is_retryable


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_no_delay_while_the_bucket_is_full() -> None:
    pacer = Pacer(clock=Clock())
    pacer.observe("3600", "3500", "1100")
    assert pacer.delay() == 0.0


def test_below_low_water_requests_are_spaced_at_the_refill_rate() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock, low_water=60)
    pacer.observe("3600", "10", str(clock.now + 3590))
    delays = [pacer.delay() for _ in range(5)]
    assert delays == [0.0, 1.0, 2.0, 3.0, 4.0]  # one per second: Hetzner refills 1/s


def test_a_429_waits_for_tokens_but_never_past_the_reset() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock)
    pacer.observe("3600", "0", str(clock.now + 3))
    assert pacer.throttled_delay(parallel=10) == 3.0
    pacer.observe("3600", "0", str(clock.now + 3600))
    assert pacer.throttled_delay(parallel=10) == 10.0


def test_a_429_with_tokens_left_is_transient() -> None:
    pacer = Pacer(clock=Clock())
    pacer.observe("3600", "3000", "1000")
    assert pacer.throttled_delay() < 0.5


def test_retry_policy_covers_what_hcloud_does_not() -> None:
    for code in ("locked", "server_error", "unavailable", "rate_limit_exceeded", 503, 423):
        assert is_retryable(code), code
    for code in ("invalid_input", "uniqueness_error", "resource_limit_exceeded", "unauthorized", "forbidden", 401):
        assert not is_retryable(code), code
    assert "limit" in error_hint("resource_limit_exceeded")
    assert "token" in error_hint("unauthorized")


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(a, base=0.5, cap=8, rng=rng) for a in range(8)]
    assert all(0 < d <= 8 for d in delays)
    assert delays[5] > delays[0]


def test_poll_interval_adapts() -> None:
    poll = PollInterval(minimum=0.5, maximum=3.0)
    waits = [poll.next(False) for _ in range(6)]
    assert waits[0] == 0.75 and waits[-1] == 3.0
    assert poll.next(True) == 0.5
