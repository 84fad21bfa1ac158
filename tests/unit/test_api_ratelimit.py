"""The API's per-token rate limit: a window starts with a token's first request in it."""

from tui_helpdesk.api.ratelimit import RateLimiter


def test_a_burst_across_the_clocks_minute_is_one_window():
    now = [1_700_000_059.5]
    limiter = RateLimiter(3, 60.0, clock=lambda: now[0])
    seen = []
    for step in (0.0, 0.3, 0.4):  # 59.5, 59.8, 00.2: the clock's minute turned
        now[0] += step
        seen.append(limiter.hit(7).remaining)
    assert seen == [2, 1, 0]
    assert not limiter.hit(7).allowed
    assert limiter.hit(8).allowed  # another token is not held back
    now[0] += 60
    assert limiter.hit(7).remaining == 2  # a new window, from this request
