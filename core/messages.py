"""Messages as data: a message id, its parameters, and the choices offered with it.

Core and the conversation engine say *what* to tell a person; the channel decides *how*
at the last moment, in the reader's language. A message is plain JSON, so it can sit in
the outbox until delivery. Parameters that read differently per language (money, times,
a service's name) are typed values that `render` formats with babel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from core import i18n

Params = dict[str, Any]


@dataclass(frozen=True)
class Msg:
    """One translatable sentence: a message id (marked with N_) and its parameters.
    With `plural`, `n` picks the plural form the reader's language uses."""

    id: str
    params: Params = field(default_factory=dict)
    plural: str | None = None
    n: int | None = None

    def to_json(self) -> dict:
        out: dict = {"id": self.id}
        if self.params:
            out["params"] = self.params
        if self.plural is not None:
            out["plural"], out["n"] = self.plural, self.n
        return out

    @staticmethod
    def from_json(data: dict) -> Msg:
        return Msg(data["id"], data.get("params", {}), data.get("plural"), data.get("n"))


@dataclass(frozen=True)
class Choice:
    """Something the reader can tap or type the number of; `id` is stable and short
    (it becomes Telegram callback_data, at most 64 bytes)."""

    id: str
    label: Msg | str

    def to_json(self) -> dict:
        label = self.label.to_json() if isinstance(self.label, Msg) else {"text": self.label}
        return {"id": self.id, "label": label}

    @staticmethod
    def from_json(data: dict) -> Choice:
        label = data["label"]
        return Choice(data["id"], label["text"] if "text" in label else Msg.from_json(label))


@dataclass(frozen=True)
class Reply:
    """What to send: sentences (joined into one message) and the choices under it."""

    texts: tuple[Msg, ...]
    choices: tuple[Choice, ...] = ()
    ask_contact: bool = False  # Telegram: a "share my phone" button

    def to_json(self) -> dict:
        out: dict = {"texts": [t.to_json() for t in self.texts]}
        if self.choices:
            out["choices"] = [c.to_json() for c in self.choices]
        if self.ask_contact:
            out["ask_contact"] = True
        return out

    @staticmethod
    def from_json(data: dict) -> Reply:
        return Reply(
            tuple(Msg.from_json(t) for t in data.get("texts", [])),
            tuple(Choice.from_json(c) for c in data.get("choices", [])),
            bool(data.get("ask_contact")),
        )


# -- typed parameters ---------------------------------------------------------------------


def money(minor: int, currency: str) -> dict:
    return {"$money": [int(minor), currency]}


def when(at: datetime, timezone: str) -> dict:
    """Day and time, shown in the shop's timezone."""
    return {"$when": [at.isoformat(), timezone]}


def day(at: datetime, timezone: str) -> dict:
    return {"$day": [at.isoformat(), timezone]}


def clock(at: datetime, timezone: str) -> dict:
    return {"$clock": [at.isoformat(), timezone]}


def names(by_language: dict[str, str]) -> dict:
    """A name the shop wrote in several languages (a service); the reader's is shown."""
    return {"$names": dict(by_language)}


def message(msg: Msg) -> dict:
    """A whole translated sentence used as a parameter of another."""
    return {"$msg": msg.to_json()}


def decimal(value: float) -> dict:
    """A number shown with one decimal, in the reader's way (a rating's average)."""
    return {"$decimal": f"{value:.1f}"}


def percent(n: int) -> dict:
    return {"$percent": int(n)}


def join(items: list, sep: str = ", ") -> dict:
    return {"$join": [items, sep]}


# -- rendering ----------------------------------------------------------------------------


def render_param(value: Any, lang: str) -> Any:
    if not isinstance(value, dict) or len(value) != 1:
        return value
    (kind, arg), = value.items()
    if kind == "$money":
        return i18n.money(arg[0], arg[1], lang)
    if kind == "$when":
        return i18n.when(datetime.fromisoformat(arg[0]), arg[1], lang)
    if kind == "$day":
        return i18n.day(datetime.fromisoformat(arg[0]), arg[1], lang)
    if kind == "$clock":
        return i18n.clock(datetime.fromisoformat(arg[0]), arg[1], lang)
    if kind == "$decimal":
        return i18n.decimal(arg, lang)
    if kind == "$percent":
        return i18n.percent(arg, lang)
    if kind == "$names":
        return arg.get(lang) or arg.get("en") or next(iter(arg.values()), "")
    if kind == "$msg":
        return render(Msg.from_json(arg), lang)
    if kind == "$join":
        return arg[1].join(str(render_param(v, lang)) for v in arg[0])
    return value


def render(msg: Msg, lang: str) -> str:
    """The sentence in `lang`, with every parameter formatted for that reader."""
    params = {k: render_param(v, lang) for k, v in msg.params.items()}
    if msg.plural is not None:
        return i18n.ngettext(lang, msg.id, msg.plural, msg.n or 0, **params)
    return i18n.gettext(lang, msg.id, **params)


def render_label(label: Msg | str, lang: str) -> str:
    return label if isinstance(label, str) else render(label, lang)


def remembered_choices(choices, lang: str, aliases: dict[str, list[str]] | None = None) -> list[list]:
    """Choices as a conversation remembers them, to match a typed answer: each id with
    its label in every language, and any other words that mean it."""
    return [[c.id, every_label(c.label, lang) + (aliases or {}).get(c.id, [])] for c in choices]


def every_label(label: Msg | str, lang: str) -> list[str]:
    """A choice's label as the reader sees it, then in every other language: people type
    a button's words in whichever language comes to them ("skip", "ruka", "пропустить")."""
    if isinstance(label, str):
        return [label]
    if not label.params and label.plural is None:  # most labels ("Back", "Skip"): kept once made
        return list(_every_plain_label(label.id, lang))
    return _in_every_language(label, lang)


def _in_every_language(label: Msg, lang: str) -> list[str]:
    """The label in `lang`, then in the other languages, each wording once."""
    return list(dict.fromkeys([render(label, lang), *(render(label, o) for o in i18n.LANGUAGES if o != lang)]))


@lru_cache(maxsize=1024)
def _every_plain_label(msgid: str, lang: str) -> tuple[str, ...]:
    """`every_label` of a label without parameters: the same words on every menu, so they
    are rendered in the four languages once per process, not on every message."""
    return tuple(_in_every_language(Msg(msgid), lang))


def render_reply(reply: Reply, lang: str) -> tuple[str, list[tuple[str, str]]]:
    """Text and (choice id, label) pairs, ready for any channel to lay out its own way."""
    text = "\n".join(render(t, lang) for t in reply.texts)
    return text, [(c.id, render_label(c.label, lang)) for c in reply.choices]
