"""The WSGI entry point gunicorn loads: `gunicorn -c gunicorn.conf.py service.wsgi:app`."""

from service.server.bootstrap import build

runtime = build()
app = runtime.app
