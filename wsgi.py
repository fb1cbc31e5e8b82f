"""The WSGI entry point: `gunicorn -c gunicorn.conf.py wsgi:app`.

Each gunicorn worker imports this module: it builds the app, then warms the charts and freezes
its start-up heap before taking requests (binance_svc/worker.py).
"""
from binance_svc import create_app
from binance_svc.worker import prepare

app = create_app()
prepare()
