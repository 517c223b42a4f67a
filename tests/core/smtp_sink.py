"""A local SMTP sink for mailer tests (aiosmtpd). Usage: smtp_sink.py PORT DIR

Each accepted message is written as DIR/N.eml (raw bytes as received, dot-stuffing removed) and
DIR/N.json (envelope plus the message as decoded by Python's email package, an implementation
independent of ours). Recipients starting with "tempfail@" get 451, "reject@" get 550.
"""
import email
import email.policy
import json
import os
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("tempfail@"):
            return "451 4.3.0 mailbox busy, try again later"
        if address.startswith("reject@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        sender = msg["from"].addresses[0] if msg["from"] else None
        summary = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "from_name": sender.display_name if sender else "",
            "from_address": sender.addr_spec if sender else "",
            "date_parsed": msg["date"] is not None and msg["date"].datetime is not None,
            "message_id": str(msg["message-id"] or ""),
            "content_type": msg.get_content_type(),
            "charset": msg.get_content_charset() or "",
            "body": msg.get_content().replace("\r\n", "\n"),
            "headers": {k: str(v) for k, v in msg.items()},
            "defects": [str(d) for d in msg.defects],
        }
        with self.lock:
            self.count += 1
            base = os.path.join(self.out_dir, str(self.count))
        with open(base + ".eml", "wb") as f:
            f.write(raw)
        with open(base + ".json.tmp", "w", encoding="utf-8") as f:
            json.dump(summary, f, ensure_ascii=False)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 Message accepted"


def main():
    port, out_dir = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Sink(out_dir), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
