"""Mail written by machines, one builder per form, and mail by people that looks a little like it.

Built here, never taken from one corpus file, so each form is a category the
classifier must recognise, not a message it has memorised.
"""

from __future__ import annotations

import json

SUPPORT = "support@desk.test"


def message(*, sender: str, subject: str, body: str, headers: str = "", message_id: str = "<m@example.net>",
            content_type: str = "text/plain; charset=utf-8", to: str = SUPPORT) -> bytes:
    head = (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n"
            f"Date: Fri, 20 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n")
    if headers:
        head += headers.strip("\n").replace("\n", "\r\n") + "\r\n"
    head += f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: 8bit\r\n"
    return (head + "\r\n" + body.replace("\r\n", "\n").replace("\n", "\r\n")).encode("utf-8")


def provider_notification(kind: str, original: str = "<sent-1@desk.test>", recipient: str = "gone@example.org",
                          *, wrapped: bool = False, n: int = 0) -> bytes:
    """A sending service's JSON notice (bounce, complaint or delivery) from a no-reply address."""
    data: dict = {"notificationType": kind.capitalize(),
                  "mail": {"messageId": "0100018c-ses-id", "source": SUPPORT,
                           "headers": [{"name": "Message-ID", "value": original}],
                           "commonHeaders": {"subject": "Re: your order"}}}
    if kind == "bounce":
        data["bounce"] = {"bounceType": "Permanent", "bouncedRecipients": [
            {"emailAddress": recipient, "action": "failed", "status": "5.1.1",
             "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]}
    elif kind == "complaint":
        data["complaint"] = {"complainedRecipients": [{"emailAddress": recipient}], "complaintFeedbackType": "abuse"}
    else:
        data["delivery"] = {"recipients": [recipient], "smtpResponse": "250 ok"}
    body = json.dumps(data, indent=2)
    if wrapped:
        body = json.dumps({"Type": "Notification", "MessageId": "x", "Message": body})
    return message(sender="Notifications <no-reply@notifications.mailservice.example>",
                   subject={"bounce": "Bounce", "complaint": "Complaint"}.get(kind, "Delivery") + " notification",
                   body=body, message_id=f"<notice-{kind}-{n}@mailservice.example>")


# A postmaster's bounce without DSN structure, in the languages servers write them in.
FAILURE_SUBJECTS = {
    "en": "Undeliverable: Re: your invoice",
    "de": "Unzustellbar: Ihre Rechnung",
    "fr": "Non remis : votre facture",
    "es": "No se puede entregar: su factura",
    "it": "Non recapitabile: la sua fattura",
    "pt": "Não é possível entregar: sua fatura",
    "nl": "Onbestelbaar: uw factuur",
    "ru": "Недоставленное сообщение: ваш счёт",
    "ja": "配信不能: ご請求書",
    "zh": "系统退信: 您的发票",
    "pl": "Niedostarczona wiadomość: faktura",
    "sv": "Olevererbar: din faktura",
}


def postmaster_bounce(lang: str, *, local: str = "post_master", n: int = 0) -> bytes:
    return message(sender=f"System <{local}@mx.example.{lang}>", subject=FAILURE_SUBJECTS[lang],
                   body="Your message did not reach some or all of the intended recipients.\n",
                   message_id=f"<pm-{lang}-{n}@mx.example>")


def daemon_without_address(n: int = 0) -> bytes:
    return message(sender="MAILER-DAEMON <>", subject="Warning: could not send message",
                   body="The original message was received at Fri, 20 Nov 2026.\n", message_id=f"<md-{n}@mx.example>")


def carrier_notice(n: int = 0) -> bytes:
    return message(sender="Carrier Mail <notify@mms.carrier.example>", subject="Message delivery error",
                   body="Your message to 5551234567@mms.carrier.example could not be delivered.\n"
                        "Reason: 550 5.1.1 Recipient address rejected\n", message_id=f"<carrier-{n}@carrier.example>")


def list_server_notice(which: str, n: int = 0) -> bytes:
    if which == "not-member":
        return message(sender="printers-owner@lists.example.org",
                       subject="Your message to printers is being held: not a member",
                       body="You are not allowed to post to this mailing list.\n",
                       message_id=f"<lsn-{n}@lists.example.org>")
    return message(sender="LISTSERV <listserv@lists.example.org>", subject="Loop alert: message rejected",
                   body="A mail loop has been detected; your message was discarded.\n",
                   message_id=f"<lsl-{n}@lists.example.org>")


def abuse_complaint(original: str = "<sent-9@desk.test>", n: int = 0) -> bytes:
    """An old-style complaint: a note and the offending message forwarded inside multipart/mixed (not ARF)."""
    b = "abuse-boundary"
    body = (f"--{b}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            "We received a spam complaint about the attached message sent from your servers.\r\n"
            f"--{b}\r\nContent-Type: message/rfc822\r\n\r\n"
            f"From: {SUPPORT}\r\nTo: victim@isp.example\r\nSubject: Re: offer\r\nMessage-ID: {original}\r\n\r\n"
            f"Buy now.\r\n--{b}--\r\n")
    return message(sender="Abuse Desk <abuse@isp.example>", subject="Abuse report: unsolicited mail from your network",
                   body=body, content_type=f'multipart/mixed; boundary="{b}"', message_id=f"<abuse-{n}@isp.example>")


def vendor_auto(header: str, n: int = 0) -> bytes:
    return message(sender="Dana <dana@example.com>", subject="Re: your ticket", body="I am not here this week.\n",
                   headers=header, message_id=f"<vendor-{n}@example.com>")


MACHINE_FORMS = {
    "provider-bounce": lambda n: provider_notification("bounce", n=n),
    "provider-bounce-wrapped": lambda n: provider_notification("bounce", wrapped=True, n=n),
    "provider-complaint": lambda n: provider_notification("complaint", n=n),
    "provider-delivery": lambda n: provider_notification("delivery", n=n),
    **{f"post_master-{lang}": (lambda lang: lambda n: postmaster_bounce(lang, n=n))(lang) for lang in FAILURE_SUBJECTS},
    "postmaster-de": lambda n: postmaster_bounce("de", local="postmaster", n=n),
    "daemon-empty-address": daemon_without_address,
    "carrier-notice": carrier_notice,
    "list-not-member": lambda n: list_server_notice("not-member", n),
    "list-loop-alert": lambda n: list_server_notice("loop", n),
    "abuse-forwarded": lambda n: abuse_complaint(n=n),
    "exchange-generated": lambda n: vendor_auto("X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent", n),
    "x-vacation": lambda n: vendor_auto("X-Vacation: yes", n),
    "cron": lambda n: vendor_auto("X-Cron-Env: <SHELL=/bin/sh>", n),
    "no-reply-sender": lambda n: message(sender="Shop <no-reply@shop.example>", subject="Your order has shipped",
                                         body="Tracking: 123\n", message_id=f"<nr-{n}@shop.example>"),
    "do-not-reply-sender": lambda n: message(sender="do-not-reply@bank.example", subject="Statement ready",
                                             body="Log in to read it.\n", message_id=f"<dnr-{n}@bank.example>"),
    "bounce-sender": lambda n: message(sender="bounces+123-abc@mail.example.com", subject="Message status",
                                       body="Status report.\n", message_id=f"<bs-{n}@mail.example.com>"),
}


def forwarded_bounce_from_a_person() -> bytes:
    """A customer passing a bounce on to support: a person, however much it looks like a bounce."""
    b = "fwd"
    body = (f"--{b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            "Hi, I get this every time I write to you, can you look?\r\n"
            f"--{b}\r\nContent-Type: message/rfc822\r\n\r\n"
            "From: MAILER-DAEMON@mx.example.net\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            "Message-ID: <b@mx.example.net>\r\n\r\n550 5.1.1 User unknown\r\n"
            f"--{b}--\r\n")
    return message(sender="Dana <dana@example.com>", subject="Fwd: Undelivered Mail Returned to Sender", body=body,
                   content_type=f'multipart/mixed; boundary="{b}"', message_id="<fwd-bounce@example.com>")


PERSON_FORMS = {
    "forwarded-bounce": forwarded_bounce_from_a_person,
    "asks-about-bounces": lambda: message(sender="Dana <dana@example.com>", subject="Undeliverable mails to you?",
                                          body="My mails to you bounce since Monday.\n"),
    "product-return-pl": lambda: message(sender="Jan <jan@example.pl>", subject="Zwrot towaru",
                                         body="Chcę zwrócić zamówienie.\n"),
    "abuse-of-account": lambda: message(sender="Dana <dana@example.com>", subject="Abuse of my account",
                                        body="Someone logged in as me.\n"),
    "team-alias": lambda: message(sender="Sales Admin <sales-admin@example.com>", subject="Order question",
                                  body="Can you check order 42?\n"),
    "json-in-text": lambda: message(sender="Dev <dev@example.com>", subject="API returns this",
                                    body='{"error": "bounce", "code": 3}\n'),
}
