"""Delivery channels. The in-app feed is the notifications table itself; e-mail goes over SMTP
(aiosmtplib), sent by the delivery worker outside any consumer transaction."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from cloudmart.core.config import Settings


class SmtpChannel:
    def __init__(self, host: str, port: int, sender: str, *, timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpChannel | None:
        if not settings.smtp_host:
            return None
        return cls(settings.smtp_host, settings.smtp_port, settings.smtp_sender)

    async def send(self, recipient: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = recipient
        message["Subject"] = subject
        message.set_content(body)
        await aiosmtplib.send(message, hostname=self.host, port=self.port, timeout=self.timeout, start_tls=False)
