"""Live chatbot conversations: the poller, escalation, takeover and handing back (SPEC §3, §7).

One :class:`ConversationService` serves every desk that has a chatbot
platform configured. What it does:

* **Poll.** Per desk, one process at a time (a lease in the database, like the
  mail sync) reads the platform's change feed from the stored cursor and
  records each conversation (state, customer, last message, a short
  transcript). The cursor is saved in the same transaction as the
  conversations, so a crash replays a page at most (the feed is
  at-least-once and everything here is idempotent). Errors and 429s back off.
  (:mod:`.poller`)
* **Escalation.** A conversation the platform reports escalated becomes
  exactly one ``live_chat`` ticket: transcript read, AI paused on the
  platform, then — in one transaction — the ticket, its summary note with the
  transcript folded under it, and the link row whose primary key
  (desk, conversation, episode) lets only one of two racing pollers win.
  Assignment runs after the commit. A platform failure leaves nothing behind
  locally and is retried with backoff. (:mod:`.escalation`)
* **Takeover.** The same flow from the Conversations view: taken over on the
  platform, then the ticket is assigned to the agent in On you.
* **Following the chat.** While a person has the conversation, new customer
  messages arrive on the ticket as customer messages (moving its status,
  SPEC §2); platform notices and bot messages as events.
* **Handing back.** "Allow AI replies" resumes the bot on the platform first;
  only when that worked is the ticket closed with an "AI resumed" event.
  (:mod:`.following`)

Subjects and summaries are asked of the AI :class:`~..ports.Assistant`
(:mod:`.summary`); without one the subject is the customer's first words and
the summary says "AI summary unavailable."
"""

from .common import ChatNotConfigured, PollReport, state_label, transcript_text
from .service import ConversationService
from .summary import SUMMARY_UNAVAILABLE, Summary

__all__ = [
    "SUMMARY_UNAVAILABLE",
    "ChatNotConfigured",
    "ConversationService",
    "PollReport",
    "Summary",
    "state_label",
    "transcript_text",
]
