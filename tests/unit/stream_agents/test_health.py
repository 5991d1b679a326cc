from stream_agents.health import Readiness


def test_ready_only_when_agents_run_redis_answers_and_registry_is_loaded():
    readiness = Readiness()
    ready, report = readiness.report(now=100.0)
    assert not ready and len(report["problems"]) == 5
    readiness.agents_started.update({"replay", "scoring", "sink"})
    readiness.last_redis_ok, readiness.registry_version = 99.0, 3
    assert readiness.report(now=100.0)[0]
    assert not readiness.report(now=120.0)[0]  # Redis silent for 21 s


def test_a_long_sink_stall_makes_the_worker_unready():
    readiness = Readiness(agents_started={"replay", "scoring", "sink"}, last_redis_ok=100.0, registry_version=1)
    readiness.sink_stalled_since = 90.0
    assert readiness.report(now=100.0)[0]
    readiness.sink_stalled_since = 60.0
    ready, report = readiness.report(now=100.0)
    assert not ready and "ClickHouse" in report["problems"][0]
