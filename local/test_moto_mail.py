"""SES v2 in the AWS emulator wrapper: every accepted email lands as an .eml file in
--mail-dir (local/moto_mail.py), and a role's SendEmail is checked against its grants on the
identity and the configuration set (local/moto_iam.py).

    .venv/bin/python -m unittest local/test_moto_mail.py -v      (from the repo root)
"""

import email
import email.policy
import sys
import tempfile
import unittest
from pathlib import Path

from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from wrapper_process import ACCOUNT, REGION, IamWrapperTest, role  # noqa: E402

IDENTITY_ARN = f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/mail.example"
SET_ARN = f"arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/reminders"

RAW = ("From: Rota <reminders@mail.example>\r\nTo: ayse@example.com\r\n"
       "Subject: =?UTF-8?B?QnVnw7xuw7xuIGFkxLFtxLE=?=\r\n"
       "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
       "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nMerhaba\r\n")


class MailDrop(IamWrapperTest):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.mail = Path(cls.dir.name) / "mail"
        cls.start("--mail-dir", str(cls.mail), name="moto-mail")
        admin = cls.client("sesv2", "admin", "admin")
        admin.create_email_identity(EmailIdentity="mail.example")
        admin.create_configuration_set(ConfigurationSetName="reminders")
        cls.post("/_rota/iam/roles", {"stack": "test", "functions": {}, "roles": {
            "SenderRole": role({"Effect": "Allow", "Action": "ses:SendEmail", "Resource": [IDENTITY_ARN, SET_ARN]}),
            "NoSetRole": role({"Effect": "Allow", "Action": "ses:SendEmail", "Resource": IDENTITY_ARN}),
        }})

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.dir.cleanup()

    def as_role(self, name):
        creds = self.post("/_rota/iam/assume", {"role": name})
        return self.client("sesv2", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])

    def send(self, ses, **extra):
        return ses.send_email(FromEmailAddress="Rota <reminders@mail.example>",
                              Destination={"ToAddresses": ["ayse@example.com"]},
                              Content={"Raw": {"Data": RAW.encode()}}, **extra)

    def test_an_accepted_email_lands_as_an_rfc_5322_file(self):
        before = set(self.mail.glob("*.eml"))
        out = self.send(self.as_role("SenderRole"), ConfigurationSetName="reminders")
        [path] = set(self.mail.glob("*.eml")) - before
        self.assertIn(out["MessageId"], path.name)
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        self.assertEqual(str(message["Subject"]), "Bugünün adımı")
        self.assertEqual(message["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click")

    def test_a_role_needs_the_configuration_set_too_and_a_refused_send_writes_nothing(self):
        before = set(self.mail.glob("*.eml"))
        with self.assertRaises(ClientError) as refused:
            self.send(self.as_role("NoSetRole"), ConfigurationSetName="reminders")
        error = refused.exception.response["Error"]
        self.assertEqual(error["Code"], "AccessDeniedException")
        self.assertIn(f"ses:SendEmail on resource: {SET_ARN}", error["Message"])
        self.assertEqual(set(self.mail.glob("*.eml")), before)

    def test_an_unverified_sender_is_refused_and_writes_nothing(self):
        before = set(self.mail.glob("*.eml"))
        with self.assertRaises(ClientError):
            self.as_role("SenderRole").send_email(
                FromEmailAddress="someone@elsewhere.example", Destination={"ToAddresses": ["a@example.com"]},
                Content={"Raw": {"Data": RAW.replace("reminders@mail.example", "someone@elsewhere.example").encode()}})
        self.assertEqual(set(self.mail.glob("*.eml")), before)


if __name__ == "__main__":
    unittest.main()
