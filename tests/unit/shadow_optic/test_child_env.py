from schemas.settings import ChallengerConfig, Settings
from shadow_optic.child_env import settings_env


def test_settings_survive_the_trip_through_environment_variables(monkeypatch):
    original = Settings(kafka_bootstrap="k:1", redis_url="redis://r:2/0", production_api_key="sk-prod",
                        challengers=[ChallengerConfig(name="c", base_url="http://c/v1", model="m", api_key="sk-c",
                                                      control=True)],
                        prices={"gpt-4": {"input_per_1k": 0.03, "output_per_1k": 0.06}}, sample_ratio=0.25)
    env = settings_env(original, base={})
    assert "SHADOW_CLICKHOUSE_URL" not in env  # unset stays unset
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    rebuilt = Settings()
    assert rebuilt == original
    assert rebuilt.challengers[0].api_key.get_secret_value() == "sk-c"
