"""What the reader and the writer services share.

Settings (:mod:`~bani.service.settings`), authentication and per-call state
(:mod:`~bani.service.auth`), the error boundary (:mod:`~bani.service.errors`),
the action table (:mod:`~bani.service.actions`), the common Flight server base
(:mod:`~bani.service.server`), and starting and stopping
(:mod:`~bani.service.lifecycle`); health, metrics and TLS helpers live in
:mod:`~bani.service.health`, :mod:`~bani.service.metrics` and
:mod:`~bani.service.tls`.
"""
