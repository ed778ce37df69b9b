"""The chat tab: one conversation per browser tab over all plugins, with thumbs up/down.

The conversation lives in a ``gr.State`` (a plain dict), which Gradio keeps per browser
tab, so two tabs never share a session. The chat bubbles are re-rendered from that state,
so message *i* always belongs to turn ``i // 2`` and a thumbs click maps to a stored turn.
"""

from __future__ import annotations

import gradio as gr

from assistant.contract import Reply
from assistant.engine import DialogEngine
from assistant.errors import AssistantError
from ui.formatting import error_content, reply_content

#: Dropdown value meaning "let the engine route"; parentheses cannot occur in a plugin (entry-point) name.
AUTO_ROUTE = "(automatic)"

LIKE, DISLIKE = "Like", "Dislike"


def new_chat_state() -> dict:
    """Fresh per-tab state; the session id is created on the first message."""
    return {"session_id": None, "turns": []}


def plugin_choices(engine: DialogEngine) -> list[tuple[str, str]]:
    return [("Automatic routing", AUTO_ROUTE)] + [(name, name) for name in engine.plugins]


def plugin_overview(engine: DialogEngine) -> str:
    """What each enabled plugin does, from its own description."""
    return "**Plugins**\n\n" + "\n".join(f"- **{name}**: {plugin.description}" for name, plugin in engine.plugins.items())


def send_message(engine: DialogEngine, state: dict, text: str, plugin_choice: str | None) -> dict:
    """Answer ``text`` in this tab's session and append the turn; errors become a visible turn, not a crash."""
    state = {"session_id": state.get("session_id") or engine.new_session_id(), "turns": list(state.get("turns", []))}
    plugin = None if plugin_choice in (None, "", AUTO_ROUTE) else plugin_choice
    try:
        reply = engine.handle(text, session_id=state["session_id"], plugin=plugin)
        state["turns"].append({"user": text, "reply": reply.to_dict()})
    except AssistantError as exc:
        state["turns"].append({"user": text, "error": str(exc)})
    return state


def conversation_messages(state: dict, pending: str | None = None) -> list[dict]:
    """Chatbot messages for the state: a user and an assistant message per turn (plus a pending question)."""
    messages: list[dict] = []
    for turn in state.get("turns", []):
        messages.append({"role": "user", "content": turn["user"]})
        if "reply" in turn:
            content = reply_content(Reply.from_dict(turn["reply"]))
        else:
            content = error_content(turn["error"])
        messages.append({"role": "assistant", "content": content})
    if pending is not None:
        messages.append({"role": "user", "content": pending})
    return messages


def feedback_values(state: dict) -> list[str | None]:
    """The thumbs state of every assistant message, so a re-render keeps the user's votes visible."""
    return [turn.get("feedback") for turn in state.get("turns", [])]


def record_feedback(engine: DialogEngine, state: dict, message_index: int | list | tuple, liked: bool | str) -> tuple[dict, str]:
    """Store (or withdraw) a vote on the turn behind chat message ``message_index``; returns state and a notice."""
    index = message_index[0] if isinstance(message_index, (list, tuple)) else message_index
    turns = [dict(turn) for turn in state.get("turns", [])]
    position = int(index) // 2
    if not 0 <= position < len(turns) or "reply" not in turns[position]:
        return state, "This message cannot be rated."
    turn = turns[position]
    turn_id = turn["reply"].get("turn_id")
    if turn_id is None:
        return state, "This message cannot be rated."
    if liked is True or liked is False:
        engine.sessions.add_feedback(state["session_id"], turn_id, 1 if liked else -1)
        turn["feedback"] = LIKE if liked else DISLIKE
        notice = "Thanks! Marked as helpful." if liked else "Thanks! Marked as unhelpful; it will be reviewed."
    else:
        engine.sessions.remove_feedback(state["session_id"], turn_id)
        turn["feedback"] = None
        notice = "Feedback withdrawn."
    turns[position] = turn
    return {**state, "turns": turns}, notice


def build_chat_tab(engine: DialogEngine) -> None:
    """Lay out the chat tab inside the current Blocks context and wire its events."""
    state = gr.State(new_chat_state())
    with gr.Row(equal_height=True):
        plugin = gr.Dropdown(
            choices=plugin_choices(engine),
            value=AUTO_ROUTE,
            label="Plugin",
            info="Automatic routing picks a plugin for each message; choose one to talk to it directly.",
            scale=1,
            elem_id="plugin-selector",
        )
        gr.Markdown(plugin_overview(engine), container=True, scale=2)
    chatbot = gr.Chatbot(
        label="Conversation",
        height=560,
        feedback_options=(LIKE, DISLIKE),
        placeholder="Ask a question. Each answer shows which plugin answered, how confident it was, and its evidence.",
        elem_id="chatbot",
        buttons=["copy"],
    )
    with gr.Row():
        message = gr.Textbox(placeholder="Type a message and press Enter", show_label=False, scale=5, elem_id="message", autofocus=True)
        send = gr.Button("Send", variant="primary", scale=1, elem_id="send")
        clear = gr.Button("New conversation", scale=1)

    def show_pending(text: str, current: dict):
        return "", gr.Chatbot(value=conversation_messages(current, pending=text), feedback_value=feedback_values(current)), text

    def answer(text: str, choice: str, current: dict):
        updated = send_message(engine, current, text, choice)
        return gr.Chatbot(value=conversation_messages(updated), feedback_value=feedback_values(updated)), updated

    def vote(current: dict, data: gr.LikeData):
        updated, notice = record_feedback(engine, current, data.index, data.liked)
        gr.Info(notice)
        return updated

    pending_text = gr.State("")
    for trigger in (message.submit, send.click):
        trigger(show_pending, [message, state], [message, chatbot, pending_text], queue=False).then(
            answer, [pending_text, plugin, state], [chatbot, state]
        )
    chatbot.like(vote, [state], [state])
    clear.click(lambda: ([], new_chat_state()), None, [chatbot, state], queue=False)
    chatbot.clear(new_chat_state, None, [state], queue=False)  # the chatbot's own trash button
