"""Real servers on 127.0.0.1 that speak the providers' protocols, for integration tests and benchmarks.

- `postmark_server.FakePostmark`: Postmark's batch API over HTTP, scriptable per recipient and per
  request, with per-request latency and a record of every message received.
- `smtp_server.FakeSmtp`: an aiosmtpd server that records messages and connections and can answer
  4xx/5xx for given recipients, drop connections, and require AUTH.

Import them as `from tests.fakes.postmark_server import FakePostmark` (pytest puts the project root
on `sys.path`: `pythonpath = ["."]`); a script outside pytest runs from the project root.
"""
