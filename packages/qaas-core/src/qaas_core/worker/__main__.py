"""``python -m qaas_core.worker``: the same as the ``qaas-worker`` command."""

from qaas_core.worker._cli import main

raise SystemExit(main())
