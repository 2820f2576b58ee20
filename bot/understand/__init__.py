"""Understand what people type: pure functions from chat text to values.

Why a separate, dependency-free package: the conversation engine must give a
helpful reply to anything a person types (invariant 6), in English, Swahili,
Russian and Kazakh.  Keeping the reading of text pure — no I/O, no database,
no imports from the rest of Pitstop — makes it cheap to test exhaustively,
including with random input.  Every function returns None (or False for
``looks_like``) when it does not understand, and never raises.
"""

from .answers import looks_like, parse_rating, parse_yes_no, small_talk
from .choices import (
    Request,
    is_position,
    pick_choice,
    pick_choices,
    pick_requested,
    pick_requested_when,
)
from .languages import language_of
from .numbers import parse_amount
from .plates import normalise_plate, plate_key
from .when import When, names_weekday, parse_when

__all__ = [
    "Request",
    "When",
    "is_position",
    "language_of",
    "looks_like",
    "names_weekday",
    "normalise_plate",
    "parse_amount",
    "parse_rating",
    "parse_when",
    "parse_yes_no",
    "pick_choice",
    "pick_choices",
    "pick_requested",
    "pick_requested_when",
    "plate_key",
    "small_talk",
]
