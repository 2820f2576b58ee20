import re
from pathlib import Path

import pytest

from core.settings import MissingSetting, load_settings


def test_a_bare_environment_means_the_embedded_default(tmp_path):
    settings = load_settings(environ={"PITSTOP_VAR_DIR": str(tmp_path)}, dotenv_path=None)
    assert settings.database_url == f"sqlite:///{tmp_path / 'pitstop.db'}"
    assert settings.redis_url is None
    assert settings.embedded and settings.jobs_in_process
    assert settings.telegram_api_base == "https://api.telegram.org"
    assert settings.mpesa_api_base == "https://sandbox.safaricom.co.ke"


def test_production_settings_come_from_the_environment():
    settings = load_settings(
        environ={
            "DATABASE_URL": "postgresql://pitstop@db/pitstop",
            "REDIS_URL": "redis://cache:6379/0",
            "PUBLIC_BASE_URL": "https://pitstop.example/",
            "TELEGRAM_API_BASE": "http://127.0.0.1:9000/",
            "MPESA_ENV": "production",
        },
        dotenv_path=None,
    )
    assert settings.database_url == "postgresql://pitstop@db/pitstop"
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.public_base_url == "https://pitstop.example"
    assert settings.telegram_api_base == "http://127.0.0.1:9000"
    assert settings.mpesa_api_base == "https://api.safaricom.co.ke"
    assert not settings.embedded and not settings.jobs_in_process


def test_dot_env_fills_gaps_but_the_environment_wins(tmp_path: Path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("REDIS_URL=redis://from-file/1\nPUBLIC_BASE_URL=https://file.example\n")
    settings = load_settings(environ={"REDIS_URL": "redis://from-env/2"}, dotenv_path=dotenv)
    assert settings.redis_url == "redis://from-env/2"
    assert settings.public_base_url == "https://file.example"


def test_a_missing_shop_secret_names_the_variable_and_what_needs_it():
    settings = load_settings(environ={"SHOP_TOKEN": "abc"}, dotenv_path=None)
    assert settings.secret("SHOP_TOKEN", "the Telegram bot") == "abc"
    with pytest.raises(MissingSetting) as error:
        settings.secret("SHOP_TELEGRAM_SECRET", "the Telegram webhook of mwangaza-motors")
    assert error.value.name == "SHOP_TELEGRAM_SECRET"
    assert str(error.value) == (
        "environment variable SHOP_TELEGRAM_SECRET is not set; "
        "it is needed for the Telegram webhook of mwangaza-motors"
    )


def test_a_required_deployment_setting_is_a_clear_error():
    settings = load_settings(environ={}, dotenv_path=None)
    with pytest.raises(MissingSetting, match="PUBLIC_BASE_URL is not set; it is needed for"):
        settings.require("public_base_url", "checking Twilio signatures")


def test_an_unknown_mpesa_environment_is_refused():
    with pytest.raises(ValueError, match="MPESA_ENV must be 'sandbox' or 'production'"):
        load_settings(environ={"MPESA_ENV": "live"}, dotenv_path=None)


def test_the_log_level_is_read_in_any_case_and_an_unknown_one_is_refused():
    assert load_settings(environ={"LOG_LEVEL": "warning"}, dotenv_path=None).log_level == "WARNING"
    assert load_settings(environ={}, dotenv_path=None).log_level == "INFO"
    with pytest.raises(ValueError, match="LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not 'loud'"):
        load_settings(environ={"LOG_LEVEL": "loud"}, dotenv_path=None)


def test_settings_do_not_see_secrets_in_their_repr():
    settings = load_settings(environ={"SHOP_TOKEN": "123:very-secret"}, dotenv_path=None)
    assert "very-secret" not in repr(settings)


@pytest.mark.parametrize("name, value, says", [
    ("DATABASE_URL", "/tmp/x.db", "DATABASE_URL must be a database URL"),
    ("REDIS_URL", "127.0.0.1:6379/9", "REDIS_URL must start with redis://, rediss:// or unix://"),
    ("DATABASE_URL", "postgres://u@h/db", "DATABASE_URL must be a database URL"),
    ("TELEGRAM_PER_SECOND", "0", "TELEGRAM_PER_SECOND must be a whole number of at least 1, not '0'"),
    ("TELEGRAM_PER_SECOND", "1.5", "TELEGRAM_PER_SECOND must be a whole number of at least 1, not '1.5'"),
    ("TELEGRAM_CHAT_INTERVAL", "nan", "TELEGRAM_CHAT_INTERVAL must be a number of at least 0, not 'nan'"),
    ("TELEGRAM_CHAT_INTERVAL", "-1", "TELEGRAM_CHAT_INTERVAL must be a number of at least 0, not '-1'"),
])  # fmt: skip
def test_a_setting_that_would_fail_later_is_refused_by_name_at_start(name, value, says):
    with pytest.raises(ValueError, match=re.escape(says)):
        load_settings(environ={name: value}, dotenv_path=None)


def test_a_start_time_that_is_not_a_moment_is_refused_by_name():
    with pytest.raises(ValueError, match=re.escape("PITSTOP_NOW must be a moment like 2026-11-23T07:00:00Z, not 'garbage'")):
        load_settings(environ={"PITSTOP_NOW": "garbage"}, dotenv_path=None)
    with pytest.raises(ValueError, match="PITSTOP_NOW needs a timezone"):
        load_settings(environ={"PITSTOP_NOW": "2026-11-23T07:00:00"}, dotenv_path=None)


@pytest.mark.parametrize("name, value, said", [
    ("DATABASE_URL", "postgres://pitstop:hunter2@db.example/pitstop", "postgres://pitstop:***@db.example/pitstop"),
    ("REDIS_URL", "http://:hunter2@redis.example:6379/0", "http://:***@redis.example:6379/0"),
])  # fmt: skip
def test_a_mistyped_url_is_refused_without_printing_its_password(name, value, said):
    """postgres:// is what Heroku and Render hand out: the error said the password too."""
    with pytest.raises(ValueError) as refused:
        load_settings({name: value}, dotenv_path=None)
    assert said in str(refused.value) and "hunter2" not in str(refused.value)
