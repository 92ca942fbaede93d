"""devhost: a pure-Python host that runs an unchanged Azure Functions Python v2 app, durably, on one machine.

Start it from a function app's folder with `python -m devhost start`. The map of the package:

- `loader`, `config`: index the app as the Python worker does; read host.json and local.settings.json.
- `replay`: the pure core. (history, new events) in, (new history, work to do) out, through the SDK's own
  replay code.
- `engine`: the dispatcher around it: load, replay, persist, dispatch; activities on a thread pool.
- `store/`: durable state behind one small interface (`sqlite` by default).
- `http/`: the app's HTTP triggers and the Durable management API (RPC and public webhooks).
- `clock`: time, injected, so tests of timers and retries never sleep.
"""
