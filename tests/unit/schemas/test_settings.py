import pytest
from pydantic import ValidationError

from schemas.settings import ChallengerConfig, ModelPrice, Settings
from schemas.topics import Topics


def test_settings_read_the_shadow_prefix_and_json_lists(monkeypatch):
    monkeypatch.setenv("SHADOW_KAFKA_BOOTSTRAP", "broker:9092")
    monkeypatch.setenv("SHADOW_CHALLENGERS", '[{"name": "c1", "base_url": "http://x/v1", "model": "m", '
                                             '"api_key": "sk-very-private", "price": {"input_per_1k": 0.5}}]')
    monkeypatch.setenv("SHADOW_TOPIC_PREFIX", "staging.")
    settings = Settings()
    assert settings.kafka_bootstrap == "broker:9092"
    assert settings.challengers[0].api_key.get_secret_value() == "sk-very-private"
    assert "sk-very-private" not in repr(settings)
    assert settings.topics.requests == "staging.shadow.requests"


def test_duplicate_challenger_names_are_refused_with_the_name():
    one = ChallengerConfig(name="dup", base_url="http://x/v1", model="m")
    with pytest.raises(ValidationError, match="dup"):
        Settings(challengers=[one, one])


def test_a_challenger_name_must_be_safe_for_keys_and_labels():
    with pytest.raises(ValidationError):
        ChallengerConfig(name="has space", base_url="http://x/v1", model="m")


def test_sample_ratio_is_bounded():
    with pytest.raises(ValidationError):
        Settings(sample_ratio=1.5)


def test_price_is_per_thousand_tokens():
    assert ModelPrice(input_per_1k=0.03, output_per_1k=0.06).cost(1000, 500) == pytest.approx(0.06)
    assert Settings().price_of("unknown-model").cost(10_000, 10_000) == 0.0


def test_topics_are_distinct_and_prefixed():
    topics = Topics.with_prefix("p.")
    assert len(set(topics.all())) == 5
    assert all(name.startswith("p.shadow.") for name in topics.all())


def test_prices_follow_the_model_name_never_the_role():
    from schemas.settings import BUILTIN_PRICES, ChallengerConfig, ModelPrice, Settings

    gpt4_again = ChallengerConfig(name="gpt-4-control", base_url="http://x/v1", model="gpt-4", control=True)
    settings = Settings()
    # The same model costs the same as production and as a challenger (the control here).
    assert settings.price_of("gpt-4") == settings.challenger_price(gpt4_again) == BUILTIN_PRICES["gpt-4"]
    own = Settings(prices={"gpt-4": ModelPrice(input_per_1k=1.0, output_per_1k=2.0),
                           "my-model": ModelPrice(input_per_1k=0.5)})
    assert own.challenger_price(gpt4_again) == own.price_of("gpt-4") == ModelPrice(input_per_1k=1.0, output_per_1k=2.0)
    mine = ChallengerConfig(name="c", base_url="http://x/v1", model="my-model")
    assert own.challenger_price(mine).input_per_1k == 0.5
    # A challenger's own price still wins; a model in no table is priced at zero.
    pinned = mine.model_copy(update={"price": ModelPrice(input_per_1k=9.0)})
    assert own.challenger_price(pinned).input_per_1k == 9.0 and Settings().price_of("unknown") == ModelPrice()
