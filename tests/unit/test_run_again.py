"""A webhook that met a connection the database had just ended runs once more, whole."""

import pytest
from flask import Flask, request
from sqlalchemy.exc import DBAPIError

from webhooks import _again_if_connection_dropped


def app_with(view) -> Flask:
    app = Flask("test")
    app.add_url_rule("/hook", "hook", _again_if_connection_dropped(view), methods=["POST"])
    return app


def gone(invalidated: bool) -> DBAPIError:
    return DBAPIError("SELECT 1", {}, Exception("server closed the connection"), connection_invalidated=invalidated)


def test_the_second_run_reads_the_same_body_even_when_the_handler_reads_it_uncached():
    bodies: list[bytes] = []

    def view():
        bodies.append(request.get_data(cache=False))  # as the M-Pesa callback reads it
        if len(bodies) == 1:
            raise gone(invalidated=True)
        return "applied"

    assert app_with(view).test_client().post("/hook", data=b'{"Body": {}}').data == b"applied"
    assert bodies == [b'{"Body": {}}', b'{"Body": {}}']


def test_any_other_database_error_is_not_run_again():
    runs: list[int] = []

    def view():
        runs.append(1)
        raise gone(invalidated=False)

    app = app_with(view)
    app.testing = True
    with pytest.raises(DBAPIError):
        app.test_client().post("/hook", data=b"x")
    assert runs == [1]
