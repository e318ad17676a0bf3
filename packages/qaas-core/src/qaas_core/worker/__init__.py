"""The cluster side of qaas: ``qaas-worker``, the program a HEAppE command template runs in a task directory.

``qaas-worker run`` reads ``request.json`` (``qaas.run/1``), submits it to the IQM server with iqm-client, appends
progress events to ``progress.json`` and writes ``result.json`` (``qaas.result/1``). ``qaas-worker calibrate``
writes ``calibration.json`` (``qaas.calibration/1``). ``qaas-worker serve`` keeps iqm-client loaded in a long-lived
service; when the site's configuration names its socket (``[service] socket``), ``run`` and ``calibrate`` hand their
task to the service and start in a fraction of a second instead of importing iqm-client every time.

For the site: ``doctor`` checks an installation, ``info`` prints the site document served at ``/qaas`` and
``templates`` the HEAppE command templates (``qaas_core/worker/deploy/*.json``) filled in for this installation.

Needs the ``worker`` extra (iqm-client). JSON only, never pickle.
"""
