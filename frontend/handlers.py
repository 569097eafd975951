"""What each event on the page does: plain async functions of (page context, inputs) -> `Updates`.

They talk to the gateway through `GatewayClient` only and never import Gradio; `frontend.ui` lays out the
page and wires these to its events. `session` is the signed-in person's, found by `frontend.ui`
from the request's cookie (`frontend.sessions`); the token is never put in the URL, Gradio's state, an element
the person sees, or the logs.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from frontend.config import MAX_FILES, UNSURE_BELOW
from frontend.gateway_client import (
    GatewayClient,
    GatewayError,
    PastPrediction,
    Prediction,
    SessionExpiredError,
)
from frontend.images import ImageFiles, no_photo, thumbnail
from frontend.text import CORRECT, WRONG, answer, feedback_fields, model_line, readable, short_answer
from frontend.updates import Message, Updates, update
from frontend.views import feedback_table, history_caption, history_info, repeats_grouped

log = logging.getLogger(__name__)

HISTORY_PAGE = 20
THUMBNAIL_FETCHES = 4  # at once, per page shown
SEVERAL_AT_ONCE = 2  # "Several photos": gateway calls at once, per person's upload
CLASSIFY_TAB, SIGN_IN_TAB = "classify", "sign-in"
EXPIRED = "Your session has expired. Please sign in again."
SESSION_ENDED = "session_ended"  # in Updates: the page's session is to be ended (the gateway refused it)

Session = dict[str, Any] | None  # {"token", "name", "email", "expires_at"} while signed in
Upload = tuple[Path, str] | None  # (file on disk, the name it was uploaded under)


@dataclass
class PageContext:
    client: GatewayClient
    files: ImageFiles
    unsure_below: float = UNSURE_BELOW
    max_files: int = MAX_FILES  # photos classified from one "Several photos" upload


# --- the views every handler builds on ---


def cleared_results(message: str = "") -> Updates:
    return {
        "last": None,
        "answer": update(value="", visible=False),
        "result": None,
        "model_info": "",
        "classify_msg": Message(message),
        "feedback_box": update(visible=False),
        "feedback_msg": Message(),
        "verdict": None,
        "right_label": update(value=None, visible=False),
        "comment": "",
    }


def history_reset() -> Updates:
    return {
        "history": None,
        "history_gallery": None,
        "history_info": "",
        "history_msg": Message(),
        "newer_btn": update(interactive=False),
        "older_btn": update(interactive=False),
    }


def several_reset() -> Updates:
    return {"several": None, "several_gallery": None, "several_msg": Message()}


def signed_out_view(message: str = "", kind: str = "error") -> Updates:
    """Signed out: nothing of the last person is left on the page."""
    return {
        "owner": None,
        "signed_out": update(visible=True),
        "signed_in": update(visible=False),
        "auth_msg": Message(message, kind),  # type: ignore[arg-type]
        "auth_tabs": update(selected=SIGN_IN_TAB),
        "email": "",  # nothing of the last person is left in the forms
        "password": "",
        "reg_name": "",
        "reg_email": "",
        "reg_password": "",
        "who": "",
        "upload": None,
        "feedback_table": "",
        "evaluation_tab": update(visible=False),
        "evaluation_table": "",
        **history_reset(),
        **several_reset(),
        **cleared_results(),
    }


def expired_view(message: str = EXPIRED) -> Updates:
    """The session ended (token expired or refused): the sign-in form, with the page kept as it was, so the
    same person signing in again finds it unchanged (`owner` stays theirs)."""
    return {
        SESSION_ENDED: True,
        "signed_out": update(visible=True),
        "signed_in": update(visible=False),
        "auth_msg": Message(message),
        "auth_tabs": update(selected=SIGN_IN_TAB),
        "password": "",
    }


def who_line(session: dict[str, Any]) -> str:
    ends = datetime.fromtimestamp(float(session["expires_at"]), UTC).strftime("%H:%M UTC")
    # code span: no mailto link
    return f"Signed in as **{session['name']}** `{session['email']}` · session until {ends}"


def open_session(session: dict[str, Any], owner: str | None) -> Updates:
    """Signed in (or back after a reload). The same person as before (the session had expired) keeps the
    page as it was; anyone else starts afresh on Classify."""
    view: Updates = {
        "owner": session["email"],
        "signed_out": update(visible=False),
        "signed_in": update(visible=True),
        "auth_msg": Message(),
        "who": who_line(session),
        "password": "",
        "reg_password": "",
        "evaluation_tab": update(visible=bool(session.get("is_admin"))),
    }
    if owner == session["email"]:
        return view
    return {
        **view,
        "tabs": update(selected=CLASSIFY_TAB),
        "upload": None,
        "feedback_table": "",
        "evaluation_table": "",
        **history_reset(),
        **several_reset(),
        **cleared_results(),
    }


def after_auth(session: Session, owner: str | None, message: str | None) -> Updates:
    """After the page's sign-in (or registration) request: its session, or the reason it failed."""
    if session is None:
        return {"auth_msg": Message(message or "Sign-in failed; please try again."), "password": ""}
    return open_session(session, owner)


def shown_prediction(pred: Prediction, model_text: str, unsure_below: float) -> Updates:
    """The answer beside the photo (the photo itself stays in the one image box)."""
    headline, style = answer(pred.prediction, pred.score, unsure_below)
    return {
        **cleared_results(),
        "last": {
            "prediction": pred.prediction,
            "score": pred.score,
            "image_file_name": pred.image_file_name,
        },
        "answer": update(value=headline, visible=True, elem_classes=[style]),
        "result": {readable(label): score for label, score in pred.top_k},
        "model_info": model_text,
        "feedback_box": update(visible=True),
    }


# --- signing out ---


def sign_out() -> Updates:
    return signed_out_view("You are signed out.", kind="info")


# --- classify and feedback ---


async def classify(
    client: GatewayClient, session: Session, upload: Upload, unsure_below: float = UNSURE_BELOW
) -> Updates:
    """A photo arrived in the box (a click, a drop, a paste, the camera, an example): the gateway decides
    whether it is acceptable. An emptied box (its ×) empties the answer, with nothing to complain about."""
    if upload is None:
        return cleared_results()
    if not session:
        return signed_out_view("Please sign in first.")
    path, name = upload
    try:
        pred = await client.predict(session["token"], path, name)
    except SessionExpiredError as exc:
        return expired_view(exc.message)
    except GatewayError as exc:
        return refused(exc.message)
    except OSError:
        log.exception("cannot read the uploaded file")
        return refused("The uploaded file could not be read; please upload it again.")
    line = model_line(pred.model_name, pred.model_version, cached=pred.cached, label=pred.model_label)
    return shown_prediction(pred, line, unsure_below)


async def classify_several(ctx: PageContext, session: Session, uploads: list[Upload]) -> Updates:
    """Photos sent at once: each one its own gateway call (a few at a time) and its own tile, thumbnail and
    caption, so a file the gateway refuses shows its reason on its tile and the others are still answered."""
    photos = [u for u in uploads if u is not None]
    if not photos:
        return several_reset()
    if not session:
        return signed_out_view("Please sign in first.")
    user, token = session["email"], session["token"]
    note = ""
    if len(photos) > ctx.max_files:
        note = f"Only the first {ctx.max_files} photos were sent; send the others next."
        photos = photos[: ctx.max_files]
    gate = asyncio.Semaphore(SEVERAL_AT_ONCE)

    async def one(path: Path, name: str) -> tuple[bytes | None, str]:
        async with gate:
            try:
                pred = await ctx.client.predict(token, path, name)
            except SessionExpiredError:
                raise
            except GatewayError as exc:
                return None, f"{exc.message}\n{name}"
            except OSError:
                log.exception("cannot read an uploaded file")
                return None, f"The file could not be read; please upload it again.\n{name}"
        content = await asyncio.to_thread(path.read_bytes)
        jpeg = await asyncio.to_thread(thumbnail, content)
        return jpeg, f"{short_answer(pred.prediction, pred.score, ctx.unsure_below)}\n{name}"

    try:
        answers = await asyncio.gather(*(one(path, name) for path, name in photos))
    except SessionExpiredError as exc:
        return expired_view(exc.message)
    gallery = []
    for jpeg, caption in answers:
        if jpeg is None:
            tile = await ctx.files.write(user, "several-no-photo.jpg", no_photo())
        else:
            tile = await ctx.files.write(user, f"several-{hashlib.md5(jpeg).hexdigest()}.jpg", jpeg)
        gallery.append((str(tile), caption))
    return {"several_gallery": gallery, "several_msg": Message(note, "info")}


def refused(message: str) -> Updates:
    """The gateway's reason, and an empty box (no broken-image frame, and ready for the next photo)."""
    return {**cleared_results(message), "upload": None}


def on_verdict(value: str | None) -> Updates:
    """Show the right-label box for "Wrong"; a choice answers any earlier "choose…" hint."""
    shown = {"right_label": update(visible=value == WRONG)}
    return {**shown, "feedback_msg": Message()} if value else shown


async def _feedback_html(ctx: PageContext, session: dict[str, Any]) -> str:
    items = await ctx.client.list_feedback(session["token"])
    ids = [int(i["prediction_id"]) for i in items if isinstance(i.get("prediction_id"), int)]
    return feedback_table(items, await thumbnails(ctx, session, ids))


async def load_feedback(ctx: PageContext, session: Session) -> Updates:
    if not session:
        return signed_out_view("Please sign in first.")
    try:
        return {"feedback_table": await _feedback_html(ctx, session)}
    except SessionExpiredError as exc:
        return expired_view(exc.message)
    except GatewayError as exc:
        return {"feedback_list_msg": Message(exc.message)}


async def send_feedback(
    ctx: PageContext,
    session: Session,
    shown: dict[str, Any] | None,
    verdict: str | None,
    right_label: str | None,
    comment: str | None,
) -> Updates:
    if not session:
        return signed_out_view("Please sign in first.")
    if not shown:
        return {"feedback_msg": Message("Classify a photo first.")}
    if verdict not in (CORRECT, WRONG):
        return {"feedback_msg": Message("Choose whether the top label is correct or wrong.")}
    fields = feedback_fields(verdict, right_label, comment)
    if fields["correct_label"] == shown["prediction"]:
        return {
            "feedback_msg": Message("That is the top label itself: choose Correct, or pick another label.")
        }
    try:
        await ctx.client.send_feedback(
            session["token"],
            score=shown["score"],
            predicted_class=shown["prediction"],
            image_file_name=shown["image_file_name"],
            **fields,
        )
        table = await _feedback_html(ctx, session)
    except SessionExpiredError as exc:
        return expired_view(exc.message)
    except GatewayError as exc:
        return {"feedback_msg": Message(exc.message)}
    return {
        "feedback_msg": Message("Thank you, your feedback is saved.", "ok"),
        "feedback_table": table,
        "verdict": None,
        "right_label": update(value=None, visible=False),
        "comment": "",
    }


# --- history ---


async def thumbnails(ctx: PageContext, session: dict[str, Any], ids: list[int]) -> dict[int, bytes | None]:
    """Thumbnails of the caller's own predictions; None for one the gateway no longer has."""
    user = session["email"]
    found: dict[int, bytes | None] = {}
    missing = []
    for prediction_id in dict.fromkeys(ids):
        hit, jpeg = ctx.files.cached_thumbnail(user, prediction_id)
        if hit:
            found[prediction_id] = jpeg
        else:
            missing.append(prediction_id)
    gate = asyncio.Semaphore(THUMBNAIL_FETCHES)

    async def fetch(prediction_id: int) -> None:
        async with gate:
            try:
                content = await ctx.client.prediction_image(session["token"], prediction_id)
            except SessionExpiredError:
                raise
            except GatewayError as exc:
                log.info("no photo for prediction %s: %s", prediction_id, exc.message)
                found[prediction_id] = None  # not kept: it may be a passing failure
                return
        jpeg = await asyncio.to_thread(thumbnail, content)
        ctx.files.keep_thumbnail(user, prediction_id, jpeg)
        found[prediction_id] = jpeg

    await asyncio.gather(*(fetch(i) for i in missing))
    return found


async def load_history(ctx: PageContext, session: Session, offset: int = 0) -> Updates:
    if not session:
        return signed_out_view("Please sign in first.")
    offset = max(0, int(offset))
    try:
        page = await ctx.client.list_predictions(session["token"], HISTORY_PAGE, offset)
        if not page.items and offset > 0:  # the last page emptied meanwhile: show the first
            return await load_history(ctx, session, 0)
        tiles = repeats_grouped(page.items)
        thumbs = await thumbnails(ctx, session, [tile.item.prediction_id for tile in tiles])
        gallery = []
        for tile in tiles:
            jpeg = thumbs.get(tile.item.prediction_id)
            if jpeg is None:
                continue  # Gradio's gallery needs an image; the count below still says how many
            path = await ctx.files.write(session["email"], f"thumb-{tile.item.prediction_id}.jpg", jpeg)
            gallery.append((str(path), history_caption(tile)))
    except SessionExpiredError as exc:
        return expired_view(exc.message)
    except GatewayError as exc:
        return {"history_msg": Message(exc.message)}
    shown = [tile.item for tile in tiles if thumbs.get(tile.item.prediction_id) is not None]
    return {
        "history": {
            "offset": page.offset,
            "total": page.total,
            "items": [_past_to_state(item) for item in shown],
        },
        "history_gallery": gallery,
        "history_info": history_info(page.offset, len(page.items), page.total, len(tiles)),
        "history_msg": Message(),
        "newer_btn": update(interactive=page.offset > 0),
        "older_btn": update(interactive=page.offset + len(page.items) < page.total),
    }


async def history_newer(ctx: PageContext, session: Session, history: dict[str, Any] | None) -> Updates:
    offset = (history or {}).get("offset", 0)
    return await load_history(ctx, session, max(0, offset - HISTORY_PAGE))


async def history_older(ctx: PageContext, session: Session, history: dict[str, Any] | None) -> Updates:
    offset = (history or {}).get("offset", 0)
    return await load_history(ctx, session, offset + HISTORY_PAGE)


async def reopen(
    ctx: PageContext, session: Session, history: dict[str, Any] | None, index: int | None
) -> Updates:
    """Show a past prediction on the Classify tab again, its photo and top 5, ready for feedback."""
    if not session:
        return signed_out_view("Please sign in first.")
    items = (history or {}).get("items") or []
    if index is None or not 0 <= int(index) < len(items):
        return {"history_msg": Message("That prediction is no longer listed; refresh the history.")}
    item = _past_from_state(items[int(index)])
    try:
        content = await ctx.client.prediction_image(session["token"], item.prediction_id)
    except SessionExpiredError as exc:
        return expired_view(exc.message)
    except GatewayError as exc:
        return {"history_msg": Message(exc.message)}
    photo = await ctx.files.write(session["email"], item.image_file_name, content)
    source = (item.original_file_name or item.image_file_name).replace("`", "'")  # stays a code span
    line = model_line(
        item.model_name, item.model_version, cached=True, reopened_at=item.created_at, label=item.model_label
    )
    return {
        **shown_prediction(item.as_prediction(), f"{line}  \nPhoto: `{source}`", ctx.unsure_below),
        "upload": str(photo),  # in the image box, as if just dropped there
        "tabs": update(selected=CLASSIFY_TAB),
        "history_msg": Message(),
    }


def _past_to_state(item: PastPrediction) -> dict[str, Any]:
    return {
        "prediction_id": item.prediction_id,
        "image_file_name": item.image_file_name,
        "original_file_name": item.original_file_name,
        "prediction": item.prediction,
        "score": item.score,
        "top_k": [{"label": label, "score": score} for label, score in item.top_k],
        "model": {"name": item.model_name, "version": item.model_version},
        "created_at": item.created_at,
    }


def _past_from_state(data: dict[str, Any]) -> PastPrediction:
    return PastPrediction.from_json(data)
