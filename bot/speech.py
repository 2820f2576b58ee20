"""What a turn of either dialogue (customers' and staff's) does with words: say things,
offer choices that a typed answer can match, and ask core to act."""

from __future__ import annotations

from core.i18n import N_
from core.messages import Choice, Msg, Reply, remembered_choices, render

# Either dialogue's answer to a yes/no button left on an earlier question.
STALE = N_("That button belongs to an earlier question, so I did nothing.")
GLOBAL_WORDS = ("back", "stop", "help", "language")  # understood in every state of either dialogue


class Speech:
    """Mixed into a dialogue's Turn, which has `data`, `replies`, `commands` and `lang`."""

    data: dict
    replies: list[Reply]
    commands: list
    lang: str

    def say(self, *texts: Msg, choices: tuple[Choice, ...] = (), ask_contact: bool = False) -> None:
        self.replies.append(Reply(tuple(texts), tuple(choices), ask_contact))

    def offer(self, texts: list[Msg], choices: list[Choice], aliases: dict[str, list[str]] | None = None,
              ask_contact: bool = False) -> None:  # fmt: skip
        """Say something with choices and remember them, so a typed answer can match
        (in any language: people type a button's words in whichever comes to them)."""
        self.data["offered"] = remembered_choices(choices, self.lang, aliases)
        self.say(*texts, choices=tuple(choices), ask_contact=ask_contact)

    def label(self, choice: Choice) -> str:
        return choice.label if isinstance(choice.label, str) else render(choice.label, self.lang)

    def do(self, command) -> None:
        self.commands.append(command)
