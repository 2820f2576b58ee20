"""bot/conversation.md draws every state of the customer's dialogue (the engine's
docstring sends readers there), and no state the engine does not have."""

import re
from pathlib import Path

import bot.flows_account  # noqa: F401  (registers its states)
import bot.flows_booking  # noqa: F401
from bot import engine

DIAGRAM = (Path(__file__).resolve().parents[2] / "bot" / "conversation.md").read_text()


def drawn_states() -> set[str]:
    mermaid = DIAGRAM.split("```mermaid", 1)[1].split("end note", 1)[0]
    return {s for pair in re.findall(r"^\s*(\w+) --> (\w+)", mermaid, re.M) for s in pair}


def test_every_state_of_the_engine_is_drawn_and_nothing_else():
    assert drawn_states() == set(engine.HANDLERS)
