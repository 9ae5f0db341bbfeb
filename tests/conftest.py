"""Session-wide test settings.

``EXECTRAIL_CONFIG=''``: no configuration file for any exectrail the tests run (in process or as a
subprocess), so a ``/etc/exectrail/exectrail.toml`` installed on the machine (the package tests
install one) changes nothing. Tests of the configuration pass ``--config`` or set the variable.
"""

from __future__ import annotations

import os

os.environ["EXECTRAIL_CONFIG"] = ""
