"""The cluster side of qaas: ``qaas-worker``, the program a HEAppE command template runs in a task directory.

``qaas-worker run`` reads ``request.json`` (``qaas.run/1``), submits it to the IQM server with iqm-client, appends
progress events to ``progress.json`` and writes ``result.json`` (``qaas.result/1``). ``qaas-worker calibrate``
writes ``calibration.json`` (``qaas.calibration/1``). ``qaas-worker serve --socket PATH`` keeps iqm-client loaded in
a long-lived service; when ``QAAS_WORKER_SOCKET`` names it, ``run`` and ``calibrate`` hand their task directory to
the service and start in a fraction of a second instead of importing iqm-client every time.

Needs the ``worker`` extra (iqm-client). JSON only, never pickle.
"""
