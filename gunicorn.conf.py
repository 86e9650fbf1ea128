"""gunicorn settings read from the repository root (`gunicorn -w 4 'wsgi:app'`).

The apps write their own JSON request log lines; gunicorn's access log stays off.
"""
# Several servers (webapp, providers, test runs) share one machine: no shared control socket.
control_socket_disable = True
# Workers that hang (e.g. on an unreachable database) are replaced.
timeout = 60
graceful_timeout = 10
