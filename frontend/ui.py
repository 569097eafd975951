"""The Gradio page: its layout, and the wiring of each event to a handler in `frontend.handlers`.

Handlers return plain `Updates` keyed by element name; `to_gradio` turns them into Gradio updates here.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from contracts import demo
from frontend import evaluation, handlers, scripts
from frontend.config import MAX_FILES, UNSURE_BELOW
from frontend.gateway_client import GatewayClient
from frontend.handlers import CLASSIFY_TAB, SIGN_IN_TAB, PageContext, Upload
from frontend.images import ImageFiles
from frontend.sessions import COOKIE, UNAVAILABLE, Session, Sessions, SessionsUnavailableError
from frontend.style import CSS
from frontend.text import CORRECT, WHAT_IT_KNOWS, WRONG, label_choices
from frontend.updates import Message, Update, Updates

__all__ = ["CSS", "build_demo", "to_gradio"]

log = logging.getLogger(__name__)

DEMO_LOGIN = f"Local demo: {demo.SIGN_IN_HINT}, or create an account."
EVALUATION_HINT = (
    "Each model version as its users judged it: stable and canary side by side, from the Correct/Wrong "
    "verdicts sent with feedback."
)
PLACEHOLDER = (
    "Drop a photo here, click to choose one, paste one, or use the camera (JPEG, PNG, GIF, WebP, HEIC)"
)


def to_gradio(elements: dict[str, Any], updates: Updates) -> dict[Any, Any]:
    """{name: plain value} -> {component: Gradio value or update}."""
    out: dict[Any, Any] = {}
    for name, value in updates.items():
        if isinstance(value, Message):
            value = gr.update(
                value=value.text, visible=bool(value.text), elem_classes=[f"status-{value.kind}"]
            )
        elif isinstance(value, Update):
            value = gr.update(**value.props)
        out[elements[name]] = value
    return out


def uploaded_file(payload: Any) -> Upload:
    """(path, original name) of the file as uploaded.

    The events run with `preprocess=False`, so the gateway sees the original bytes under the original name
    and decides what is acceptable (the upload box accepts any file type for that reason).
    """
    if payload is None:
        return None
    if isinstance(payload, str):
        return Path(payload), Path(payload).name
    data = payload if isinstance(payload, dict) else payload.model_dump()
    if not data.get("path"):
        return None
    path = Path(data["path"])
    return path, Path(data.get("orig_name") or path.name).name


def uploaded_files(payload: Any) -> list[Upload]:
    """Each file of a multiple-file input, as `uploaded_file`."""
    return [uploaded_file(item) for item in payload] if isinstance(payload, list) else []


def _message_line(label: str) -> gr.Markdown:
    """An initially hidden message line; the label only names it for API clients."""
    return gr.Markdown(visible=False, label=label, elem_classes=["status-error"])


def html_block(label: str, elem_id: str) -> gr.Markdown:
    """Where the page shows HTML it made (frontend.views, frontend.evaluation: every value in it escaped).

    Not gr.HTML: Gradio 6 runs each gr.HTML value through a Handlebars template and `new Function`, as a
    JavaScript template literal, which the page's CSP forbids (frontend.headers), and which would run a
    `${...}` in the text as code. Markdown passes an HTML block through as it is; no LaTeX, which Gradio
    renders with KaTeX."""
    return gr.Markdown(label=label, elem_id=elem_id, sanitize_html=False, latex_delimiters=[])


@dataclass
class Controls:
    """What only triggers events (buttons, tabs, the inputs of the sign-in forms)."""

    auth_done: Any
    signed_out: Any
    examples: Any
    send: Any
    history_tab: Any
    feedback_tab: Any
    refresh: Any
    evaluation_tab: Any
    evaluation_refresh: Any


def layout(labels: list[str], examples: list[Path], demo_login: bool) -> tuple[dict[str, Any], Controls]:
    """The page's elements, inside the current `gr.Blocks`; returns those the handlers update, by name."""
    el: dict[str, Any] = {}

    # What the page's script (frontend.scripts) hands Python after its sign-in or sign-out request: the
    # answer's message (never a password), and the hidden buttons whose events take it. In the DOM but not
    # seen, outside both columns, so that they are there whichever column shows.
    el["auth_note"] = gr.Textbox(visible="hidden", label="Sign-in answer", elem_id=scripts.NOTE)
    auth_done = gr.Button(visible="hidden", elem_id=scripts.AUTH_DONE)
    signed_out_done = gr.Button(visible="hidden", elem_id=scripts.SIGNED_OUT)
    el["owner"] = gr.State(None)  # the email of who was signed in here: not a credential (see `wire`)
    el["last"] = gr.State(None)  # the prediction shown, for feedback
    el["history"] = gr.State(None)  # the History page shown

    gr.Markdown(
        "# Image classifier\nWhat is in your photo? Top-5 ImageNet labels, with your feedback.  \n"
        + WHAT_IT_KNOWS,
        elem_id="intro",
    )

    # The sign-in forms are read by the page's script (frontend.scripts), never sent as an event's inputs,
    # so Gradio is told that they take typing.
    with gr.Column(visible=True) as el["signed_out"]:
        with gr.Tabs(selected=SIGN_IN_TAB) as el["auth_tabs"]:
            with gr.Tab("Sign in", id=SIGN_IN_TAB):
                if demo_login:
                    gr.Markdown(DEMO_LOGIN, elem_id="demo-login")
                el["email"] = gr.Textbox(
                    label="Email", type="email", elem_id="sign-in-email", interactive=True
                )
                el["password"] = gr.Textbox(
                    label="Password", type="password", elem_id="sign-in-password", interactive=True
                )
                gr.Button("Sign in", variant="primary", elem_id=scripts.SIGN_IN_BUTTON)
            with gr.Tab("Register", id="register"):
                el["reg_name"] = gr.Textbox(label="Name", elem_id="register-name", interactive=True)
                el["reg_email"] = gr.Textbox(
                    label="Email", type="email", elem_id="register-email", interactive=True
                )
                el["reg_password"] = gr.Textbox(
                    label="Password", type="password", elem_id="register-password", interactive=True
                )
                gr.Button("Create account", variant="primary", elem_id=scripts.REGISTER_BUTTON)
        el["auth_msg"] = _message_line("Sign-in message")

    with gr.Column(visible=False) as el["signed_in"]:
        with gr.Row(equal_height=True):
            el["who"] = gr.Markdown(elem_id="signed-in-as", label="Signed in as")
            gr.Button(
                "Sign out",
                size="sm",
                variant="secondary",
                scale=0,
                min_width=100,
                elem_id=scripts.SIGN_OUT_BUTTON,
            )
        with gr.Tabs(selected=CLASSIFY_TAB) as el["tabs"]:
            with gr.Tab("Classify", id=CLASSIFY_TAB):
                with gr.Row():
                    with gr.Column(min_width=300):
                        # One box: click, drop, paste or the camera; the photo is classified as it arrives
                        # and stays there, beside its answer.
                        el["upload"] = gr.Image(
                            label="Your photo",
                            sources=["upload", "clipboard", "webcam"],
                            type="filepath",
                            interactive=True,
                            height=340,
                            elem_id="upload",
                            placeholder=PLACEHOLDER,
                            buttons=[],
                        )
                        el["classify_msg"] = _message_line("Classify message")
                        example_set = (
                            gr.Examples(
                                [[str(p)] for p in examples],
                                inputs=el["upload"],
                                label="Or try one",
                                examples_per_page=len(examples),
                            )
                            if examples
                            else None
                        )
                    with gr.Column(min_width=300):
                        el["answer"] = gr.Markdown(visible=False, label="Answer", elem_id="answer")
                        el["result"] = gr.Label(
                            num_top_classes=5, label="Top 5 labels", elem_id="top5", show_heading=False
                        )
                        el["model_info"] = gr.Markdown(label="Model")
                        with gr.Group(visible=False) as el["feedback_box"]:
                            el["verdict"] = gr.Radio([CORRECT, WRONG], label="Is the top label right?")
                            el["right_label"] = gr.Dropdown(
                                label_choices(labels),
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
                            el["comment"] = gr.Textbox(label="Comment (optional)", lines=2, max_length=1500)
                            send_btn = gr.Button("Send feedback")
                        el["feedback_msg"] = _message_line("Feedback message")
                # Several at once: Gradio sends them in one upload request (at most FRONTEND_MAX_FILES), and
                # each is classified on its own, its answer or its refusal on its own tile.
                with gr.Column(elem_id="several-photos"):
                    el["several"] = gr.File(
                        label="Several photos",
                        file_count="multiple",
                        file_types=["image"],
                        height=220,
                        elem_id="several",
                    )
                    el["several_msg"] = _message_line("Several photos message")
                    el["several_gallery"] = gr.Gallery(
                        label="Their answers",
                        columns=5,
                        height=None,
                        fit_columns=False,
                        object_fit="cover",
                        allow_preview=False,
                        elem_id="several-gallery",
                    )
            with gr.Tab("History", id="history") as history_tab:
                with gr.Row():
                    el["history_info"] = gr.Markdown(label="History", elem_id="history-info")
                    el["newer_btn"] = gr.Button("Newer", size="sm", scale=0, interactive=False)
                    el["older_btn"] = gr.Button("Older", size="sm", scale=0, interactive=False)
                el["history_msg"] = _message_line("History message")
                el["history_gallery"] = gr.Gallery(
                    label="Past predictions",
                    show_label=False,
                    columns=5,
                    height=None,
                    fit_columns=False,  # one or two photos stay thumbnail-sized
                    object_fit="cover",
                    allow_preview=False,
                    elem_id="history-gallery",
                )
            with gr.Tab("My feedback", id="feedback") as feedback_tab:
                refresh_btn = gr.Button("Refresh", size="sm", scale=0)
                el["feedback_list_msg"] = _message_line("My feedback message")
                el["feedback_table"] = html_block("My feedback", "my-feedback")
            # operators only: shown when the signed-in user is an admin (the gateway refuses anyone else)
            with gr.Tab("Evaluation", id="evaluation", visible=False) as el["evaluation_tab"]:
                with gr.Row():
                    gr.Markdown(EVALUATION_HINT, elem_id="evaluation-hint")
                    evaluation_refresh = gr.Button("Refresh", size="sm", scale=0)
                el["evaluation_msg"] = _message_line("Evaluation message")
                el["evaluation_table"] = html_block("Evaluation", "evaluation")

    controls = Controls(
        auth_done,
        signed_out_done,
        example_set,
        send_btn,
        history_tab,
        feedback_tab,
        refresh_btn,
        el["evaluation_tab"],
        evaluation_refresh,
    )
    return el, controls


def build_demo(
    client: GatewayClient,
    labels: list[str],
    examples: list[Path],
    store: Sessions,
    *,
    demo_login: bool = False,
    files: ImageFiles | None = None,
    unsure_below: float = UNSURE_BELOW,
    max_files: int = MAX_FILES,
) -> gr.Blocks:
    """The page, with each event wired to its handler."""
    folder = Path(tempfile.mkdtemp(prefix="image-classifier-"))
    ctx = PageContext(client, files or ImageFiles(folder), unsure_below, max_files)
    demo: gr.Blocks
    with gr.Blocks(title="Image classifier", analytics_enabled=False) as demo:
        el, c = layout(labels, examples, demo_login)
        outputs = list(el.values())  # every event may update any element (an expired session resets all)

        async def finish(updates: Updates, session_id: str | None) -> dict[Any, Any]:
            if updates.pop(handlers.SESSION_ENDED, False):
                with contextlib.suppress(SessionsUnavailableError):  # it expires with its token
                    await store.end(session_id)
            return to_gradio(el, updates)

        async def find(session_id: str | None) -> Session | None:
            """The session of this cookie; raises SessionsUnavailableError (logged) while Redis is down."""
            try:
                return await store.get(session_id)
            except SessionsUnavailableError as exc:
                log.error("the session store (REDIS_URL) is unavailable: %s", exc)
                raise

        def unavailable(owner: Any) -> dict[Any, Any]:
            """Nobody is signed in while the store is down; a page shown stays, for when it is back."""
            if owner:
                updates = handlers.expired_view(UNAVAILABLE)
                updates.pop(handlers.SESSION_ENDED, None)
            else:
                updates = handlers.signed_out_view(UNAVAILABLE)
            return to_gradio(el, updates)

        def wire(fn: Callable[..., Awaitable[Updates]]) -> Callable[..., Awaitable[dict[Any, Any]]]:
            """fn(session, *inputs), the session found from the request's cookie, never from the tab's state:
            a client that knows this tab's session hash but not the cookie is signed out. `owner` (the first
            input) only tells an expired session from none."""

            async def run(request: gr.Request, owner: Any, *args: Any) -> dict[Any, Any]:
                session_id = request.cookies.get(COOKIE)
                try:
                    session = await find(session_id)
                except SessionsUnavailableError:
                    return unavailable(owner)
                if session is None:
                    updates = (
                        handlers.expired_view()
                        if owner
                        else handlers.signed_out_view("Please sign in first.")
                    )
                else:
                    updates = await fn(session.as_dict(), *args)
                return await finish(updates, session_id)

            return run

        def plain(fn: Callable[..., Updates]) -> Callable[..., Awaitable[dict[Any, Any]]]:
            async def run(*args: Any) -> dict[Any, Any]:
                return to_gradio(el, fn(*args))

            return run

        async def resume(request: gr.Request, owner: Any, note: Any = None) -> dict[Any, Any]:
            """On load (a reload keeps the session) and after the page's sign-in request."""
            try:
                session = await find(request.cookies.get(COOKIE))
            except SessionsUnavailableError:
                if note is None:
                    return unavailable(owner)
                return to_gradio(el, handlers.after_auth(None, owner, UNAVAILABLE))  # the form kept
            found = session.as_dict() if session else None
            if note is None:  # page load
                # (an update to name at least one element: Gradio reads an empty dict as one value)
                return to_gradio(el, handlers.open_session(found, owner) if found else {"auth_note": ""})
            return to_gradio(el, handlers.after_auth(found, owner, note))

        async def signed_in(request: gr.Request, note: Any, owner: Any) -> dict[Any, Any]:
            return await resume(request, owner, note or "")

        async def signed_out(request: gr.Request, owner: Any, note: Any) -> dict[Any, Any]:
            with contextlib.suppress(SessionsUnavailableError):  # (logged by the sign-out route)
                await store.end(request.cookies.get(COOKIE))
            return to_gradio(el, handlers.sign_out())

        owner, last, history = el["owner"], el["last"], el["history"]
        feedback_inputs = [el["verdict"], el["right_label"], el["comment"]]
        # Every event may update any element, so none dims the whole page while it runs: each shows its
        # progress on the element it is about, or none.
        common: dict[str, Any] = {"outputs": outputs, "show_progress": "hidden"}

        def progress_on(*components: Any) -> dict[str, Any]:
            return {"outputs": outputs, "show_progress": "minimal", "show_progress_on": list(components)}

        demo.load(resume, inputs=owner, api_visibility="private", **common)
        # Sign in, Create account, Sign out and Enter in the forms are the page script's (frontend.scripts):
        # its request sets or clears the cookie, then it clicks one of these.
        auth_inputs = [el["auth_note"], owner]
        c.auth_done.click(signed_in, inputs=auth_inputs, api_name="session", **progress_on(el["auth_msg"]))
        c.signed_out.click(signed_out, inputs=auth_inputs, api_name="sign_out", **common)

        def classify_with(fn: Callable[..., Awaitable[Updates]]) -> Callable[..., Awaitable[dict[Any, Any]]]:
            return wire(lambda session, payload: fn(client, session, uploaded_file(payload), unsure_below))

        classify_events = {
            "inputs": [owner, el["upload"]],
            **progress_on(el["result"]),
            "preprocess": False,  # the original file, see uploaded_file
        }
        # `upload`: what the person put in the box (a file, a drop, a paste, a camera snapshot), not the
        # photo a reopened past prediction puts there (`change` would classify that again); `clear`: its ×.
        el["upload"].upload(
            classify_with(handlers.classify),
            api_name="classify",
            trigger_mode="always_last",
            **classify_events,
        )
        el["upload"].clear(plain(handlers.cleared_results), api_visibility="private", **common)
        if c.examples is not None:  # not a second public endpoint
            c.examples.load_input_event.then(
                classify_with(handlers.classify), api_visibility="private", **classify_events
            )
        el["several"].upload(
            wire(lambda s, payload: handlers.classify_several(ctx, s, uploaded_files(payload))),
            inputs=[owner, el["several"]],
            api_name="classify_several",
            preprocess=False,  # the original files, see uploaded_file
            **progress_on(el["several_gallery"]),
        )
        el["several"].clear(plain(handlers.several_reset), api_visibility="private", **common)
        # `input`, not `change`: a person's choice, not the reset after sending (it would hide the thanks)
        el["verdict"].input(
            plain(handlers.on_verdict), inputs=el["verdict"], api_visibility="private", **common
        )

        async def feedback(session: dict[str, Any], shown: Any, v: Any, label: Any, text: Any) -> Updates:
            return await handlers.send_feedback(ctx, session, shown, v, label, text)

        c.send.click(
            wire(feedback),
            inputs=[owner, last, *feedback_inputs],
            api_name="send_feedback",
            **progress_on(el["feedback_msg"]),
        )
        gr.on(
            [c.refresh.click, c.feedback_tab.select],
            wire(lambda s: handlers.load_feedback(ctx, s)),
            inputs=owner,
            api_name="my_feedback",
            **progress_on(el["feedback_table"]),
        )
        gr.on(
            [c.evaluation_refresh.click, c.evaluation_tab.select],
            wire(lambda s: evaluation.load_evaluation(ctx, s)),
            inputs=owner,
            api_name="evaluation",
            **progress_on(el["evaluation_table"]),
        )
        c.history_tab.select(
            wire(lambda s: handlers.load_history(ctx, s)),
            inputs=owner,
            api_name="history",
            **progress_on(el["history_gallery"]),
        )
        el["newer_btn"].click(
            wire(lambda s, h: handlers.history_newer(ctx, s, h)),
            inputs=[owner, history],
            api_name="history_newer",
            **progress_on(el["history_gallery"]),
        )
        el["older_btn"].click(
            wire(lambda s, h: handlers.history_older(ctx, s, h)),
            inputs=[owner, history],
            api_name="history_older",
            **progress_on(el["history_gallery"]),
        )

        async def reopen_selected(
            request: gr.Request, who: Any, page: Any, evt: gr.SelectData
        ) -> dict[Any, Any]:
            reopen = wire(lambda s, p: handlers.reopen(ctx, s, p, evt.index))
            return await reopen(request, who, page)

        el["history_gallery"].select(
            reopen_selected,
            inputs=[owner, history],
            api_visibility="private",
            **progress_on(el["history_gallery"]),
        )
    return demo
