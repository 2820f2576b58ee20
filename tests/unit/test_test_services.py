"""The servers `make test` uses: the test variables or this machine, never the live ones
an operator may have exported (the tests create and drop databases and flush Redis)."""

from tests import services


def test_the_tests_never_take_the_live_database_or_redis(monkeypatch):
    monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
    monkeypatch.delenv("TEST_REDIS_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://pitstop@db.example.com:5432/pitstop")
    monkeypatch.setenv("REDIS_URL", "redis://cache.example.com:6379/0")

    assert (services.pg_url(), services.redis_url()) == (services.PG_DEFAULT, services.REDIS_DEFAULT)


def test_the_test_variables_name_other_servers(monkeypatch):
    monkeypatch.setenv("TEST_DATABASE_URL", "postgresql://postgres@10.0.0.5:5432/test")
    monkeypatch.setenv("TEST_REDIS_URL", "redis://10.0.0.6:6379/3")

    assert (services.pg_url(), services.redis_url()) == ("postgresql://postgres@10.0.0.5:5432/test", "redis://10.0.0.6:6379/3")
