"""Gunicorn settings for production: gunicorn -c config/gunicorn.conf.py config.wsgi

Command-line options (--workers, --bind) override what is set here.
"""

import os

bind = os.environ.get("EJIA_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("EJIA_WORKERS", "4"))
# Threaded workers: a request waiting on PostgreSQL (a query, a commit's flush) leaves its
# worker to the next request, and keep-alive connections are kept. On the citizens' app mix
# (bench/bench_api_app.py) two workers of four threads served about twice the requests/s of
# three sync workers at the same CPU per request (docs/api.md, Benchmark).
worker_class = os.environ.get("EJIA_WORKER_CLASS", "gthread")
threads = int(os.environ.get("EJIA_THREADS", "4"))
wsgi_app = "config.wsgi"

# The reverse proxies whose X-Forwarded-Proto gunicorn believes: the same list Django uses to
# take the client address from X-Forwarded-For (EJIA_TRUSTED_PROXIES, addresses or CIDRs).
forwarded_allow_ips = os.environ.get("EJIA_TRUSTED_PROXIES") or "127.0.0.1,::1"

# Access and error logs to stdout/stderr, ID numbers masked (ejia/core/gunicorn_log.py). The
# format is gunicorn's "combined" one plus the time taken and the X-Forwarded-For chain; every
# value in it is masked.
accesslog = os.environ.get("EJIA_ACCESS_LOG", "-")
errorlog = os.environ.get("EJIA_ERROR_LOG", "-")
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms "%({x-forwarded-for}i)s"'
logger_class = "ejia.core.gunicorn_log.MaskingGunicornLogger"
