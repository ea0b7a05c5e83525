"""E-mail over SMTP (the standard library's client, in a worker thread).

The Message-ID is the idempotency key, and a retraction answers its push (In-Reply-To), so mail
clients thread them and a receiving system can recognise a repeat.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from services.notifier import messages
from services.notifier.channels import InDoubtError, Outgoing, PermanentError, RetryableError
from shared.settings import NotifierSettings


def message_id(key: str) -> str:
    return f"<{key.replace(':', '.')}@followback>"


def compose(message: Outgoing, sender: str) -> EmailMessage:
    """The mail for one outbox row: plain text, addressed to the row's recipients."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.target
    mail["Subject"] = messages.subject(message.kind, message.payload)
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = message_id(message.idempotency_key)
    mail["X-Idempotency-Key"] = message.idempotency_key
    if push_key := message.payload.get("push_key"):
        mail["In-Reply-To"] = mail["References"] = message_id(str(push_key))
    mail.set_content(messages.text(message.kind, message.payload))
    return mail


class EmailChannel:
    name = "email"
    deduplicates = False

    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings

    async def send(self, message: Outgoing) -> None:
        await asyncio.to_thread(self._send, compose(message, self.settings.mail_from))

    def _send(self, mail: EmailMessage) -> None:
        s = self.settings
        if not s.smtp_host:
            raise PermanentError("no SMTP server configured (FOLLOWBACK_NOTIFIER__SMTP_HOST)")
        try:
            client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.send_timeout_s)
        except OSError as error:
            raise RetryableError(f"could not connect to {s.smtp_host}:{s.smtp_port}: {error}") from error
        with client:
            try:
                if s.smtp_starttls:
                    client.starttls(context=ssl.create_default_context())
                if s.smtp_username and s.smtp_password:
                    client.login(s.smtp_username, s.smtp_password.get_secret_value())
            except smtplib.SMTPException as error:
                raise RetryableError(f"SMTP session refused: {error}") from error
            try:
                refused = client.send_message(mail)
            except smtplib.SMTPResponseException as error:
                # The server answered with a failure, so nothing was accepted: 4xx is temporary.
                kind = RetryableError if 400 <= error.smtp_code < 500 else PermanentError
                raise kind(f"SMTP {error.smtp_code}: {error.smtp_error!r}") from error
            except smtplib.SMTPRecipientsRefused as error:
                raise PermanentError(f"every recipient refused: {error.recipients}") from error
            except (OSError, smtplib.SMTPException) as error:
                raise InDoubtError(f"connection lost while sending: {error}") from error
        if refused:
            # Accepted for some recipients; sending again would duplicate theirs.
            raise PermanentError(f"refused for {sorted(refused)}")
