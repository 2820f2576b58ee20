"""How a Twilio inbound form becomes a message for the conversation: the files it carries."""

from bot.whatsapp import parse
from pitstop.fakes.twilio import inbound_media_params

MEDIA = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/"


def test_every_image_of_a_whatsapp_message_goes_on_in_order_and_a_pdf_among_them_is_said_not_passed_on():
    form = inbound_media_params("+254722111222", "The tyre", [(MEDIA + "ME1", "application/pdf"),
                                (MEDIA + "ME2", "image/jpeg"), (MEDIA + "ME3", "image/png")])  # fmt: skip

    inbound = parse(form)

    assert (inbound.photo, inbound.more_photos) == (f"whatsapp:{MEDIA}ME2", (f"whatsapp:{MEDIA}ME3",))
    assert (inbound.event.text, inbound.event.other_file) == ("The tyre", True)


def test_images_without_words_beside_a_video_are_passed_on_and_the_video_is_said_not_to_be():
    form = inbound_media_params("+254722111222", "", [(MEDIA + "ME1", "image/jpeg"), (MEDIA + "ME2", "video/mp4"),
                                                      (MEDIA + "ME3", "image/jpeg")])  # fmt: skip

    photo_event = parse(form).photo_event(parse(form).event)

    assert photo_event.photos == (f"whatsapp:{MEDIA}ME1", f"whatsapp:{MEDIA}ME3")
    assert (photo_event.text, photo_event.other_file) == ("", True)


def test_one_image_alone_is_one_photo_as_ever():
    inbound = parse(inbound_media_params("+254722111222", "", MEDIA + "ME1"))

    assert (inbound.photo, inbound.more_photos, inbound.event) == (f"whatsapp:{MEDIA}ME1", (), None)


def test_a_pdf_alone_is_read_as_nothing_and_said_to_be_a_file_not_passed_on():
    """It came as "a message with media only", like a photo without words: a staff member's
    first message being a PDF alone was greeted and the PDF never mentioned."""
    inbound = parse(inbound_media_params("+254722111222", "", [(MEDIA + "ME1", "application/pdf")]))

    assert inbound.photo is None
    assert (inbound.event.kind, inbound.event.text, inbound.event.other_file) == ("unsupported", "", True)
