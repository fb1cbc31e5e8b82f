"""`python -m binance_svc.upstream.demo`: the demo market on a loopback port."""
from .transport import main

main()
