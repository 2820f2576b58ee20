"""How a long reply is cut into WhatsApp bodies (Twilio takes 1,600 characters)."""

from bot.whatsapp import pieces


def test_a_short_text_is_one_body_as_it_is():
    assert pieces("Booked!\n\n1. Menu") == ["Booked!\n\n1. Menu"]
    assert pieces("") == [""]


def test_a_long_text_is_cut_between_lines():
    lines = [f"{n:02d} " + "x" * 96 for n in range(40)]  # 40 lines of 99 characters

    parts = pieces("\n".join(lines))

    assert [len(p) for p in parts] == [1599, 1599, 799]  # 16 lines and their line breaks fit in one
    assert "\n".join(parts) == "\n".join(lines)


def test_a_line_too_long_alone_is_cut_between_words():
    words = " ".join(["pikipiki"] * 400)  # 3,599 characters, no line break

    parts = pieces(f"Before\n{words}\nAfter")

    assert parts[0] == "Before" and parts[-1].endswith("\nAfter")
    assert all(len(p) <= 1600 and not p.startswith(" ") and not p.endswith(" ") for p in parts)
    assert " ".join(parts[1:-1] + [parts[-1].removesuffix("\nAfter")]) == words
