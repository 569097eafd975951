"""The Gradio page: sign in or register, classify a photo, give feedback, list my feedback.

Every handler talks to the gateway through `GatewayClient` only. The token lives in a per-browser-session
`gr.State`; it is never put in the URL, a component the person sees, or the logs. Handlers return dicts
{component: value} so that each can also send the person back to the sign-in panel when the token expires.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr

from frontend.gateway_client import GatewayClient, GatewayError, Prediction, SessionExpiredError

log = logging.getLogger(__name__)

CORRECT, WRONG = "Correct", "Wrong"
FEEDBACK_HEADERS = ["When (UTC)", "Image", "Predicted", "Score", "Feedback"]

CSS = """
#signed-in-as { align-self: center; }
#signed-in-as p { margin: 0; }
.status-error p { color: var(--error-text-color); font-weight: 600; }
.status-ok p { color: var(--color-accent); font-weight: 600; }
"""


def _uploaded_file(payload: Any) -> tuple[Path, str] | None:
    """(path, original name) of the photo as uploaded.

    The classify events run with `preprocess=False`: `gr.Image` would otherwise open every upload with PIL
    before our code runs, so a corrupt or non-image file would end in a Gradio error instead of the gateway's
    own message, and a mode conversion would re-encode the bytes. The gateway decides what is acceptable.
    """
    if payload is None:
        return None
    data = payload if isinstance(payload, dict) else payload.model_dump()
    if not data.get("path"):
        return None
    path = Path(data["path"])
    return path, Path(data.get("orig_name") or path.name).name


def _status(text: str, ok: bool = False) -> Any:
    """Update for a message line: shown in the error or success colour, hidden when empty."""
    return gr.Markdown(text, visible=bool(text), elem_classes=["status-ok" if ok else "status-error"])


def _message_line(label: str) -> gr.Markdown:
    """An initially hidden message line; the label only names it for API clients."""
    return gr.Markdown(visible=False, label=label, elem_classes=["status-error"])


def _feedback_text(verdict: str, right_label: str | None, comment: str | None) -> str:
    parts = [verdict.lower()]
    if verdict == WRONG and right_label and right_label.strip():
        parts.append(f"right label: {right_label.strip()}")
    if comment and comment.strip():
        parts.append(f"comment: {comment.strip()}")
    return "; ".join(parts)


def _when(value: Any) -> str:
    """'2026-11-27T08:26:01.123+00:00' -> '2026-11-27 08:26' (what a person reads; UTC as stored)."""
    text = str(value or "")
    return text[:16].replace("T", " ") if len(text) >= 16 else text


def _feedback_rows(items: list[dict[str, Any]]) -> list[list[Any]]:
    """Newest first, the score as a percentage like the bars show it."""
    rows = []
    for item in sorted(items, key=lambda i: i.get("id") or 0, reverse=True):
        score = item.get("score")
        rows.append(
            [
                _when(item.get("created_at")),
                item.get("image_file_name", ""),
                item.get("predicted_class", ""),
                f"{float(score):.1%}" if isinstance(score, int | float) else (score or ""),
                item.get("feedback", ""),
            ]
        )
    return rows


UNSURE_BELOW = 0.05  # a top score this low shows as "0%" bars: say so in words


def _model_line(pred: Prediction) -> str:
    source = "answered from the cache" if pred.cached else "computed now"
    version = f" version **{pred.model_version}**" if pred.model_version else ""
    line = f"Model **{pred.model_name or 'unknown'}**{version} · {source}"
    if pred.score < UNSURE_BELOW:
        line += f"  \nThe model is unsure about this photo: its best guess scores only {pred.score:.2%}."
    return line


def build_demo(client: GatewayClient, labels: list[str], examples: list[Path]) -> gr.Blocks:
    with gr.Blocks(title="Image classifier", analytics_enabled=False) as demo:
        session = gr.State(None)  # {"token", "name", "email"} while signed in
        last = gr.State(None)  # the prediction shown, for feedback

        gr.Markdown("# Image classifier\nWhat is in your photo? Top-5 ImageNet labels, with your feedback.")

        with gr.Column(visible=True) as signed_out:
            with gr.Tabs():
                with gr.Tab("Sign in"):
                    email = gr.Textbox(label="Email", type="email")
                    password = gr.Textbox(label="Password", type="password")
                    sign_in_btn = gr.Button("Sign in", variant="primary")
                with gr.Tab("Register"):
                    reg_name = gr.Textbox(label="Name")
                    reg_email = gr.Textbox(label="Email", type="email")
                    reg_password = gr.Textbox(label="Password", type="password")
                    register_btn = gr.Button("Create account", variant="primary")
            auth_msg = _message_line("Sign-in message")

        with gr.Column(visible=False) as signed_in:
            with gr.Row(equal_height=True):
                who = gr.Markdown(elem_id="signed-in-as", label="Signed in as")
                sign_out_btn = gr.Button("Sign out", size="sm", variant="secondary", scale=0, min_width=100)
            with gr.Tabs():
                with gr.Tab("Classify"), gr.Row():
                    with gr.Column(min_width=300):
                        image = gr.Image(
                            type="filepath",
                            image_mode=None,
                            sources=["upload", "clipboard"],
                            label="Photo (JPEG, PNG or GIF)",
                            height=360,
                            elem_id="photo",
                        )
                        classify_btn = gr.Button("Classify", variant="primary")
                        classify_msg = _message_line("Classify message")  # next to the photo it is about
                        if examples:
                            gr.Examples([[str(p)] for p in examples], inputs=image, label="Or try one")
                    with gr.Column(min_width=300):
                        result = gr.Label(num_top_classes=5, label="Top 5 labels", elem_id="top5")
                        model_info = gr.Markdown(label="Model")
                        with gr.Group(visible=False) as feedback_box:
                            verdict = gr.Radio([CORRECT, WRONG], label="Is the top label right?")
                            right_label = gr.Dropdown(
                                labels,
                                value=None,
                                label="Right label",
                                info=(
                                    "Search the ImageNet labels, or type your own"
                                    if labels
                                    else "Type the right label"
                                ),
                                allow_custom_value=True,
                                filterable=True,
                                visible=False,
                            )
                            comment = gr.Textbox(label="Comment (optional)", lines=2, max_length=1500)
                            send_btn = gr.Button("Send feedback")
                        feedback_msg = _message_line("Feedback message")
                with gr.Tab("My feedback") as my_feedback_tab:
                    refresh_btn = gr.Button("Refresh", size="sm", scale=0)
                    table = gr.Dataframe(
                        headers=FEEDBACK_HEADERS,
                        value=None,
                        interactive=False,
                        wrap=True,
                        label="My feedback",
                        show_label=False,
                    )

        feedback_inputs = [verdict, right_label, comment]
        result_outputs = [
            last,
            result,
            model_info,
            classify_msg,
            feedback_box,
            feedback_msg,
            *feedback_inputs,
        ]

        def cleared_results(message: str = "") -> dict[Any, Any]:
            return {
                last: None,
                result: None,
                model_info: "",
                classify_msg: _status(message),
                feedback_box: gr.Group(visible=False),
                feedback_msg: _status(""),
                verdict: None,
                right_label: gr.Dropdown(value=None, visible=False),
                comment: "",
            }

        def signed_out_view(message: str = "") -> dict[Any, Any]:
            return {
                session: None,
                signed_out: gr.Column(visible=True),
                signed_in: gr.Column(visible=False),
                auth_msg: _status(message),
                who: "",
                image: None,
                table: None,
                **cleared_results(),
            }

        session_outputs = [session, signed_out, signed_in, auth_msg, who, image, table, *result_outputs]

        async def open_session(token: str) -> dict[Any, Any]:
            user = await client.me(token)
            return {
                session: {"token": token, "name": user.name, "email": user.email},
                signed_out: gr.Column(visible=False),
                signed_in: gr.Column(visible=True),
                auth_msg: _status(""),
                who: f"Signed in as **{user.name}** `{user.email}`",  # code span: no mailto link
                table: None,
                **cleared_results(),
            }

        async def sign_in(email_value: str, password_value: str) -> dict[Any, Any]:
            if not (email_value or "").strip() or not password_value:
                return {auth_msg: _status("Enter your email and password.")}
            try:
                token = await client.login(email_value.strip(), password_value)
                return {**await open_session(token), password: ""}
            except GatewayError as exc:
                return {auth_msg: _status(exc.message)}

        async def register(name_value: str, email_value: str, password_value: str) -> dict[Any, Any]:
            if not (name_value or "").strip() or not (email_value or "").strip() or not password_value:
                return {auth_msg: _status("Enter your name, email and a password.")}
            try:
                await client.register(name_value.strip(), email_value.strip(), password_value)
                token = await client.login(email_value.strip(), password_value)
                return {**await open_session(token), reg_password: ""}
            except GatewayError as exc:
                return {auth_msg: _status(exc.message)}

        def sign_out() -> dict[Any, Any]:
            return signed_out_view("You are signed out.")

        async def classify(state: dict | None, payload: Any) -> dict[Any, Any]:
            upload = _uploaded_file(payload)
            if upload is None:  # photo removed (also when signing out)
                return cleared_results()
            if not state:
                return signed_out_view("Please sign in first.")
            try:
                pred = await client.predict(state["token"], *upload)
            except SessionExpiredError as exc:
                return signed_out_view(exc.message)
            except GatewayError as exc:
                return cleared_results(exc.message)
            except OSError:
                log.exception("cannot read the uploaded file")
                return cleared_results("The uploaded file could not be read; please upload it again.")
            return {
                **cleared_results(),
                last: {
                    "prediction": pred.prediction,
                    "score": pred.score,
                    "image_file_name": pred.image_file_name,
                },
                result: {label: score for label, score in pred.top_k},
                model_info: _model_line(pred),
                feedback_box: gr.Group(visible=True),
            }

        async def classify_clicked(state: dict | None, payload: Any) -> dict[Any, Any]:
            if state and _uploaded_file(payload) is None:
                return cleared_results("Drop a photo in the box above, or pick one of the examples.")
            return await classify(state, payload)

        def on_verdict(value: str | None) -> Any:
            return gr.Dropdown(visible=value == WRONG)

        async def load_feedback(state: dict | None) -> dict[Any, Any]:
            if not state:
                return signed_out_view("Please sign in first.")
            try:
                return {table: _feedback_rows(await client.list_feedback(state["token"]))}
            except SessionExpiredError as exc:
                return signed_out_view(exc.message)
            except GatewayError as exc:
                return {feedback_msg: _status(exc.message)}

        async def send_feedback(
            state: dict | None,
            shown: dict | None,
            verdict_value: str | None,
            label: str | None,
            text: str | None,
        ) -> dict[Any, Any]:
            if not state:
                return signed_out_view("Please sign in first.")
            if not shown:
                return {feedback_msg: _status("Classify a photo first.")}
            if verdict_value not in (CORRECT, WRONG):
                return {feedback_msg: _status("Choose whether the top label is correct or wrong.")}
            try:
                await client.send_feedback(
                    state["token"],
                    score=shown["score"],
                    predicted_class=shown["prediction"],
                    image_file_name=shown["image_file_name"],
                    feedback=_feedback_text(verdict_value, label, text),
                )
                rows = _feedback_rows(await client.list_feedback(state["token"]))
            except SessionExpiredError as exc:
                return signed_out_view(exc.message)
            except GatewayError as exc:
                return {feedback_msg: _status(exc.message)}
            return {
                feedback_msg: _status("Thank you, your feedback is saved.", ok=True),
                table: rows,
                verdict: None,
                right_label: gr.Dropdown(value=None, visible=False),
                comment: "",
            }

        gr.on(
            [sign_in_btn.click, email.submit, password.submit],
            sign_in,
            inputs=[email, password],
            outputs=[*session_outputs, password],
            api_name="sign_in",
            show_progress="minimal",
        )
        gr.on(
            [register_btn.click, reg_password.submit],
            register,
            inputs=[reg_name, reg_email, reg_password],
            outputs=[*session_outputs, reg_password],
            api_name="register",
            show_progress="minimal",
        )
        sign_out_btn.click(sign_out, outputs=session_outputs, api_name="sign_out")
        classify_btn.click(
            classify_clicked,
            inputs=[session, image],
            outputs=session_outputs,
            api_name="classify",
            show_progress_on=[result],
            preprocess=False,  # the original file, see _uploaded_file
        )
        # A photo uploaded, an example picked or the photo removed: classify or clear at once (not a second
        # public endpoint; `image.upload` is not used as it would fire together with this one).
        image.change(
            classify,
            inputs=[session, image],
            outputs=session_outputs,
            api_visibility="private",
            show_progress_on=[result],
            trigger_mode="always_last",
            preprocess=False,
        )
        verdict.change(on_verdict, inputs=verdict, outputs=right_label, api_visibility="private")
        send_btn.click(
            send_feedback,
            inputs=[session, last, *feedback_inputs],
            outputs=session_outputs,
            api_name="send_feedback",
        )
        gr.on(
            [refresh_btn.click, my_feedback_tab.select],
            load_feedback,
            inputs=session,
            outputs=session_outputs,
            api_name="my_feedback",
        )
    return demo
