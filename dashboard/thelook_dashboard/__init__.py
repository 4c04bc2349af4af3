"""thelook-dashboard: a live web page of the whole CDC path (generator -> PostgreSQL -> Debezium ->
Kafka -> Flink -> results), its analytics, `verify` from a button, and workshop controls.

Modules by role (pure ones need no server and are tested in the fast tier):
  options.py    every option once, with its environment variable (the generator's option model)
  analytics.py  pure: folds the Flink result topics (upsert: last value per key) into the page's shapes
  stages.py     pure: the pipeline strip from Prometheus query results, alerts and REST states
  results.py    I/O: the one Kafka consumer of the server, reading the result topics into analytics
  sources.py    I/O: polls Prometheus, Kafka Connect, Flink and the generator's control endpoint
  verify_run.py I/O: runs `thelook-datagen verify` (one at a time, with a time limit)
  controls.py   I/O: the workshop controls (generator rate, connector, Flink jobs, local restarts)
  app.py        the Starlette app: the page, the snapshot stream (SSE), the actions
  cli.py        the command line: settings, one-line errors, uvicorn
The data contract between server and page is SNAPSHOT.md.
"""
