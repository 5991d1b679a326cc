from stream_agents.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_and_rejects_calls():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, open_s=5, clock=clock)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    assert breaker.opened_count == 1


def test_a_success_resets_the_consecutive_count():
    breaker = CircuitBreaker(failure_threshold=3, clock=Clock())
    breaker.record_failure(); breaker.record_failure(); breaker.record_success(); breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_half_open_hands_out_one_probe_and_a_success_closes():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, open_s=5, half_open_probes=1, clock=clock)
    breaker.record_failure()
    clock.now = 4.9
    assert not breaker.allow()
    clock.now = 5.0
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # only one probe at a time: no retry storm on a sick provider
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()


def test_a_failed_probe_opens_again_for_the_full_open_time():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, open_s=5, clock=clock)
    breaker.record_failure()
    clock.now = 5.0
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and breaker.opened_count == 2
    clock.now = 9.9
    assert not breaker.allow()
    clock.now = 10.0
    assert breaker.allow()


def test_a_released_probe_can_be_handed_out_again():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, open_s=1, clock=clock)
    breaker.record_failure()
    clock.now = 1.0
    assert breaker.allow()
    breaker.release_probe()
    assert breaker.allow()
