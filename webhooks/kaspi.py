"""Placeholder until this caller's blueprint lands (see the issues)."""

from flask import Blueprint

blueprint = Blueprint("kaspi", __name__)
