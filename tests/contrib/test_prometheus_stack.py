#!/usr/bin/env python3
"""tensortap in a real Prometheus + Alertmanager stack, on loopback only.

A Prometheus (Debian's `prometheus`) with contrib/prometheus/tensortap.rules.yml discovers a live
`ttap run --prometheus 127.0.0.1:0` of the demo (planted NaN) through the run's file_sd target file,
scrapes it, fires TensortapNonFinite (checked through Prometheus's HTTP API), and an Alertmanager
(`prometheus-alertmanager`, contrib's example config) delivers the alert to a local HTTP receiver,
which also gets the same NaN alert straight from the run's webhook sink (--alert-webhook). Every
Grafana dashboard query is run against Prometheus and the metrics it names are checked against a
live scrape. When the run ends its target file empties and its series go stale.

Usage: test_prometheus_stack.py BUILD_DIR SOURCE_DIR. Bounded in time; every process it starts is
stopped at the end, whatever happens.
"""
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

BUILD, SOURCE = sys.argv[1], sys.argv[2]
TTAP = os.path.join(BUILD, "bin", "ttap")
DEMO = os.path.join(BUILD, "bin", "ttap-demo")
CONTRIB = os.path.join(SOURCE, "contrib")
# The whole test; ctest's timeout is above it. The waits on the demo's progress have no bound of
# their own, only this one and the run's exit: under ASan on a loaded machine the demo took over
# 90 s to reach its NaN at step 200 (a fixed 90 s wait failed), about 20 s in a release build.
DEADLINE = time.monotonic() + 420

processes = []


def fail(message):
    print("FAIL: " + message, flush=True)
    raise SystemExit(1)


def wait_for(what, predicate, timeout=None, interval=0.5, while_running=None):
    """Polls predicate() until it returns something truthy; fails after `timeout` seconds (the
    test's deadline when None), or as soon as the process `while_running` has exited."""
    end = DEADLINE if timeout is None else min(time.monotonic() + timeout, DEADLINE)
    last_error = None
    while time.monotonic() < end:
        exited = while_running is not None and while_running.poll() is not None
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # a server still starting: connection refused, 503
            last_error = e
        if exited:
            fail("the run exited (status %d) before %s" % (while_running.returncode, what))
        time.sleep(interval)
    fail("timed out waiting for " + what + (" (last error: %r)" % last_error if last_error else ""))


def free_port():
    # The servers below take a port number, not port 0; the window between closing this socket
    # and the server binding it is short, and start() retries with another port if it is taken.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, log_path, **kw):
    log = open(log_path, "wb")
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kw)
    processes.append((p, log_path))
    return p


def stop_all():
    for p, _ in processes:
        if p.poll() is None:
            p.terminate()
    for p, log_path in processes:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def prom_query(port, query):
    url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (port, urllib.parse.quote(query))
    reply = get_json(url)
    if reply.get("status") != "success":
        fail("query %r: %r" % (query, reply))
    return reply["data"]["result"]


class Receiver(http.server.ThreadingHTTPServer):
    """Keeps every POST body by path: /direct (the run's webhook), /alertmanager."""

    def __init__(self):
        self.posts = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), ReceiverHandler)

    def bodies(self, path):
        with self.lock:
            return [b for p, b in self.posts if p == path]


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            self.server.posts.append((self.path, json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def start_server(name, make_args, ready_path, work):
    """Starts a server on a free port (retried once if another process took it meanwhile)."""
    for attempt in range(3):
        port = free_port()
        log = os.path.join(work, "%s-%d.log" % (name, attempt))
        p = start(make_args(port), log)
        try:
            wait_for(name + " to answer", lambda: urllib.request.urlopen(
                "http://127.0.0.1:%d%s" % (port, ready_path), timeout=2).status == 200, 60)
            return port
        except SystemExit:
            p.kill()
            print(open(log, errors="replace").read()[-3000:])
            if attempt == 2:
                raise
    return None


def main():
    for tool in ("prometheus", "prometheus-alertmanager"):
        if not shutil.which(tool):
            fail(tool + " is not installed (scripts/install-deps.sh installs it)")
    work = tempfile.mkdtemp(prefix="ttap-stack-")
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    receiver_url = "http://127.0.0.1:%d" % receiver.server_address[1]
    try:
        run_dir = os.path.join(work, "runs", "nan-demo")
        os.makedirs(os.path.dirname(run_dir))

        # Alertmanager with the shipped example, its webhook pointed at the receiver.
        am_config = os.path.join(work, "alertmanager.yml")
        example = open(os.path.join(CONTRIB, "alertmanager", "alertmanager.example.yml")).read()
        if "http://127.0.0.1:9099/alertmanager" not in example:
            fail("the Alertmanager example no longer routes to the documented URL")
        open(am_config, "w").write(
            example.replace("http://127.0.0.1:9099/alertmanager", receiver_url + "/alertmanager"))
        am_port = start_server("alertmanager", lambda port: [
            "prometheus-alertmanager", "--config.file=" + am_config,
            "--storage.path=" + os.path.join(work, "am-data"),
            "--web.listen-address=127.0.0.1:%d" % port, "--cluster.listen-address="],
            "/-/ready", work)

        # Prometheus: the shipped rules, file_sd over the run's target file, 1 s everything.
        shutil.copy(os.path.join(CONTRIB, "prometheus", "tensortap.rules.yml"), work)
        prom_config = os.path.join(work, "prometheus.yml")
        open(prom_config, "w").write("""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [tensortap.rules.yml]
alerting:
  alertmanagers:
    - static_configs: [{targets: ['127.0.0.1:%d']}]
scrape_configs:
  - job_name: tensortap
    file_sd_configs:
      - files: ['%s/prometheus-targets.json']
        refresh_interval: 1s
""" % (am_port, run_dir))
        prom_port = start_server("prometheus", lambda port: [
            "prometheus", "--config.file=" + prom_config,
            "--storage.tsdb.path=" + os.path.join(work, "prom-data"),
            "--web.listen-address=127.0.0.1:%d" % port], "/-/ready", work)

        # The run: the demo with a NaN at step 200, final metrics served until we stop it.
        run_log = os.path.join(work, "run.log")
        run = start([TTAP, "run", "-o", run_dir, "--budget", "0", "--prometheus", "127.0.0.1:0",
                     "--prometheus-linger", "200", "--alert-webhook", receiver_url + "/direct",
                     "--", DEMO, "--inject-nan", "200:fc1.weight.grad"], run_log)
        targets_file = os.path.join(run_dir, "prometheus-targets.json")
        groups = wait_for("the run's file_sd target file", lambda: os.path.exists(targets_file)
                          and json.load(open(targets_file)), while_running=run)
        target = groups[0]["targets"][0]
        if groups[0]["labels"]["ttap_run_dir"] != run_dir:
            fail("target labels %r" % groups[0]["labels"])
        print("run serves on", target, flush=True)

        # The run's own webhook: the NaN alert, straight from the collector thread.
        direct = wait_for("the webhook sink's NaN alert", lambda: [
            b for b in receiver.bodies("/direct") if b["type"] == "nonfinite"], while_running=run)
        a = direct[0]
        if a["tensor"] != "fc1.weight.grad" or a["step"] != 200 or a["run"] != "nan-demo":
            fail("direct webhook alert %r" % a)
        if not a["text"].startswith("ttap nan-demo on "):
            fail("text %r" % a["text"])
        print("webhook sink delivered:", a["text"], flush=True)

        # Prometheus discovered the run through file_sd, scrapes it, and the rule fires.
        wait_for("Prometheus to scrape the run", lambda: [
            r for r in prom_query(prom_port, 'up{job="tensortap"}')
            if r["metric"]["instance"] == target and r["value"][1] == "1"], 60)
        series = wait_for("the nonfinite counter in Prometheus", lambda: prom_query(
            prom_port, 'ttap_alerts_total{type="nonfinite"} > 0'), 60)
        labels = series[0]["metric"]
        if labels.get("run") != "nan-demo" or labels.get("rank") != "0" or not labels.get("host"):
            fail("series labels %r" % labels)
        firing = wait_for("TensortapNonFinite to fire", lambda: [
            al for al in get_json("http://127.0.0.1:%d/api/v1/alerts" % prom_port)["data"]["alerts"]
            if al["labels"]["alertname"] == "TensortapNonFinite" and al["state"] == "firing"], 60)
        print("Prometheus alert firing:", firing[0]["labels"], flush=True)

        # Alertmanager routed it to the receiver.
        notes = wait_for("Alertmanager's notification", lambda: [
            n for n in receiver.bodies("/alertmanager") for al in n["alerts"]
            if al["labels"]["alertname"] == "TensortapNonFinite" and al["status"] == "firing"], 90)
        routed = [al for al in notes[0]["alerts"] if al["labels"]["alertname"] == "TensortapNonFinite"]
        if routed[0]["labels"]["run"] != "nan-demo":
            fail("Alertmanager notification %r" % notes[0])
        print("Alertmanager delivered:", routed[0]["annotations"]["summary"], flush=True)

        # Every dashboard query runs in Prometheus, and every metric it names is exported.
        scrape = urllib.request.urlopen("http://%s/metrics" % target, timeout=5).read().decode()
        exported = set(re.findall(r"^(ttap_[a-z0-9_]+)(?:\{| )", scrape, re.M))
        dashboard = json.load(open(os.path.join(CONTRIB, "grafana", "tensortap-dashboard.json")))
        exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        exprs += [v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
                  for v in dashboard["templating"]["list"] if v.get("type") == "query"]
        if len(exprs) < 8:
            fail("the dashboard has only %d queries" % len(exprs))
        for expr in exprs:
            names = set(re.findall(r"\bttap_[a-z0-9_]+", expr))
            if not names:
                fail("dashboard query %r names no ttap metric" % expr)
            missing = names - exported
            if missing:
                fail("dashboard query %r names %s, which the endpoint does not export" %
                     (expr, sorted(missing)))
            if expr.startswith("label_values("):
                continue  # Grafana's own function, not PromQL
            promql = expr.replace("$run", ".+").replace("$__rate_interval", "1m")
            prom_query(prom_port, promql)  # fails the test on a PromQL error
        print("dashboard: %d queries, metrics all exported: %s" %
              (len(exprs), ", ".join(sorted(exported))), flush=True)

        # The demo ends and the run serves its final values (the linger); a signal ends that, the
        # target file empties, Prometheus stops scraping, the series go stale.
        wait_for("the demo to end", lambda: "serving the final metrics" in open(run_log).read(),
                 while_running=run)
        run.send_signal(signal.SIGTERM)
        if run.wait(timeout=30) != 0:
            fail("ttap run exited with %d:\n%s" % (run.returncode, open(run_log).read()[-3000:]))
        if json.load(open(targets_file)) != []:
            fail("the target file still lists the ended run")
        wait_for("the run's series to go stale", lambda: prom_query(
            prom_port, 'ttap_step{run="nan-demo"}') == [], 60)
        out = open(run_log).read()
        if "ttap: alert webhook http://127.0.0.1:" not in out or "failed" not in out:
            fail("no webhook summary line in the run's output:\n" + out[-3000:])
        print("after the run: target file empty, series stale; PASS", flush=True)
    finally:
        stop_all()
        receiver.shutdown()
        if os.environ.get("TTAP_KEEP_STACK_LOGS"):
            print("logs kept in", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
