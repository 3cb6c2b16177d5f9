"""Every email SES v2 `SendEmail` accepts lands as an RFC 5322 file (`.eml`) in a mail
directory: `<stack dir>/mail/` (`.local/mail/` for the default stack), given as `--mail-dir`.

moto speaks SES v2's wire protocol and checks the sender against the verified identities
(rota-local creates the template's `AWS::SES::EmailIdentity` at start); this layer, behind the
IAM check, writes what moto accepted: the raw message as sent (`Content.Raw`), or one built
from `Content.Simple`. File names sort by time: `<UTC time>-<SES message id>.eml`. Files
are written whole, then renamed, so a reader never sees half a message.
"""

import base64
import json
import os
import time
from email.message import EmailMessage
from pathlib import Path

from moto_wsgi import read_body

SEND_EMAIL = ("POST", "/v2/email/outbound-emails")


def message_bytes(request: dict) -> bytes | None:
    content = request.get("Content") or {}
    if "Raw" in content:
        return base64.b64decode(content["Raw"]["Data"])
    simple = content.get("Simple")
    if simple is None:
        return None
    msg = EmailMessage()
    msg["From"] = request.get("FromEmailAddress", "")
    msg["To"] = ", ".join((request.get("Destination") or {}).get("ToAddresses", []))
    msg["Subject"] = simple.get("Subject", {}).get("Data", "")
    body = simple.get("Body", {})
    msg.set_content((body.get("Text") or body.get("Html") or {}).get("Data", ""))
    return bytes(msg)


class MailDrop:
    def __init__(self, app, mail_dir: Path):
        self.app = app
        self.mail_dir = mail_dir
        mail_dir.mkdir(parents=True, exist_ok=True)

    def __call__(self, environ, start_response):
        if (environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")) != SEND_EMAIL:
            return self.app(environ, start_response)
        body = read_body(environ)
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"] = status
            return start_response(status, headers, exc_info)

        chunks = list(self.app(environ, capture))
        if captured.get("status", "").startswith("200"):
            try:
                message_id = json.loads(b"".join(chunks)).get("MessageId", "unknown")
                raw = message_bytes(json.loads(body))
                if raw is not None:
                    self.write(message_id, raw)
            except (ValueError, KeyError) as e:
                print(f"rota-mail: could not write a sent message: {e!r}", flush=True)
        return chunks

    def write(self, message_id: str, raw: bytes) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f".{time.time_ns() % 10**9:09d}Z"
        path = self.mail_dir / f"{stamp}-{message_id}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(raw)
        os.replace(tmp, path)
        return path
