"""Kannel on loopback for the SMS tests and the alert benchmark: bearerbox, smsbox and, as the
operators' network, Kannel's `fakesmsc` (Debian's kannel-extras), on free ports in a folder of
their own.

Every SMS that reaches the fake network is kept with the moment it arrived (read off fakesmsc's
output as it prints it). A reply from a phone is a new fakesmsc that sends that one message and
then goes on receiving (the fake SMS centre takes one client at a time); SMS sent meanwhile wait
in bearerbox's queue. Lindra is configured by `settings_env` (or `settings`).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from backend.worker import free_port

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
SHORT_NUMBER = "1919"  # the number people reply to
SENDSMS_USER, SENDSMS_PASSWORD = "lindra", "sendsms-test-password"

_CONF = """\
group = core
admin-port = {admin}
admin-password = admin-test-password
smsbox-port = {box}
log-level = 1
log-file = "{dir}/bearerbox.log"
store-type = file
store-location = "{dir}/store"
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
port = {smsc}
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {box}
sendsms-port = {sendsms}
log-level = 1
log-file = "{dir}/smsbox.log"
http-request-retry = 5
http-queue-delay = 1

group = sendsms-user
username = {user}
password = {password}
max-messages = 1

group = sms-service
keyword = default
catch-all = true
send-sender = true
max-messages = 0
post-url = "{lindra}/sms/kannel/inbound?id=%I"
"""


@dataclass(frozen=True, slots=True)
class Received:
    at: float  # time.time() when fakesmsc printed it
    sender: str
    to: str
    text: str


class Kannel:
    """The boxes and the fake network; `start()`, then `stop()` (or use it as a context manager)."""

    def __init__(self, workdir: Path, lindra_url: str, secret: str) -> None:
        self.workdir = workdir
        self.ports = {name: free_port() for name in ("admin", "box", "smsc", "sendsms")}
        host = lindra_url.split("://", 1)[1]
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "kannel.conf"
        self.conf.write_text(
            _CONF.format(
                dir=workdir,
                lindra=f"http://kannel:{secret}@{host}",
                user=SENDSMS_USER,
                password=SENDSMS_PASSWORD,
                **self.ports,
            )
        )
        self._boxes: list[subprocess.Popen[bytes]] = []
        self._network: subprocess.Popen[bytes] | None = None
        self._received: list[Received] = []
        self._lock = threading.Lock()

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sendsms']}/cgi-bin/sendsms"

    def settings_env(self, lindra_url: str, secret: str) -> dict[str, str]:
        """The environment that points Lindra at these boxes and lets them call it back."""
        return {
            "LINDRA_SMS_GATEWAY_URL": self.sendsms_url,
            "LINDRA_SMS_USERNAME": SENDSMS_USER,
            "LINDRA_SMS_PASSWORD": SENDSMS_PASSWORD,
            "LINDRA_SMS_CALLBACK_URL": lindra_url,
            "LINDRA_SMS_CALLBACK_SECRET": secret,
        }

    def __enter__(self) -> Kannel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Kannel:
        """Bearerbox, the fake network connected to it, then smsbox, answering on its sendsms port."""
        self.start_boxes()
        self.connect_network()
        return self

    def start_boxes(self) -> None:
        log = (self.workdir / "boxes.out").open("ab")
        self._boxes = [subprocess.Popen([BEARERBOX, str(self.conf)], stdout=log, stderr=subprocess.STDOUT)]
        _wait_for_port(self.ports["box"])
        self._boxes.append(subprocess.Popen([SMSBOX, str(self.conf)], stdout=log, stderr=subprocess.STDOUT))
        _wait_for_port(self.ports["sendsms"])

    def stop_boxes(self, signum: int = signal.SIGTERM) -> None:
        """Stop smsbox and bearerbox (SIGKILL: as in a crash); what bearerbox had queued is in its store."""
        for box in reversed(self._boxes):
            if box.poll() is None:
                box.send_signal(signum)
            try:
                box.wait(15)
            except subprocess.TimeoutExpired:
                box.kill()
                box.wait()
        self._boxes = []

    def restart_boxes(self, signum: int = signal.SIGTERM) -> None:
        """Stop and start both boxes, the fake network reconnecting to the new bearerbox."""
        self.disconnect_network()
        self.stop_boxes(signum)
        self.start_boxes()
        self.connect_network()

    def connect_network(self, *reply: str) -> None:
        """Connect the fake network (sending `reply`, a fakesmsc message line, first)."""
        # Not by connecting to see: the fake SMS centre takes any connection for the network and
        # would hand it an SMS waiting in bearerbox's queue, lost when that connection closes.
        _wait_for_listening(self.ports["smsc"])
        count = "1" if reply else "0"
        command = [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.ports["smsc"]), "-i", "0", "-m", count]
        self._network = subprocess.Popen(
            [*command, *(reply or ("0 0 text none",))], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert self._network.stdout is not None
        threading.Thread(target=self._read, args=(self._network.stdout,), daemon=True).start()

    def disconnect_network(self) -> None:
        """The phones' network is gone: SMS wait in bearerbox's queue."""
        if self._network is not None and self._network.poll() is None:
            self._network.terminate()
            self._network.wait(10)
        self._network = None

    def reply(self, sender: str, text: str) -> None:
        """A phone with number `sender` sends `text` to Lindra's number."""
        self.disconnect_network()
        self.connect_network(f"{sender} {SHORT_NUMBER} text {text}")

    def received(self) -> list[Received]:
        """Every SMS the fake network has received, oldest first."""
        with self._lock:
            return list(self._received)

    def status(self) -> str:
        """Bearerbox's own status page (queues, SMSC connections), for a failing test's message."""
        url = f"http://127.0.0.1:{self.ports['admin']}/status.txt?password=admin-test-password"
        with urllib.request.urlopen(url, timeout=5) as answer:
            return str(answer.read().decode())

    def stop(self) -> None:
        self.disconnect_network()
        self.stop_boxes()

    def _read(self, output: IO[bytes]) -> None:
        """Keep each 'Got message N: <sender to text body>' line fakesmsc prints, stamped on arrival."""
        for raw in output:
            line = raw.decode(errors="replace")
            marker = line.find("Got message")
            if marker < 0:
                continue
            inside = line[line.index("<", marker) + 1 : line.rindex(">")]
            sender, to, _kind, text = [*inside.split(" ", 3), "", "", ""][:4]
            with self._lock:
                self._received.append(Received(time.time(), sender, to, text))


def _wait_for_listening(port: int, timeout: float = 20.0) -> None:
    """Until a socket listens on the loopback `port`, seen in the kernel's table, without connecting."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as rows:
                for row in list(rows)[1:]:
                    local, state = row.split()[1], row.split()[3]  # address:port in hex; 0A is LISTEN
                    if local.endswith(f":{port:04X}") and state == "0A":
                        return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


def _wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on port {port}") from None
            time.sleep(0.05)
