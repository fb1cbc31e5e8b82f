"""The WSGI entry point: `gunicorn -c gunicorn.conf.py wsgi:app`."""
from binance_svc import create_app

app = create_app()
