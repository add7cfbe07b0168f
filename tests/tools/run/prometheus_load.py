#!/usr/bin/env python3
"""The Prometheus endpoint of `ttap run` under load and hostile clients: it listens on loopback
only when no host is named, serves concurrent scrapers (every scrape a complete, parseable
exposition), and survives malformed HTTP (garbage, oversized headers, bad methods, path tricks,
NUL bytes, lying Content-Length, half-sent and byte-by-byte requests): after each of them a
normal scrape is still answered, and the trainer and ttap run end normally.

usage: prometheus_load.py TTAP RUN_TARGET [SCRAPE_SECONDS]
Prints what it measured (scrapes, their latency) and exits 1 on the first broken expectation."""
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ttap, target = sys.argv[1], sys.argv[2]
scrape_seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 8.0
SCRAPERS = 16


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


port = free_port()
url = "http://127.0.0.1:%d/metrics" % port
work = tempfile.mkdtemp()
# run_target: 100,000 steps of 1 ms, far more than the test needs; it is stopped with SIGTERM.
run = subprocess.Popen([ttap, "run", "-o", os.path.join(work, "run"), "--prometheus", str(port),
                        "--", target, "100000", "1", "-1", "0"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

# An exposition line: a comment, or a metric name, optional labels, and a number.
sample_line = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? ([-+0-9.eE]+|[-+]?Inf|NaN)( [0-9]+)?$')


def scrape(timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        if response.status != 200:
            raise RuntimeError("status %d" % response.status)
        return response.read().decode("utf-8")


def check_exposition(text):
    if "ttap_step" not in text:
        raise RuntimeError("no ttap_step in the scrape")
    for line in text.splitlines():
        if line and not line.startswith("#") and not sample_line.match(line):
            raise RuntimeError("unparseable line: %r" % line)


deadline = time.time() + 60
while True:
    try:
        check_exposition(scrape())
        break
    except Exception as e:  # not up yet
        if run.poll() is not None or time.time() > deadline:
            fail("the endpoint never came up (%s); ttap run said:\n%s" % (e, run.stdout.read()))
        time.sleep(0.25)


def listening_addresses(port):
    """Local addresses of the listening TCP sockets on `port`, from /proc/net/tcp{,6}."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.append(address)
    return found


# Loopback by default: 127.0.0.1 is 0100007F in /proc/net/tcp.
addresses = listening_addresses(port)
if addresses != ["0100007F"]:
    fail("--prometheus %d listens on %s, expected 127.0.0.1 only" % (port, addresses))
print("listens on 127.0.0.1:%d only" % port)

# Concurrent scrapers.
latencies, errors = [], []
lock = threading.Lock()


def scraper():
    end = time.time() + scrape_seconds
    while time.time() < end:
        start = time.time()
        try:
            check_exposition(scrape())
        except Exception as e:
            with lock:
                errors.append(repr(e))
            continue
        with lock:
            latencies.append(time.time() - start)


threads = [threading.Thread(target=scraper) for _ in range(SCRAPERS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if errors:
    fail("%d of %d concurrent scrapes failed, first: %s" %
         (len(errors), len(errors) + len(latencies), errors[0]))
if not latencies:
    fail("no scrape completed")
latencies.sort()
print("%d scrapers for %.0f s: %d scrapes, none failed; latency median %.1f ms, max %.1f ms" %
      (SCRAPERS, scrape_seconds, len(latencies), 1e3 * latencies[len(latencies) // 2],
       1e3 * latencies[-1]))


def send(payload, pause=0.0, read=True):
    """Sends `payload` (a list of chunks, `pause` seconds apart), returns what came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        try:
            for chunk in payload:
                s.sendall(chunk)
                if pause:
                    time.sleep(pause)
            if not read:
                return b""
            s.shutdown(socket.SHUT_WR)
            reply = b""
            while len(reply) < 1 << 20:
                data = s.recv(65536)
                if not data:
                    break
                reply += data
            return reply
        except OSError:  # the server closing on us is a fine answer to garbage
            return b""


malformed = {
    "garbage": [os.urandom(4096)],
    "NUL bytes": [b"GET /metrics\x00\x00 HTTP/1.1\r\nHost: \x00\r\n\r\n"],
    "no version": [b"GET /metrics\r\n\r\n"],
    "bad method": [b"BREW /metrics HTTP/1.1\r\nHost: x\r\n\r\n"],
    "path traversal": [b"GET /../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"],
    "invalid UTF-8 path": [b"GET /metrics\xff\xfe%00%ff HTTP/1.1\r\nHost: x\r\n\r\n"],
    "64 KiB header": [b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n"],
    "10,000 headers": [b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 10000 + b"\r\n"],
    "lying Content-Length": [b"POST /metrics HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\nab"],
    "negative Content-Length": [b"POST /metrics HTTP/1.1\r\nContent-Length: -5\r\n\r\n"],
    "bad chunked body": [b"POST /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"],
    "huge Range": [b"GET /metrics HTTP/1.1\r\nRange: bytes=0-99999999999999999999\r\n\r\n"],
    "half a request, then close": [b"GET /metr"],
    "pipelined 200 requests": [b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 200],
}
for name, payload in malformed.items():
    send(payload, read=name != "half a request, then close")
    start = time.time()
    try:
        check_exposition(scrape(timeout=20))
    except Exception as e:
        fail("after %s the endpoint does not answer a scrape: %r" % (name, e))
    if run.poll() is not None:
        fail("ttap run exited after %s:\n%s" % (name, run.stdout.read()))
# A slow client, one byte every 50 ms, while another scrapes.
slow = threading.Thread(target=send, args=([bytes([b]) for b in b"GET /metrics HTTP/1.1\r\n"],
                                           0.05))
slow.start()
start = time.time()
check_exposition(scrape(timeout=20))
slow_scrape = time.time() - start
slow.join()
print("%d malformed requests and a byte-by-byte client: the endpoint answered a scrape after "
      "each (%.0f ms beside the slow client); ttap run alive" %
      (len(malformed), 1e3 * slow_scrape))

run.terminate()  # as Ctrl-C: ttap run stops the trainer and finalizes
try:
    output, _ = run.communicate(timeout=120)
except subprocess.TimeoutExpired:
    run.kill()
    fail("ttap run did not end within 120 s of SIGTERM")
if "wrote " not in output:
    fail("ttap run did not finish the run (exit %s):\n%s" % (run.returncode, output))
print("ttap run finalized the run after SIGTERM (exit %d)" % run.returncode)
subprocess.run(["rm", "-rf", work])
