"""The page's handlers as plain functions, without Gradio: a `GatewayClient` on the in-memory fake gateway.

What the person sees through Gradio is tested in test_ui_fake.py (gradio_client) and test_browser.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from frontend import handlers
from frontend.gateway_client import GatewayClient
from frontend.handlers import PageContext
from frontend.images import ImageFiles
from frontend.sessions import SessionStore
from frontend.updates import Message, Update
from tests.frontend.fake_gateway import FakeState, create_app


@pytest.fixture
def state() -> FakeState:
    return FakeState()


@pytest.fixture
async def ctx(state: FakeState, tmp_path: Path) -> AsyncIterator[PageContext]:
    client = GatewayClient("http://fake", transport=httpx.ASGITransport(app=create_app(state)))
    yield PageContext(client, ImageFiles(tmp_path / "files"))
    await client.aclose()


async def signed_in(ctx: PageContext, name: str = "Ann", email: str = "ann@example.com") -> dict[str, Any]:
    """The session `frontend.auth` opens (the handlers get it from the request's cookie)."""
    await ctx.client.register(name, email, "pw-123")
    token = await ctx.client.login(email, "pw-123")
    _id, session = await SessionStore(3600, 10).create(token, name, email)
    return session.as_dict()


def photo(folder: Path, name: str = "cat.png", colour: tuple[int, int, int] = (200, 120, 40)) -> Path:
    path = folder / name
    Image.new("RGB", (64, 48), colour).save(path)
    return path


def read(path: str) -> bytes:
    return Path(path).read_bytes()


def visible(value: Any) -> bool:
    assert isinstance(value, Update)
    return bool(value.props["visible"])


async def test_a_new_session_opens_on_the_classify_tab(ctx: PageContext) -> None:
    session = await signed_in(ctx)
    out = handlers.after_auth(session, None, "")
    assert out["who"].startswith("Signed in as **Ann** `ann@example.com` · session until ")
    assert out["tabs"] == Update({"selected": "classify"})  # not the tab the previous person left open
    assert visible(out["signed_in"])
    assert not visible(out["signed_out"])
    assert out["reg_password"] == ""
    assert out["password"] == ""
    assert out["owner"] == "ann@example.com"
    assert "token" not in repr(out)
    assert session["token"] not in repr(out)


async def test_the_same_person_again_keeps_the_page(ctx: PageContext) -> None:
    session = await signed_in(ctx)
    again = handlers.after_auth(session, "ann@example.com", "")
    assert "tabs" not in again
    assert "result" not in again
    assert "history" not in again
    other = handlers.after_auth(session, "someone@example.com", "")
    assert other["result"] is None
    assert other["tabs"] == Update({"selected": "classify"})


def test_a_failed_sign_in_says_why() -> None:
    assert handlers.after_auth(None, None, "Wrong email or password.") == {
        "auth_msg": Message("Wrong email or password."),
        "password": "",
    }


def test_signed_out_is_not_an_error() -> None:
    out = handlers.sign_out()
    assert out["auth_msg"] == Message("You are signed out.", "info")
    assert out["owner"] is None
    assert not visible(out["signed_in"])


async def test_classify_shows_readable_labels_and_the_photo(ctx: PageContext, tmp_path: Path) -> None:
    session = await signed_in(ctx)
    path = photo(tmp_path)
    out = await handlers.classify(ctx.client, session, (path, "cat.png"))
    assert list(out["result"]) == ["tabby", "tiger cat", "Egyptian cat", "lynx", "tiger"]
    assert "upload" not in out  # the photo stays in the box it was dropped in
    assert out["last"]["prediction"] == "tabby"
    assert out["last"]["image_file_name"].endswith(".png")
    assert out["classify_msg"] == Message()
    assert visible(out["feedback_box"])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.txt", b"just text", "File type is not supported."),
        ("fake.jpg", b"\xff\xd8\xff\xe0 not really a JPEG", "File is not a valid image."),
    ],
)
async def test_bad_file_says_why_and_shows_no_photo(
    ctx: PageContext, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    session = await signed_in(ctx)
    path = tmp_path / name
    path.write_bytes(content)
    out = await handlers.classify(ctx.client, session, (path, name))
    assert out["classify_msg"] == Message(message)
    assert out["upload"] is None  # the box is emptied: no broken-image frame
    assert out["result"] is None


async def test_classify_needs_a_session_and_a_file(ctx: PageContext, tmp_path: Path) -> None:
    out = await handlers.classify(ctx.client, None, (photo(tmp_path), "cat.png"))
    assert out["auth_msg"] == Message("Please sign in first.")
    session = await signed_in(ctx)
    out = await handlers.classify(ctx.client, session, None)  # the box emptied by its ×
    assert out["classify_msg"] == Message()  # nothing to complain about
    assert out["result"] is None


def test_choosing_a_verdict_clears_the_hint() -> None:
    wrong = handlers.on_verdict("Wrong")
    assert wrong == {"right_label": Update({"visible": True}), "feedback_msg": Message()}
    assert handlers.on_verdict("Correct")["right_label"] == Update({"visible": False})
    assert "feedback_msg" not in handlers.on_verdict(None)  # a reset keeps "Thank you…"


async def test_feedback_table_thumbnail_readable_and_escaped(ctx: PageContext, tmp_path: Path) -> None:
    session = await signed_in(ctx)
    empty = await handlers.load_feedback(ctx, session)
    assert "No feedback yet." in empty["feedback_table"]
    assert "<table" not in empty["feedback_table"]

    shown = (await handlers.classify(ctx.client, session, (photo(tmp_path), "cat.png")))["last"]
    assert (await handlers.send_feedback(ctx, session, shown, None, None, ""))["feedback_msg"] == Message(
        "Choose whether the top label is correct or wrong."
    )
    long_comment = "<b>not bold</b> " + "word " * 80
    sent = await handlers.send_feedback(ctx, session, shown, "Wrong", "Egyptian_cat", long_comment)
    assert sent["feedback_msg"] == Message("Thank you, your feedback is saved.", "ok")
    html = sent["feedback_table"]
    assert 'src="data:image/jpeg;base64,' in html  # a thumbnail, not the MD5 name
    assert shown["image_file_name"] not in html
    assert "right label: Egyptian cat" in html  # readable; the stored text keeps the identifier
    assert "&lt;b&gt;not bold&lt;/b&gt;" in html
    assert "<b>" not in html
    assert '<td class="predicted">tabby</td>' in html


async def test_feedback_sends_the_verdict_and_right_label_as_fields(
    ctx: PageContext, state: FakeState, tmp_path: Path
) -> None:
    session = await signed_in(ctx)
    shown = (await handlers.classify(ctx.client, session, (photo(tmp_path), "cat.png")))["last"]
    same = await handlers.send_feedback(ctx, session, shown, "Wrong", shown["prediction"], "")
    assert same["feedback_msg"].kind == "error"
    assert "top label itself" in same["feedback_msg"].text
    assert state.feedback.get("ann@example.com", []) == []  # nothing sent
    await handlers.send_feedback(ctx, session, shown, "Wrong", "Egyptian_cat", " pointy ears ")
    await handlers.send_feedback(ctx, session, shown, "Correct", "Egyptian_cat", "")  # a stale label
    sent = [(f["verdict"], f["correct_label"], f["feedback"]) for f in state.feedback["ann@example.com"]]
    assert sent == [("wrong", "Egyptian_cat", "pointy ears"), ("correct", None, "")]


async def test_feedback_on_someone_elses_file_is_refused(ctx: PageContext, tmp_path: Path) -> None:
    ann = await signed_in(ctx)
    bob = await signed_in(ctx, "Bob", "bob@example.com")
    shown = (await handlers.classify(ctx.client, ann, (photo(tmp_path), "cat.png")))["last"]
    out = await handlers.send_feedback(ctx, bob, shown, "Correct", None, "")
    assert out["feedback_msg"].kind == "error"
    assert "No prediction of yours" in out["feedback_msg"].text


async def test_history_pages_newest_first(ctx: PageContext, tmp_path: Path) -> None:
    session = await signed_in(ctx)
    empty = await handlers.load_history(ctx, session)
    assert empty["history_gallery"] == []
    assert "No predictions yet" in empty["history_info"]
    for i in range(handlers.HISTORY_PAGE + 3):
        await handlers.classify(ctx.client, session, (photo(tmp_path, f"p{i}.png", (i, 9, 9)), f"p{i}.png"))

    first = await handlers.load_history(ctx, session)
    assert first["history_info"].startswith(f"Predictions 1–20 of {handlers.HISTORY_PAGE + 3}, newest first")
    assert len(first["history_gallery"]) == handlers.HISTORY_PAGE
    assert [i["original_file_name"] for i in first["history"]["items"][:2]] == ["p22.png", "p21.png"]
    assert first["history_gallery"][0][1].startswith("tabby 61%\n")
    assert "asked" not in first["history_gallery"][0][1]  # each photo once
    assert read(first["history_gallery"][0][0])[:2] == b"\xff\xd8"  # a JPEG thumbnail
    assert first["newer_btn"] == Update({"interactive": False})
    assert first["older_btn"] == Update({"interactive": True})

    older = await handlers.history_older(ctx, session, first["history"])
    assert [i["original_file_name"] for i in older["history"]["items"]] == ["p2.png", "p1.png", "p0.png"]
    assert older["older_btn"] == Update({"interactive": False})
    back = await handlers.history_newer(ctx, session, older["history"])
    assert back["history"]["offset"] == 0


async def test_history_groups_repeats_of_one_photo(
    ctx: PageContext, state: FakeState, tmp_path: Path
) -> None:
    session = await signed_in(ctx)
    cat, cup = photo(tmp_path, "cat.png"), photo(tmp_path, "cup.png", (9, 9, 200))
    for path in (cat, cup, cat, cat, cat):
        await handlers.classify(ctx.client, session, (path, path.name))
    page = await handlers.load_history(ctx, session)
    (cat_caption, cup_caption) = [caption for _, caption in page["history_gallery"]]
    newest_cat = state.predictions[-1]
    last = datetime.fromisoformat(newest_cat["created_at"]).strftime("%b %d %H:%M")
    assert cat_caption == f"tabby 61%\nasked 4 times, last {last}"
    assert "asked" not in cup_caption
    items = page["history"]["items"]
    assert [i["prediction_id"] for i in items] == [
        newest_cat["prediction_id"],
        state.predictions[1]["prediction_id"],
    ]
    assert page["history_info"].startswith("Predictions 1–5 of 5 (2 photos")
    reopened = await handlers.reopen(ctx, session, page["history"], 0)
    assert reopened["last"]["image_file_name"] == newest_cat["image_file_name"]


async def test_reopen_a_past_prediction_and_give_feedback(
    ctx: PageContext, state: FakeState, tmp_path: Path
) -> None:
    session = await signed_in(ctx)
    for i in range(2):
        await handlers.classify(ctx.client, session, (photo(tmp_path, f"p{i}.png", (i, 0, 0)), f"p{i}.png"))
    page = await handlers.load_history(ctx, session)
    out = await handlers.reopen(ctx, session, page["history"], 1)  # the older one
    assert out["tabs"] == Update({"selected": "classify"})
    assert out["last"]["image_file_name"] == state.predictions[0]["image_file_name"]
    assert list(out["result"])[:2] == ["tabby", "tiger cat"]
    assert "from your history" in out["model_info"]
    assert "p0.png" in out["model_info"]
    assert read(out["upload"]) == state.images[out["last"]["image_file_name"]]  # in the one image box
    sent = await handlers.send_feedback(ctx, session, out["last"], "Correct", None, "seen again")
    assert sent["feedback_msg"].kind == "ok"
    (row,) = state.feedback["ann@example.com"]
    assert row["prediction_id"] == state.predictions[0]["prediction_id"]

    odd_name = [{**page["history"]["items"][0], "original_file_name": "a`![x](http://x/y.png)`.png"}]
    odd = await handlers.reopen(ctx, session, {"items": odd_name}, 0)
    assert "Photo: `a'![x](http://x/y.png)'.png`" in odd["model_info"]  # the name cannot end the code span

    stale = await handlers.reopen(ctx, session, page["history"], 7)
    assert stale == {"history_msg": Message("That prediction is no longer listed; refresh the history.")}


async def test_history_is_per_user(ctx: PageContext, state: FakeState, tmp_path: Path) -> None:
    ann = await signed_in(ctx)
    bob = await signed_in(ctx, "Bob", "bob@example.com")
    await handlers.classify(ctx.client, ann, (photo(tmp_path), "cat.png"))
    assert (await handlers.load_history(ctx, bob))["history_gallery"] == []
    ann_page = await handlers.load_history(ctx, ann)
    out = await handlers.reopen(ctx, bob, ann_page["history"], 0)  # ann's entry replayed by bob
    assert out["history_msg"] == Message("Prediction not found.")


async def test_expired_session_goes_back_to_sign_in(ctx: PageContext, state: FakeState) -> None:
    session = await signed_in(ctx)
    state.expire_all_tokens()
    for out in (
        await handlers.load_history(ctx, session),
        await handlers.load_feedback(ctx, session),
    ):
        assert out["auth_msg"] == Message("Your session has expired. Please sign in again.")
        assert out[handlers.SESSION_ENDED] is True  # frontend.ui then ends the page's session
        assert "result" not in out
        assert "history" not in out


async def test_every_name_a_handler_returns_is_on_the_page(ctx: PageContext, tmp_path: Path) -> None:
    import gradio as gr

    from frontend.ui import layout

    session = await signed_in(ctx)
    shown = (await handlers.classify(ctx.client, session, (photo(tmp_path), "cat.png")))["last"]
    returned = [
        handlers.sign_out(),
        handlers.on_verdict("Wrong"),
        handlers.after_auth(session, None, ""),
        handlers.after_auth(None, None, "Wrong email or password."),
        {k: v for k, v in handlers.expired_view().items() if k != handlers.SESSION_ENDED},
        await handlers.send_feedback(ctx, session, shown, "Correct", None, ""),
        await handlers.load_feedback(ctx, session),
        await handlers.load_history(ctx, session),
        await handlers.reopen(ctx, session, None, 0),
        await handlers.classify_several(ctx, session, [(photo(tmp_path), "cat.png")]),
    ]
    with gr.Blocks():
        elements, _ = layout(["tabby"], [], demo_login=True)
    names = set().union(*returned) | {"feedback_list_msg"}  # the last one: a failed list
    assert names <= set(elements), names - set(elements)


def test_only_an_admins_session_shows_the_evaluation_tab() -> None:
    session = {"token": "t", "name": "A", "email": "a@example.com", "expires_at": 2e9}
    assert handlers.open_session({**session, "is_admin": True}, None)["evaluation_tab"].props == {
        "visible": True
    }
    assert handlers.open_session(session, None)["evaluation_tab"].props == {"visible": False}
    assert handlers.signed_out_view()["evaluation_tab"].props == {"visible": False}


async def test_several_photos_each_get_their_own_answer_or_error(ctx: PageContext, tmp_path: Path) -> None:
    session = await signed_in(ctx)
    fake = tmp_path / "fake.jpg"
    fake.write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    uploads: list[handlers.Upload] = [
        (photo(tmp_path, "a.png"), "a.png"),
        (fake, "fake.jpg"),
        (photo(tmp_path, "b.png", (10, 90, 200)), "b.png"),
    ]
    out = await handlers.classify_several(ctx, session, uploads)
    captions = [caption for _, caption in out["several_gallery"]]
    assert captions == [  # in the order sent; the fake gateway answers tabby 61%
        "tabby 61%\na.png",
        "File is not a valid image.\nfake.jpg",
        "tabby 61%\nb.png",
    ]
    thumbs = [Image.open(path) for path, _ in out["several_gallery"]]
    assert all(t.format == "JPEG" for t in thumbs)
    assert thumbs[0].getpixel((5, 5)) != thumbs[2].getpixel((5, 5))  # each tile its own photo
    assert out["several_msg"] == Message("", "info")
    assert "result" not in out  # the single image box's answer is left as it was


async def test_several_photos_are_capped_and_a_weak_answer_is_not_sure(
    ctx: PageContext, state: FakeState, tmp_path: Path
) -> None:
    session = await signed_in(ctx)
    state.top5 = [("tabby", 0.18), *state.top5[1:]]
    ctx.max_files = 2
    uploads: list[handlers.Upload] = [
        (photo(tmp_path, f"{i}.png", (i * 40, 0, 0)), f"{i}.png") for i in range(3)
    ]
    out = await handlers.classify_several(ctx, session, uploads)
    unsure = "Not sure — maybe tabby (18%)"
    assert [c for _, c in out["several_gallery"]] == [f"{unsure}\n0.png", f"{unsure}\n1.png"]
    assert out["several_msg"] == Message("Only the first 2 photos were sent; send the others next.", "info")
    assert (await handlers.classify_several(ctx, None, uploads))["auth_msg"] == Message(
        "Please sign in first."
    )
    assert (await handlers.classify_several(ctx, session, []))["several_gallery"] is None
