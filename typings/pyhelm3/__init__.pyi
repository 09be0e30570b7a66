# Type stubs for the parts of pyhelm3 (0.4.x, untyped upstream) that archangel_helm calls, so mypy --strict checks
# those calls instead of seeing Any. Written from pyhelm3's own signatures (client.py, models.py, errors.py); a
# name used but not stubbed here is a mypy error on purpose: stub it from the source first.
from pyhelm3.client import Client as Client
