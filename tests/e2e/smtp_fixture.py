"""A tiny SMTP server on 127.0.0.1 for the channel tests (aiosmtpd is not in the lock):
EHLO, STARTTLS (a certificate made in the test), AUTH PLAIN, MAIL/RCPT/DATA, QUIT.
It records what it was told, and whether that came before or after TLS."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_ca_and_server_cert(directory: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key): a CA and a server certificate for 127.0.0.1."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "genops test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@dataclass
class Mailbox:
    mails: list[str] = field(default_factory=list)
    logins: list[tuple[str, str, bool]] = field(default_factory=list)  # user, password, tls
    plaintext: list[str] = field(default_factory=list)  # every line received before TLS


class SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tls: ssl.SSLContext | None) -> None:
        """``tls`` None: a server that does not offer STARTTLS."""
        self.tls, self.box = tls, Mailbox()
        super().__init__(("127.0.0.1", 0), _Session)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Session(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: SmtpServer = self.server
        conn, secure = self.request, False
        conn.settimeout(10)
        reader = conn.makefile("rb")

        def say(line: str) -> None:
            conn.sendall(line.encode() + b"\r\n")

        say("220 127.0.0.1 test ESMTP")
        while True:
            raw = reader.readline()
            if not raw:
                return
            line = raw.decode(errors="replace").rstrip("\r\n")
            if not secure:
                server.box.plaintext.append(line)
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                offers = ["AUTH PLAIN"] if secure else []
                if server.tls is not None and not secure:
                    offers = ["STARTTLS"]
                lines = ["127.0.0.1", *offers]
                for i, text in enumerate(lines):
                    say(("250 " if i == len(lines) - 1 else "250-") + text)
            elif verb == "STARTTLS" and server.tls is not None and not secure:
                say("220 go ahead")
                conn = server.tls.wrap_socket(conn, server_side=True)
                reader, secure = conn.makefile("rb"), True
            elif verb == "AUTH":
                parts = line.split(" ")
                if len(parts) < 3:
                    say("334 ")
                    parts.append(reader.readline().decode().strip())
                _, user, password = base64.b64decode(parts[2]).decode().split("\0")
                server.box.logins.append((user, password, secure))
                say("235 accepted")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                say("250 ok")
            elif verb == "DATA":
                say("354 end with .")
                body = []
                while (data := reader.readline()) not in (b".\r\n", b""):
                    body.append(data.decode(errors="replace"))
                server.box.mails.append("".join(body))
                say("250 queued")
            elif verb == "QUIT":
                say("221 bye")
                return
            else:
                say("502 not implemented")


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
